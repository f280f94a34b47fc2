package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/rdsgate/rdsgate/internal/testharness"
	"github.com/rdsgate/rdsgate/internal/testpeer"
	"github.com/rdsgate/rdsgate/posture"
	"github.com/rdsgate/rdsgate/posture/report"
)

// motoOrg is an organization in moto: the management account (moto's
// default, the caller) and three members, each entered by assuming
// OrganizationAccountAccessRole (moto keeps each account's resources
// apart by the account id behind the assumed credentials).
type motoOrg struct {
	m   *testharness.Moto
	cfg aws.Config // the management account's
	// ids by name: prod (the hardened database in us-east-1), dev (a bad
	// one in eu-west-1), staging (a bad one in us-east-1), closed (a
	// closed account, not read).
	ids map[string]string
}

func buildOrg(t *testing.T, ctx context.Context) *motoOrg {
	m := testharness.StartMoto(t)
	o := &motoOrg{m: m, cfg: m.AWSConfig(), ids: map[string]string{}}
	org := organizations.NewFromConfig(o.cfg)
	must(org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}))
	for _, name := range []string{"prod", "dev", "staging", "closed"} {
		out := must(org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")}))
		o.ids[name] = aws.ToString(out.CreateAccountStatus.AccountId)
		if o.ids[name] == "" {
			t.Fatalf("moto created account %s with no id", name)
		}
	}
	must(org.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(o.ids["closed"])}))

	prod := o.enter(t, ctx, "prod", "us-east-1")
	buildHardened(t, o.cliAs(t, prod), ctx, prod)
	buildBad(t, ctx, o.enter(t, ctx, "dev", "eu-west-1"))
	buildBad(t, ctx, o.enter(t, ctx, "staging", "us-east-1"))
	return o
}

// enter returns a config for the named account in region, with the
// credentials of its OrganizationAccountAccessRole.
func (o *motoOrg) enter(t *testing.T, ctx context.Context, name, region string) aws.Config {
	t.Helper()
	out := must(sts.NewFromConfig(o.cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(fmt.Sprintf("arn:aws:iam::%s:role/%s", o.ids[name], DefaultRoleName)),
		RoleSessionName: aws.String("build"),
	}))
	c := out.Credentials
	cfg := o.cfg.Copy()
	cfg.Region = region
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return cfg
}

// cliAs runs the AWS CLI against moto as cfg's principal.
func (o *motoOrg) cliAs(t *testing.T, cfg aws.Config) func(args ...string) {
	return func(args ...string) {
		t.Helper()
		creds := must(cfg.Credentials.Retrieve(context.Background()))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, testpeer.AWSCLIv2(t), append(args, "--endpoint-url", o.m.Endpoint)...)
		cmd.Env = append(o.m.Environ(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey, "AWS_SESSION_TOKEN="+creds.SessionToken)
		cmd.WaitDelay = 5 * time.Second
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
	}
}

// orgOpts are the options of the tests: the two regions, quick retries.
func orgOpts() OrgOptions {
	return OrgOptions{Options: Options{
		Regions: []string{"eu-west-1", "us-east-1"}, Now: func() time.Time { return collectedAt },
		MaxAttempts: 2, MaxBackoff: 100 * time.Millisecond,
	}}
}

// denyAssumeRole makes STS refuse the role in account, as AWS does when
// the role does not trust the caller or the caller may not assume it (moto
// lets anyone assume any role, even one that does not exist).
func denyAssumeRole(cfg aws.Config, account string) aws.Config {
	cfg = cfg.Copy()
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("denyAssumeRole",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if p, ok := in.Parameters.(*sts.AssumeRoleInput); ok && strings.Contains(aws.ToString(p.RoleArn), ":"+account+":") {
					return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "AccessDenied",
						Message: "User: arn:aws:iam::123456789012:user/auditor is not authorized to perform: sts:AssumeRole on resource: " + aws.ToString(p.RoleArn)}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
	return cfg
}

// orgView is the golden view of an organization's report: per
// account name/region/database, check → status: detail; then the
// accounts, and why the report is incomplete.
func (o *motoOrg) orgView(t *testing.T, rep *posture.Report) []byte {
	t.Helper()
	// Keyed by the accounts' names, not by their random ids, so that the
	// order (and so the numbering of moto's random ids) is stable.
	view := map[string]any{}
	dbs := map[string]map[string]string{}
	for _, db := range rep.Databases {
		m := map[string]string{}
		for _, f := range db.Results {
			m[f.CheckID] = string(f.Status) + ": " + f.Detail
		}
		dbs[o.name(db.Account)+"/"+db.Region+"/"+db.ID] = m
	}
	accounts := map[string]posture.AccountReport{}
	for _, a := range rep.Accounts {
		accounts[o.name(a.ID)] = a
	}
	view["databases"] = dbs
	view["accounts"] = accounts
	view["incomplete"] = rep.Incomplete
	out := must(json.MarshalIndent(view, "", "  "))
	return append(o.names(normalise(out)), '\n')
}

var orgIDPattern = regexp.MustCompile(`\bo-[a-z0-9]{10,32}\b`)

// name is the name of the account id, "management" for the caller's.
func (o *motoOrg) name(id string) string {
	for n, v := range o.ids {
		if v == id {
			return n
		}
	}
	if id == "123456789012" {
		return "management"
	}
	return id
}

// names replaces the random account ids by the accounts' names, and the
// organization's id by o-ORG.
func (o *motoOrg) names(b []byte) []byte {
	for name, id := range o.ids {
		b = bytes.ReplaceAll(b, []byte(id), []byte("ACCOUNT-"+name))
	}
	return orgIDPattern.ReplaceAll(b, []byte("o-ORG"))
}

func dbReport(rep *posture.Report, account, region, id string) *posture.DBReport {
	for i, d := range rep.Databases {
		if d.Account == account && d.Region == region && d.ID == id {
			return &rep.Databases[i]
		}
	}
	return nil
}

func statusOf(db *posture.DBReport, check string) posture.Status {
	for _, f := range db.Results {
		if f.CheckID == check {
			return f.Status
		}
	}
	return ""
}

func TestOrgMoto(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	o := buildOrg(t, ctx)
	const management = "123456789012"

	t.Run("all", func(t *testing.T) {
		var mu sync.Mutex
		var seen []OrgProgress
		opts := orgOpts()
		opts.Progress = func(p OrgProgress) { mu.Lock(); seen = append(seen, p); mu.Unlock() }
		snap, err := CollectOrg(ctx, o.cfg, opts)
		if snap == nil {
			t.Fatalf("CollectOrg: %v", err)
		}
		for _, a := range snap.Accounts {
			if a.Snapshot != nil {
				checkMotoErr(t, a.Snapshot, err)
			}
		}
		rep := posture.Audit(snap, posture.AuditOptions{})
		golden(t, "moto-org.json", o.orgView(t, rep))
		if *update {
			// The report package's golden input for organization reports.
			sorted := *snap
			sorted.Accounts = slices.Clone(snap.Accounts)
			slices.SortFunc(sorted.Accounts, func(a, b posture.AccountSnapshot) int { return strings.Compare(o.name(a.ID), o.name(b.ID)) })
			var buf bytes.Buffer
			if err := sorted.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("..", "report", "testdata", "snapshot-org.json"), o.names(normalise(buf.Bytes())), 0o644); err != nil {
				t.Fatal(err)
			}
		}

		// The closed account is not read; the management account is, with
		// the caller's own credentials.
		var ids []string
		for _, a := range snap.Accounts {
			ids = append(ids, a.ID)
			if a.Failure != nil {
				t.Errorf("account %s (%s) not read: %s", a.ID, a.Name, a.Failure.Why)
			}
			if (a.ID == management) != (a.Role == "") {
				t.Errorf("account %s read with role %q", a.ID, a.Role)
			}
		}
		want := []string{management, o.ids["prod"], o.ids["dev"], o.ids["staging"]}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("accounts read: %v, want %v (not the closed %s)", ids, want, o.ids["closed"])
		}
		for _, bad := range []struct{ account, region string }{{o.ids["dev"], "eu-west-1"}, {o.ids["staging"], "us-east-1"}} {
			db := dbReport(rep, bad.account, bad.region, "bad-db")
			if db == nil {
				t.Fatalf("no bad-db in %s/%s", bad.account, bad.region)
			}
			for _, c := range badFindings {
				if got := statusOf(db, c); got != posture.StatusFail {
					t.Errorf("%s/%s bad-db: %s is %q, want fail", bad.account, bad.region, c, got)
				}
			}
		}
		good := dbReport(rep, o.ids["prod"], "us-east-1", "good-db")
		if good == nil {
			t.Fatal("no good-db in prod/us-east-1")
		}
		for _, c := range badFindings {
			if got := statusOf(good, c); (got == posture.StatusFail && !slices.Contains(motoDrops, c)) || got == "" {
				t.Errorf("prod good-db: %s is %q, want no finding", c, got)
			}
		}
		if len(rep.Databases) != 3 {
			t.Errorf("%d databases, want 3 (each account's in its own region only)", len(rep.Databases))
		}
		if len(rep.Incomplete) != 0 {
			t.Errorf("incomplete: %q", rep.Incomplete)
		}
		// Progress: ends with every account and account-region done, and
		// never goes back.
		last := seen[len(seen)-1]
		if want := (OrgProgress{Accounts: 4, AccountsDone: 4, Regions: 8, RegionsDone: 8}); last != want {
			t.Errorf("last progress %+v, want %+v", last, want)
		}
		for i := 1; i < len(seen); i++ {
			if seen[i].AccountsDone < seen[i-1].AccountsDone || seen[i].RegionsDone < seen[i-1].RegionsDone {
				t.Errorf("progress went back: %+v after %+v", seen[i], seen[i-1])
			}
		}
	})

	for _, tc := range []struct {
		desc string
		cfg  func() aws.Config
		opts func(*OrgOptions)
		// failed: account name → the words its failure must say.
		failed  map[string][]string
		audited []string
		// unavailable: account name/region → the words the reason says.
		unavailable map[string]string
	}{
		{
			desc: "role denied in staging",
			cfg:  func() aws.Config { return denyAssumeRole(o.cfg, o.ids["staging"]) },
			failed: map[string][]string{"staging": {"sts:AssumeRole", "OrganizationAccountAccessRole", "AccessDenied",
				"must exist in account " + o.ids["staging"], "trust account " + management}},
			audited: []string{"prod", "dev"},
		},
		{
			desc:    "accounts asked for, one not a member, one closed",
			opts:    func(op *OrgOptions) { op.Accounts = []string{o.ids["dev"], "999999999999", o.ids["closed"]} },
			failed:  map[string][]string{"999999999999": {"not a member of organization o-"}, "closed": {"SUSPENDED", "not ACTIVE"}},
			audited: []string{"dev"},
		},
		{
			desc: "a region not enabled, and one that does not exist",
			opts: func(op *OrgOptions) {
				op.Accounts = []string{o.ids["prod"]}
				op.Regions = []string{"us-east-1", "me-south-1", "xx-nowhere-1"}
			},
			audited:     []string{"prod"},
			unavailable: map[string]string{"prod/me-south-1": "not enabled in the account", "prod/xx-nowhere-1": "does not know this region"},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, opts := o.cfg, orgOpts()
			if tc.cfg != nil {
				cfg = tc.cfg()
			}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			snap, err := CollectOrg(ctx, cfg, opts)
			if snap == nil {
				t.Fatalf("CollectOrg: %v", err)
			}
			if n := len(tc.failed); n > 0 && (err == nil || !strings.Contains(err.Error(), plural(n, "account")+" not read")) {
				t.Errorf("error %v, want it to say %s not read", err, plural(n, "account"))
			}
			rep := posture.Audit(snap, posture.AuditOptions{})
			if code := report.ExitCode(rep, report.ExitPolicy{}); code != report.ExitIncomplete {
				t.Errorf("exit code %d, want %d (incomplete)", code, report.ExitIncomplete)
			}
			for _, a := range rep.Accounts {
				words, shouldFail := tc.failed[o.name(a.ID)]
				if shouldFail != (a.Failed != "") {
					t.Errorf("account %s: failed %q, want failed %v", o.name(a.ID), a.Failed, shouldFail)
				}
				for _, w := range words {
					if !strings.Contains(a.Failed+" "+gapOf(rep, a.ID), w) {
						t.Errorf("account %s: %q does not say %q", o.name(a.ID), a.Failed, w)
					}
				}
				if shouldFail && !slices.ContainsFunc(rep.Incomplete, func(s string) bool { return strings.Contains(s, a.ID) }) {
					t.Errorf("account %s not in the incomplete list %q", o.name(a.ID), rep.Incomplete)
				}
			}
			for _, n := range tc.audited {
				if !slices.ContainsFunc(rep.Accounts, func(a posture.AccountReport) bool { return a.ID == o.ids[n] && a.Failed == "" }) {
					t.Errorf("account %s not audited: %+v", n, rep.Accounts)
				}
			}
			// The bad databases of the audited accounts are still found.
			if slices.Contains(tc.audited, "dev") {
				if db := dbReport(rep, o.ids["dev"], "eu-west-1", "bad-db"); db == nil || statusOf(db, "public-access") != posture.StatusFail {
					t.Error("dev's bad-db not found failing public-access")
				}
			}
			for where, words := range tc.unavailable {
				acct, region, _ := strings.Cut(where, "/")
				want := fmt.Sprintf("account %s: region %s was not read: ", o.ids[acct], region)
				if !slices.ContainsFunc(rep.Incomplete, func(s string) bool { return strings.HasPrefix(s, want) && strings.Contains(s, words) }) {
					t.Errorf("incomplete %q lacks %q...%q", rep.Incomplete, want, words)
				}
			}
		})
	}

	t.Run("enabled regions", func(t *testing.T) {
		opts := orgOpts()
		opts.Regions, opts.Accounts = nil, []string{o.ids["dev"]}
		snap, err := CollectOrg(ctx, o.cfg, opts)
		if snap == nil {
			t.Fatalf("CollectOrg: %v", err)
		}
		var got []string
		for _, r := range snap.Accounts[0].Snapshot.Regions {
			got = append(got, r.Name)
			if r.Unavailable != "" {
				t.Errorf("region %s unavailable: %s", r.Name, r.Unavailable)
			}
		}
		// moto's regions that need no opt-in; me-south-1 needs one.
		if !slices.Contains(got, "eu-west-1") || !slices.Contains(got, "us-west-2") || slices.Contains(got, "me-south-1") || len(got) < 15 {
			t.Errorf("regions read: %v", got)
		}
		rep := posture.Audit(snap, posture.AuditOptions{})
		if len(rep.Databases) != 1 || rep.Databases[0].Region != "eu-west-1" {
			t.Errorf("databases: %+v, want dev's bad-db in eu-west-1", rep.Databases)
		}
	})

	t.Run("not an organization", func(t *testing.T) {
		m := testharness.StartMoto(t)
		_, err := CollectOrg(ctx, m.AWSConfig(), orgOpts())
		if !errors.Is(err, ErrNoOrganization) {
			t.Errorf("err = %v, want ErrNoOrganization", err)
		}
	})
}

// gapOf is the failed call of an account not read, as the report lists it.
func gapOf(rep *posture.Report, account string) string {
	for _, g := range rep.Gaps {
		if g.Account == account && g.Region == "global" {
			return g.Action + " " + g.Code + " " + g.Message
		}
	}
	return ""
}
