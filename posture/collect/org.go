package collect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/rdsgate/rdsgate/posture"
	"github.com/rdsgate/rdsgate/stage"
)

// An organization-wide collection runs in two steps. First every account
// is entered, [OrgOptions.Parallel] at a time: the role is assumed (the
// caller's own account is read with the caller's credentials) and the
// account's enabled regions are listed. Then every account-region, and
// each account's global part (STS, IAM), is collected as [Collect] does,
// [OrgOptions.Parallel] at a time, each with at most Options.Concurrency
// calls in flight and the same retries with backoff. An account or region
// that cannot be read is recorded in the snapshot and the rest go on.

// DefaultRoleName is the role CollectOrg assumes in each account: the one
// AWS Organizations creates in the accounts it creates.
const DefaultRoleName = "OrganizationAccountAccessRole"

// DefaultParallel is how many account-regions CollectOrg reads at once.
// AWS's API rate limits are per account and region, so account-regions
// read side by side do not share a quota: each keeps the single-account
// bound (Options.Concurrency calls). The bound is on the local side
// (connections, memory) and on the caller's own STS quota.
const DefaultParallel = 16

// SessionName is the role session name of the roles CollectOrg assumes:
// CloudTrail in each account shows the audit's reads under it.
const SessionName = "rdsgate-audit"

// OrgActions are the IAM actions CollectOrg needs besides [Actions]:
// organizations:ListAccounts for the caller (in the management account or
// a delegated administrator), sts:AssumeRole on the role in each account,
// and ec2:DescribeRegions for the role.
var OrgActions = []string{"organizations:ListAccounts", "sts:AssumeRole", "sts:GetCallerIdentity", "ec2:DescribeRegions"}

// OrgOptions configures [CollectOrg].
type OrgOptions struct {
	// Options apply to every account-region. Regions, when empty, are
	// each account's enabled regions (ec2:DescribeRegions in the
	// account); a region given that an account has not enabled is
	// recorded as unavailable there.
	Options
	// RoleName is the role assumed in each account (default
	// [DefaultRoleName]).
	RoleName string
	// Accounts, when set, are the only account ids read; one that is not
	// an active member of the organization is recorded as not read.
	Accounts []string
	// Parallel bounds the accounts entered and the account-regions read at
	// once (default [DefaultParallel]).
	Parallel int
	// Progress, when set, is called after each account is entered and
	// after each account-region (or account-wide part) is read, one call
	// at a time, from collection goroutines: it must return quickly.
	Progress func(OrgProgress)
}

// OrgProgress is how far a CollectOrg is.
type OrgProgress struct {
	// Accounts is how many accounts are to be read; AccountsDone how many
	// are finished (read, or recorded as not read).
	Accounts, AccountsDone int
	// Regions is how many account-regions are known so far (it grows
	// while accounts are entered, and is final once every account is);
	// RegionsDone how many are read.
	Regions, RegionsDone int
}

// ErrNoOrganization is returned when the caller's account belongs to no
// organization.
var ErrNoOrganization = errors.New("collect: the account is not in an organization (AWS Organizations)")

// CollectOrg builds an organization-wide snapshot ([posture.Snapshot]
// with Accounts) of the organization of cfg's credentials, which must be
// allowed organizations:ListAccounts: the management account or a
// delegated administrator. It returns a nil snapshot only when the
// accounts cannot be listed. Like [Collect], the error is non-nil with a
// usable snapshot when the context ended or some reads failed other than
// by a denial; accounts and regions not read are in the snapshot, with
// the reason and the next step.
func CollectOrg(ctx context.Context, cfg aws.Config, opts OrgOptions) (*posture.Snapshot, error) {
	opts.defaults()
	if slices.Equal(opts.Regions, []string{EveryRegion}) {
		opts.Regions = nil // each account's enabled regions
	}
	if opts.RoleName == "" {
		opts.RoleName = DefaultRoleName
	}
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	base := newCollector(cfg, opts.Options)
	home := cmp.Or(cfg.Region, "us-east-1")
	homeCfg := base.regionCfg(home)
	members, orgID, err := listAccounts(ctx, homeCfg)
	if err != nil {
		return nil, err
	}
	caller, err := sts.NewFromConfig(homeCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("collect: who is calling (sts:GetCallerIdentity): %w", err)
	}
	o := &orgRun{opts: opts, cfg: cfg, home: home, caller: aws.ToString(caller.Account), stsc: sts.NewFromConfig(homeCfg)}
	o.accounts = o.pick(members, orgID)
	snap := &posture.Snapshot{
		SchemaVersion: posture.SchemaVersion, CollectedAt: opts.Now().UTC().Truncate(time.Second),
		Organization: orgID, Accounts: make([]posture.AccountSnapshot, len(o.accounts)),
	}
	o.progress.Accounts = len(o.accounts)
	o.report(func(*OrgProgress) {})

	// Step 1: enter every account.
	parallel(opts.Parallel, len(o.accounts), func(i int) { o.enter(ctx, o.accounts[i]) })
	// Step 2: read every account-region and account-wide part.
	var jobs []orgJob
	for _, a := range o.accounts {
		if a.snap.Failure != nil {
			continue
		}
		a.left.Store(int32(len(a.regions) + 1))
		jobs = append(jobs, orgJob{a: a, region: -1})
		for i := range a.regions {
			jobs = append(jobs, orgJob{a: a, region: i})
		}
	}
	parallel(opts.Parallel, len(jobs), func(i int) { o.run(ctx, jobs[i]) })

	var errs []error
	notRead := 0
	for i, a := range o.accounts {
		snap.Accounts[i] = a.snap
		errs = append(errs, a.errs...)
		if a.snap.Failure != nil {
			notRead++
		}
	}
	if err := ctx.Err(); err != nil {
		return snap, fmt.Errorf("collect: %w", err)
	}
	if len(errs) > 0 || notRead > 0 {
		return snap, stage.Hide(fmt.Sprintf("collect: %s not read, %s failed after retries (the report lists them)",
			plural(notRead, "account"), plural(len(errs), "read")), errs...)
	}
	return snap, nil
}

// listAccounts lists the organization's accounts and its id.
func listAccounts(ctx context.Context, cfg aws.Config) ([]orgtypes.Account, string, error) {
	var all []orgtypes.Account
	p := organizations.NewListAccountsPaginator(organizations.NewFromConfig(cfg), &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			var apiErr smithy.APIError
			switch {
			case errors.As(err, &apiErr) && apiErr.ErrorCode() == "AWSOrganizationsNotInUseException":
				return nil, "", fmt.Errorf("%w: audit the account itself instead: %w", ErrNoOrganization, err)
			case errors.As(err, &apiErr) && deniedCodes[apiErr.ErrorCode()]:
				return nil, "", fmt.Errorf("collect: list the organization's accounts: organizations:ListAccounts is denied; "+
					"run from the management account or a delegated administrator, as a principal allowed organizations:ListAccounts: %w", err)
			}
			return nil, "", fmt.Errorf("collect: list the organization's accounts (organizations:ListAccounts): %w", err)
		}
		all = append(all, page.Accounts...)
	}
	if len(all) == 0 {
		// An organization has at least its management account.
		return nil, "", fmt.Errorf("%w: audit the account itself instead", ErrNoOrganization)
	}
	orgID := ""
	for _, a := range all {
		// arn:aws:organizations::MANAGEMENT:account/o-ID/ACCOUNT
		if parts := strings.Split(aws.ToString(a.Arn), "/"); len(parts) == 3 && strings.HasPrefix(parts[1], "o-") {
			orgID = parts[1]
			break
		}
	}
	return all, orgID, nil
}

// orgRun is one CollectOrg.
type orgRun struct {
	opts     OrgOptions
	cfg      aws.Config
	home     string // the region of the organization-wide calls
	caller   string // the caller's account id
	stsc     *sts.Client
	accounts []*orgAccount

	mu       sync.Mutex // serialises Progress calls and guards progress
	progress OrgProgress
}

// orgAccount is one account being read.
type orgAccount struct {
	snap    posture.AccountSnapshot
	cfg     aws.Config // the account's credentials
	regions []string   // the regions to read
	errs    []error    // guarded by mu
	mu      sync.Mutex
	left    atomic.Int32 // jobs not finished
}

type orgJob struct {
	a      *orgAccount
	region int // index in a.regions; -1 for the account-wide part
}

// pick is the accounts to read: the active members, or those asked for
// (one that is not an active member is recorded as not read).
func (o *orgRun) pick(members []orgtypes.Account, orgID string) []*orgAccount {
	byID := map[string]orgtypes.Account{}
	for _, m := range members {
		byID[aws.ToString(m.Id)] = m
	}
	ids := o.opts.Accounts
	if len(ids) == 0 {
		for _, m := range members {
			if active(m) {
				ids = append(ids, aws.ToString(m.Id))
			}
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]*orgAccount, 0, len(ids))
	for _, id := range ids {
		m, ok := byID[id]
		a := &orgAccount{snap: posture.AccountSnapshot{ID: id, Name: aws.ToString(m.Name)}}
		switch {
		case !ok:
			a.snap.Failure = &posture.AccountFailure{
				AccessError: posture.AccessError{Action: "organizations:ListAccounts", Code: "NotAMember", Message: "not among the organization's accounts"},
				Why:         fmt.Sprintf("not a member of organization %s: check the account id", cmp.Or(orgID, "of the caller")),
			}
		case !active(m):
			state := cmp.Or(string(m.State), string(m.Status))
			a.snap.Failure = &posture.AccountFailure{
				AccessError: posture.AccessError{Action: "organizations:ListAccounts", Code: "AccountNotActive", Message: "account state " + state},
				Why:         fmt.Sprintf("the account is %s, not ACTIVE: it cannot be read", state),
			}
		}
		out = append(out, a)
	}
	return out
}

func active(m orgtypes.Account) bool {
	if m.State != "" {
		return m.State == orgtypes.AccountStateActive
	}
	return m.Status == orgtypes.AccountStatusActive
}

// enter assumes the role in a (the caller's own account needs none) and
// finds the regions to read there.
func (o *orgRun) enter(ctx context.Context, a *orgAccount) {
	defer o.report(func(p *OrgProgress) {
		if a.snap.Failure != nil {
			p.AccountsDone++
		} else {
			p.Regions += len(a.regions)
		}
	})
	if a.snap.Failure != nil {
		return
	}
	a.cfg = o.cfg.Copy()
	if a.snap.ID != o.caller {
		a.snap.Role = fmt.Sprintf("arn:%s:iam::%s:role/%s", partition(o.home), a.snap.ID, o.opts.RoleName)
		creds := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(o.stsc, a.snap.Role, func(ro *stscreds.AssumeRoleOptions) {
			ro.RoleSessionName = SessionName
			ro.Duration = time.Hour
		}))
		if _, err := creds.Retrieve(ctx); err != nil {
			a.snap.Failure = o.assumeFailure(a, err)
			return
		}
		a.cfg.Credentials = creds
	}
	enabled, known, err := o.enabledRegions(ctx, a)
	switch {
	case err != nil && len(o.opts.Regions) == 0:
		e := accessError("ec2:DescribeRegions", "", err)
		a.snap.Failure = &posture.AccountFailure{AccessError: e,
			Why: fmt.Sprintf("its enabled regions could not be listed (%s): allow ec2:DescribeRegions to %s, or name the regions to read", e.Explain(), cmp.Or(a.snap.Role, "the caller"))}
		return
	case len(o.opts.Regions) == 0:
		a.regions = enabled
	default:
		// Regions named: all are read where the account's regions could
		// not be listed; otherwise the account must have enabled them.
		a.regions = o.opts.Regions
		if err == nil {
			a.snap.Snapshot = &posture.Snapshot{}
			for _, r := range o.opts.Regions {
				why := ""
				switch {
				case !known[r]:
					why = "the account does not know this region: check its name"
				case !slices.Contains(enabled, r):
					why = "the region is not enabled in the account (an opt-in region): enable it there, or leave it out"
				}
				if why != "" {
					a.snap.Snapshot.Regions = append(a.snap.Snapshot.Regions, posture.Region{Name: r, Unavailable: why})
				}
			}
			a.regions = slices.DeleteFunc(slices.Clone(a.regions), func(r string) bool { return !slices.Contains(enabled, r) })
		}
	}
	if a.snap.Snapshot == nil {
		a.snap.Snapshot = &posture.Snapshot{}
	}
	s := a.snap.Snapshot
	s.SchemaVersion, s.CollectedAt = posture.SchemaVersion, o.opts.Now().UTC().Truncate(time.Second)
	unavailable := s.Regions
	s.Regions = make([]posture.Region, len(a.regions), len(a.regions)+len(unavailable))
	s.Regions = append(s.Regions, unavailable...)
}

// assumeFailure explains why the role could not be assumed.
func (o *orgRun) assumeFailure(a *orgAccount, err error) *posture.AccountFailure {
	e := accessError("sts:AssumeRole", a.snap.Role, err)
	why := fmt.Sprintf("role %s could not be assumed (%s: %s)", a.snap.Role, e.Code, e.Message)
	if e.Denied {
		why = fmt.Sprintf("role %s could not be assumed (%s): the role must exist in account %s and trust account %s "+
			"(Organizations creates %s in the accounts it creates; create it, or name another role), "+
			"and the caller must be allowed sts:AssumeRole on it", a.snap.Role, e.Code, a.snap.ID, o.caller, DefaultRoleName)
	}
	return &posture.AccountFailure{AccessError: e, Why: why}
}

// enabledRegions lists the regions a has enabled, and all it knows.
func (o *orgRun) enabledRegions(ctx context.Context, a *orgAccount) ([]string, map[string]bool, error) {
	c := ec2.NewFromConfig(newCollector(a.cfg, o.opts.Options).regionCfg(o.home))
	out, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		return nil, nil, err
	}
	var enabled []string
	known := map[string]bool{}
	for _, r := range out.Regions {
		name := aws.ToString(r.RegionName)
		known[name] = true
		if st := aws.ToString(r.OptInStatus); st == "" || st == "opt-in-not-required" || st == "opted-in" {
			enabled = append(enabled, name)
		}
	}
	slices.Sort(enabled)
	return enabled, known, nil
}

// run reads one account-region, or the account-wide part.
func (o *orgRun) run(ctx context.Context, j orgJob) {
	a := j.a
	c := newCollector(a.cfg, o.opts.Options)
	var errs []error
	if j.region < 0 {
		region := o.home
		if len(a.regions) > 0 && !slices.Contains(a.regions, region) {
			region = a.regions[0]
		}
		var account string
		account, a.snap.Snapshot.IAM, errs = c.global(ctx, region)
		a.snap.Snapshot.Account = cmp.Or(account, a.snap.ID)
	} else {
		a.snap.Snapshot.Regions[j.region], errs = c.region(ctx, a.regions[j.region])
	}
	if len(errs) > 0 {
		a.mu.Lock()
		for _, err := range errs {
			a.errs = append(a.errs, fmt.Errorf("account %s: %w", a.snap.ID, err))
		}
		a.mu.Unlock()
	}
	last := a.left.Add(-1) == 0
	o.report(func(p *OrgProgress) {
		if j.region >= 0 {
			p.RegionsDone++
		}
		if last {
			p.AccountsDone++
		}
	})
}

// report updates the progress and tells opts.Progress, one call at a time.
func (o *orgRun) report(update func(*OrgProgress)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	update(&o.progress)
	if o.opts.Progress != nil {
		o.opts.Progress(o.progress)
	}
}

// parallel calls fn(0..n-1) from at most limit goroutines and returns
// when all calls have.
func parallel(limit, n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(limit, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// accessError is err as the snapshot records a failed call.
func accessError(action, resource string, err error) posture.AccessError {
	e := posture.AccessError{Action: action, Resource: resource, Code: "Error", Message: err.Error()}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		e.Code = apiErr.ErrorCode()
		e.Message = apiErr.ErrorMessage()
		e.Denied = deniedCodes[e.Code]
	}
	return e
}

// partition is the ARN partition of region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}
