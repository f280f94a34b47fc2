// Package collect reads, read-only, what package posture checks: RDS,
// EC2, CloudTrail, CloudWatch Logs, CloudWatch, Secrets Manager, Systems
// Manager, KMS and IAM,
// for each region asked, into a [posture.Snapshot]. Its IAM actions, all in
// the AWS-managed SecurityAudit policy, are listed in [Actions].
package collect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/rdsgate/rdsgate/posture"
	"github.com/rdsgate/rdsgate/stage"
)

// Every list call is paginated; the calls of all regions run concurrently
// with a bound ([Options.Concurrency]); each call retries throttling and
// transient errors with the SDK's exponential backoff with jitter
// ([Options.MaxAttempts], [Options.MaxBackoff]). A call that is denied
// (AccessDenied, UnauthorizedOperation, ...) is not an error: it is
// recorded in the snapshot as a [posture.AccessError] naming the IAM action,
// and the checks that needed it say unknown.

// Actions are the IAM actions the collector calls.
var Actions = []string{
	"rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:DescribeDBSubnetGroups",
	"rds:DescribeDBParameters", "rds:DescribeDBClusterParameters",
	"rds:DescribeDBSnapshots", "rds:DescribeDBSnapshotAttributes",
	"rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusterSnapshotAttributes",
	"rds:DescribeDBInstanceAutomatedBackups", "rds:DescribeEventSubscriptions",
	"ec2:DescribeVpcs", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeRouteTables",
	"ec2:DescribeInternetGateways", "ec2:DescribeNetworkAcls",
	"cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
	"logs:DescribeLogGroups", "logs:DescribeMetricFilters", "cloudwatch:DescribeAlarms",
	"ec2:DescribeInstances", "ssm:DescribeInstanceInformation", "kms:DescribeKey",
	"secretsmanager:ListSecrets", "iam:ListPolicies", "iam:GetPolicyVersion", "sts:GetCallerIdentity",
}

// EveryRegion, as the only one of Options.Regions, asks for every region
// enabled in the account.
const EveryRegion = "all"

// Options configures [Collect].
type Options struct {
	// Regions to collect: names, or [EveryRegion] for every region
	// enabled in the account (see [AllRegions]); empty: the
	// configuration's region (CollectOrg: every enabled region).
	Regions []string
	// Targets, when set, limits the RDS part to these instance or cluster
	// identifiers (a cluster brings its members).
	Targets []string
	// Concurrency bounds the API calls in flight across all regions
	// (default 8).
	Concurrency int
	// MaxAttempts per call, retries included (default 5).
	MaxAttempts int
	// MaxBackoff caps the delay between attempts (default 20s).
	MaxBackoff time.Duration
	// Now stamps the snapshot (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 20 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Collect builds a snapshot of opts.Regions with cfg's credentials. Denied
// calls are recorded in the snapshot, not returned. The error is non-nil
// when the context ended, or when calls failed for another reason after
// their retries (those are recorded in the snapshot too, so it is still
// usable: the affected checks say unknown); it is passed through
// awsconf-style explanation by the caller.
func Collect(ctx context.Context, cfg aws.Config, opts Options) (*posture.Snapshot, error) {
	opts.defaults()
	switch {
	case slices.Equal(opts.Regions, []string{EveryRegion}):
		var err error
		if opts.Regions, err = AllRegions(ctx, cfg); err != nil {
			return nil, err
		}
	case len(opts.Regions) == 0 && cfg.Region != "":
		opts.Regions = []string{cfg.Region}
	case len(opts.Regions) == 0:
		return nil, errors.New("collect: no region: pass one, or set the profile's")
	}
	c := newCollector(cfg, opts)
	snap := &posture.Snapshot{SchemaVersion: posture.SchemaVersion, CollectedAt: opts.Now().UTC().Truncate(time.Second)}
	snap.Regions = make([]posture.Region, len(opts.Regions))
	regionErrs := make([][]error, len(opts.Regions))
	var globalErrs []error
	var wg sync.WaitGroup
	for i, name := range opts.Regions {
		wg.Go(func() { snap.Regions[i], regionErrs[i] = c.region(ctx, name) })
	}
	wg.Go(func() { snap.Account, snap.IAM, globalErrs = c.global(ctx, opts.Regions[0]) })
	wg.Wait()
	errs := append(globalErrs, slices.Concat(regionErrs...)...)
	if err := ctx.Err(); err != nil {
		return snap, fmt.Errorf("collect: %w", err)
	}
	if len(errs) > 0 {
		// The SDK's errors (request ids, HTTP dumps) are kept for -v; the
		// message is one line, and the report says per read why it failed.
		return snap, stage.Hide(fmt.Sprintf("collect: %s failed after retries (the report lists them)", plural(len(errs), "read")), errs...)
	}
	return snap, nil
}

type collector struct {
	cfg  aws.Config
	opts Options
	sem  chan struct{}
}

// newCollector reads with cfg's credentials, at most opts.Concurrency
// calls in flight (opts has its defaults).
func newCollector(cfg aws.Config, opts Options) *collector {
	return &collector{cfg: cfg, opts: opts, sem: make(chan struct{}, opts.Concurrency)}
}

// region collects one region; the errors are the reads that failed for
// another reason than a denial (all are recorded in the region).
func (c *collector) region(ctx context.Context, name string) (posture.Region, []error) {
	rs := &regionState{c: c, r: &posture.Region{Name: name}}
	rs.collect(ctx)
	rs.finish()
	return *rs.r, rs.errs
}

// global reads the account-wide part, calling STS and IAM in region: the
// account id ("" when STS does not say) and the IAM policies.
func (c *collector) global(ctx context.Context, region string) (account string, data posture.IAMData, errs []error) {
	g := &regionState{c: c, r: &posture.Region{Name: "global"}}
	var wg sync.WaitGroup
	wg.Go(func() { account = g.account(ctx, region) })
	wg.Go(func() { data.DeleteGuardPolicies = g.iamPolicies(ctx, region) })
	wg.Wait()
	data.Errors = g.r.Errors
	return account, data, g.errs
}

// regionCfg is cfg for region with the collector's retry policy.
func (c *collector) regionCfg(region string) aws.Config {
	cfg := c.cfg.Copy()
	cfg.Region = region
	cfg.RetryMaxAttempts = c.opts.MaxAttempts
	maxAttempts, maxBackoff := c.opts.MaxAttempts, c.opts.MaxBackoff
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.MaxBackoff = maxBackoff
		})
	}
	return cfg
}

// regionState accumulates one region's snapshot; mu guards r's lists.
type regionState struct {
	c    *collector
	mu   sync.Mutex
	r    *posture.Region
	errs []error
}

// call runs fn while holding a concurrency slot.
func (rs *regionState) call(ctx context.Context, fn func() error) error {
	select {
	case rs.c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-rs.c.sem }()
	return fn()
}

// deniedCodes are the error codes AWS services use for a missing permission.
var deniedCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
	"AuthorizationError": true, "UnauthorizedAccess": true, "Forbidden": true,
	"AuthorizationErrorException": true, "NotAuthorized": true,
}

// record notes a failed call. It reports whether the caller may go on
// (false only when the context ended).
func (rs *regionState) record(ctx context.Context, action, resource string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	e := accessError(action, resource, err)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.r.Errors = append(rs.r.Errors, e)
	if !e.Denied {
		rs.errs = append(rs.errs, fmt.Errorf("%s %s in %s: %w", action, resource, rs.r.Name, err))
	}
	return true
}

// finish sorts every list, so that one account gives one file.
func (rs *regionState) finish() {
	r := rs.r
	sort.Slice(r.Instances, func(i, j int) bool { return r.Instances[i].ID < r.Instances[j].ID })
	sort.Slice(r.Clusters, func(i, j int) bool { return r.Clusters[i].ID < r.Clusters[j].ID })
	sort.Slice(r.SubnetGroups, func(i, j int) bool { return r.SubnetGroups[i].Name < r.SubnetGroups[j].Name })
	sort.Slice(r.ParameterGroups, func(i, j int) bool {
		a, b := r.ParameterGroups[i], r.ParameterGroups[j]
		if a.Cluster != b.Cluster {
			return !a.Cluster
		}
		return a.Name < b.Name
	})
	sort.Slice(r.Snapshots, func(i, j int) bool { return r.Snapshots[i].ID < r.Snapshots[j].ID })
	sort.Slice(r.AutomatedBackups, func(i, j int) bool { return r.AutomatedBackups[i].SourceARN < r.AutomatedBackups[j].SourceARN })
	sort.Slice(r.VPCs, func(i, j int) bool { return r.VPCs[i].ID < r.VPCs[j].ID })
	sort.Slice(r.SecurityGroups, func(i, j int) bool { return r.SecurityGroups[i].ID < r.SecurityGroups[j].ID })
	sort.Slice(r.Subnets, func(i, j int) bool { return r.Subnets[i].ID < r.Subnets[j].ID })
	sort.Slice(r.RouteTables, func(i, j int) bool { return r.RouteTables[i].ID < r.RouteTables[j].ID })
	sort.Slice(r.InternetGateways, func(i, j int) bool { return r.InternetGateways[i].ID < r.InternetGateways[j].ID })
	sort.Slice(r.NetworkACLs, func(i, j int) bool { return r.NetworkACLs[i].ID < r.NetworkACLs[j].ID })
	sort.Slice(r.Trails, func(i, j int) bool { return r.Trails[i].ARN < r.Trails[j].ARN })
	sort.Slice(r.LogGroups, func(i, j int) bool { return r.LogGroups[i].Name < r.LogGroups[j].Name })
	sort.Slice(r.MetricFilters, func(i, j int) bool {
		if r.MetricFilters[i].LogGroup != r.MetricFilters[j].LogGroup {
			return r.MetricFilters[i].LogGroup < r.MetricFilters[j].LogGroup
		}
		return r.MetricFilters[i].Name < r.MetricFilters[j].Name
	})
	sort.Slice(r.Alarms, func(i, j int) bool { return r.Alarms[i].Name < r.Alarms[j].Name })
	sort.Slice(r.MasterSecrets, func(i, j int) bool { return r.MasterSecrets[i].ARN < r.MasterSecrets[j].ARN })
	sort.Slice(r.EventSubscriptions, func(i, j int) bool { return r.EventSubscriptions[i].Name < r.EventSubscriptions[j].Name })
	sort.Slice(r.KMSKeys, func(i, j int) bool { return r.KMSKeys[i].ARN < r.KMSKeys[j].ARN })
	sort.Slice(r.EC2Instances, func(i, j int) bool { return r.EC2Instances[i].ID < r.EC2Instances[j].ID })
	sort.Strings(r.ManagedInstances)
	sort.SliceStable(r.Errors, func(i, j int) bool {
		if r.Errors[i].Action != r.Errors[j].Action {
			return r.Errors[i].Action < r.Errors[j].Action
		}
		return r.Errors[i].Resource < r.Errors[j].Resource
	})
}

// collect runs the region's calls: first the independent lists, then the
// calls that depend on them (parameters of the groups in use, sharing of
// manual snapshots).
func (rs *regionState) collect(ctx context.Context) {
	cfg := rs.c.regionCfg(rs.r.Name)
	rdsc := rds.NewFromConfig(cfg)
	ec2c := ec2.NewFromConfig(cfg)
	var wg sync.WaitGroup
	for _, task := range []func(context.Context){
		func(ctx context.Context) { rs.instances(ctx, rdsc) },
		func(ctx context.Context) { rs.clusters(ctx, rdsc) },
		func(ctx context.Context) { rs.subnetGroups(ctx, rdsc) },
		func(ctx context.Context) { rs.dbSnapshots(ctx, rdsc) },
		func(ctx context.Context) { rs.clusterSnapshots(ctx, rdsc) },
		func(ctx context.Context) { rs.automatedBackups(ctx, rdsc) },
		func(ctx context.Context) { rs.eventSubscriptions(ctx, rdsc) },
		func(ctx context.Context) { rs.ec2Instances(ctx, ec2c) },
		func(ctx context.Context) { rs.managedInstances(ctx, ssm.NewFromConfig(cfg)) },
		func(ctx context.Context) { rs.vpcs(ctx, ec2c) },
		func(ctx context.Context) { rs.securityGroups(ctx, ec2c) },
		func(ctx context.Context) { rs.subnets(ctx, ec2c) },
		func(ctx context.Context) { rs.routeTables(ctx, ec2c) },
		func(ctx context.Context) { rs.internetGateways(ctx, ec2c) },
		func(ctx context.Context) { rs.networkACLs(ctx, ec2c) },
		func(ctx context.Context) { rs.trails(ctx, cloudtrail.NewFromConfig(cfg)) },
		func(ctx context.Context) { rs.logs(ctx, cloudwatchlogs.NewFromConfig(cfg)) },
		func(ctx context.Context) { rs.alarms(ctx, cloudwatch.NewFromConfig(cfg)) },
		func(ctx context.Context) { rs.secrets(ctx, secretsmanager.NewFromConfig(cfg)) },
	} {
		wg.Go(func() { task(ctx) })
	}
	wg.Wait()
	rs.filterTargets()
	rs.keepDatabaseVPCs()
	var after sync.WaitGroup
	after.Go(func() { rs.parameters(ctx, rdsc) })
	after.Go(func() { rs.snapshotAttributes(ctx, rdsc) })
	after.Go(func() { rs.kmsKeys(ctx, kms.NewFromConfig(cfg)) })
	after.Wait()
}

// account asks STS who we are; "" when it cannot.
func (rs *regionState) account(ctx context.Context, region string) string {
	client := sts.NewFromConfig(rs.c.regionCfg(region))
	var out *sts.GetCallerIdentityOutput
	err := rs.call(ctx, func() (err error) {
		out, err = client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	})
	if err != nil {
		return ""
	}
	return aws.ToString(out.Account)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// AllRegions lists the regions enabled for the account (ec2:DescribeRegions),
// for --all-regions.
func AllRegions(ctx context.Context, cfg aws.Config) ([]string, error) {
	out, err := ec2.NewFromConfig(cfg).DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return nil, fmt.Errorf("collect: list regions: %w", err)
	}
	var names []string
	for _, r := range out.Regions {
		names = append(names, aws.ToString(r.RegionName))
	}
	sort.Strings(names)
	return names, nil
}
