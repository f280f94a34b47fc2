package grant

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/target"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./grant -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var (
	ordersPG = target.Target{Name: "orders-prod", Kind: target.KindInstance, Identifier: "orders-prod", Engine: "postgres",
		Region: "eu-west-1", ResourceID: "db-ABCDEFGHIJKLMNOPQRSTUVWXY1", MasterUser: "dbadmin"}
	billing = target.Target{Name: "billing", Kind: target.KindCluster, Identifier: "billing", Engine: "aurora-postgresql",
		Region: "eu-west-1", ResourceID: "cluster-ZYXWVUTSRQPONMLKJIHGFEDCBA"}
	billingWriter = target.Target{Name: "billing-1", Kind: target.KindInstance, Identifier: "billing-1", Engine: "aurora-postgresql",
		Region: "eu-west-1", ResourceID: "cluster-ZYXWVUTSRQPONMLKJIHGFEDCBA", ClusterIdentifier: "billing"}
)

const account = "123456789012"

func policies(t *testing.T) map[string]Named {
	t.Helper()
	conn, err := Policy(Access{Target: ordersPG, Account: account, DBUser: "jane"})
	if err != nil {
		t.Fatal(err)
	}
	ssm, err := Policy(Access{Target: billing, Account: account, DBUser: "etl-job", Bastion: "i-0123456789abcdef0"})
	if err != nil {
		t.Fatal(err)
	}
	guard, err := DenyDeletePolicy([]Guarded{{ordersPG, account}, {billingWriter, account}, {billing, account}},
		[]string{"arn:aws:iam::123456789012:role/break-glass"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Named{
		"connect": {Name: PolicyName("orders-prod", "jane"), Description: "rds-db:connect as jane on orders-prod", Doc: conn},
		"ssm":     {Name: PolicyName("billing", "etl-job"), Description: "etl-job on billing through Session Manager", Doc: ssm},
		"guard":   {Name: PolicyName("deny-delete"), Description: "deletion guard", Doc: guard},
	}
}

func TestPolicyGoldenFiles(t *testing.T) {
	ext := map[string]string{FormatJSON: ".json", FormatTerraform: ".tf", FormatCloudFormation: ".cfn.yaml", FormatCloudFormationJSON: ".cfn.json"}
	for name, n := range policies(t) {
		for _, f := range Formats {
			out, err := n.Render(f)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "policy-"+name+ext[f], out)
			if strings.HasSuffix(ext[f], "json") && !json.Valid([]byte(out)) {
				t.Errorf("%s %s is not JSON", name, f)
			}
			if f == FormatTerraform {
				checkTerraformFormat(t, out)
			}
		}
	}
}

func TestPolicyContents(t *testing.T) {
	ps := policies(t)
	j := ps["connect"].Doc.JSON()
	if !strings.Contains(j, `"arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-ABCDEFGHIJKLMNOPQRSTUVWXY1/jane"`) || strings.Contains(j, "orders-prod") {
		t.Errorf("connect policy must name the resource id, never the instance:\n%s", j)
	}
	var doc struct {
		Version   string
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(ps["ssm"].Doc.JSON()), &doc); err != nil || doc.Version != PolicyVersion || len(doc.Statement) != 4 {
		t.Fatalf("ssm policy: %v %+v", err, doc)
	}
	s := ps["ssm"].Doc.JSON()
	for _, want := range []string{"dbuser:cluster-ZYXWVUTSRQPONMLKJIHGFEDCBA/etl-job", "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0",
		"arn:aws:ssm:eu-west-1::document/AWS-StartPortForwardingSessionToRemoteHost", `"ssm:SessionDocumentAccessCheck": "true"`,
		`"ssm:resourceTag/aws:ssmmessages:session-id": [`, `"${aws:userid}"`, "arn:aws:ssm:*:*:session/*"} {
		if !strings.Contains(s, want) {
			t.Errorf("ssm policy lacks %s", want)
		}
	}
	tf, _ := ps["ssm"].Render(FormatTerraform)
	if !strings.Contains(tf, `"$${aws:userid}"`) {
		t.Errorf("terraform must escape ${aws:userid} as $${aws:userid}:\n%s", tf)
	}
	g := ps["guard"].Doc.JSON()
	for _, want := range []string{"arn:aws:rds:eu-west-1:123456789012:db:orders-prod", "arn:aws:rds:eu-west-1:123456789012:cluster:billing",
		"arn:aws:rds:eu-west-1:123456789012:db:billing-1", "rds:DeleteDBInstance", "rds:ModifyDBCluster", "aws:PrincipalArn"} {
		if !strings.Contains(g, want) {
			t.Errorf("guard lacks %s", want)
		}
	}
	if strings.Count(g, "cluster:billing\"") != 2 {
		t.Errorf("cluster ARN should appear once per statement:\n%s", g)
	}
	if _, err := Policy(Access{Target: ordersPG, Account: account, DBUser: "DBAdmin"}); err == nil {
		t.Error("policy for the master user")
	}
	noID := ordersPG
	noID.ResourceID = ""
	if _, err := Policy(Access{Target: noID, Account: account, DBUser: "jane"}); err == nil || !strings.Contains(err.Error(), "resource id") {
		t.Errorf("no resource id: %v", err)
	}
	cmd, err := AttachCommand("role/data-team", ps["connect"].Name, ps["connect"].Doc)
	if err != nil || !strings.HasPrefix(cmd, "aws iam put-role-policy --role-name data-team --policy-name rdsgate-orders-prod-jane --policy-document '{\"Version\":") {
		t.Errorf("attach: %v %s", err, cmd)
	}
	if _, err := AttachCommand("arn:aws:iam::1:role/x", "n", ps["connect"].Doc); err == nil {
		t.Error("bad --attach-to accepted")
	}
}

// checkTerraformFormat checks the invariants of `terraform fmt` output that
// the renderer promises: two-space indents following bracket depth, "="
// aligned within runs of one-line attributes, no trailing blanks; and, when
// terraform is installed, that terraform fmt leaves it unchanged.
func checkTerraformFormat(t *testing.T, src string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(src, "\n"), "\n")
	depth := 0
	runCol := -1
	for i, l := range lines {
		if strings.TrimRight(l, " \t") != l {
			t.Errorf("line %d has trailing blanks: %q", i+1, l)
		}
		trim := strings.TrimLeft(l, " ")
		closes := strings.HasPrefix(trim, "}") || strings.HasPrefix(trim, "]")
		want := depth
		if closes {
			want--
		}
		if got := len(l) - len(trim); got != 2*want {
			t.Errorf("line %d indented %d, want %d: %q", i+1, got, 2*want, l)
		}
		depth += strings.Count(l, "{") + strings.Count(l, "[") - strings.Count(l, "}") - strings.Count(l, "]")
		oneLine := strings.Contains(l, " = ") && !strings.HasSuffix(l, "{") && !strings.HasSuffix(l, "[") && !strings.HasSuffix(l, "({")
		if oneLine {
			col := strings.Index(l, " = ")
			if runCol >= 0 && col != runCol {
				t.Errorf("line %d: '=' at column %d, the run above has it at %d", i+1, col, runCol)
			}
			runCol = col
		} else {
			runCol = -1
		}
	}
	if depth != 0 {
		t.Errorf("unbalanced brackets (%d)", depth)
	}
	tf, err := exec.LookPath("terraform")
	if err != nil {
		return
	}
	cmd := exec.Command(tf, "fmt", "-")
	cmd.Stdin = strings.NewReader(src)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("terraform fmt: %v", err)
	}
	if string(out) != src {
		t.Errorf("terraform fmt changes the output:\n--- ours\n%s\n--- terraform fmt\n%s", src, out)
	}
}

// TestDenyDeleteUsesNoInventedKey: IAM has no condition key for
// DeletionProtection; the guard must not pretend otherwise (a condition on
// an absent key never matches, so such a Deny would never apply), and must
// deny every Modify to all but the break-glass principals instead.
func TestDenyDeleteUsesNoInventedKey(t *testing.T) {
	for _, exempt := range [][]string{nil, {"arn:aws:iam::123456789012:role/break-glass"}} {
		doc, err := DenyDeletePolicy([]Guarded{{ordersPG, account}}, exempt)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Named{Name: "g", Doc: doc}.Render(FormatJSON)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(out), "deletionprotection") {
			t.Errorf("guard conditions on a key IAM does not have:\n%s", out)
		}
		var modify *Statement
		for i, st := range doc.Statement {
			if slices.Contains(st.Action, "rds:ModifyDBInstance") {
				modify = &doc.Statement[i]
			}
		}
		if modify == nil || modify.Effect != "Deny" || !slices.Contains(modify.Action, "rds:ModifyDBCluster") {
			t.Fatalf("no Deny on Modify: %+v", doc)
		}
		if len(exempt) == 0 && len(modify.Condition) != 0 {
			t.Errorf("without break-glass the Modify deny must be unconditional: %+v", modify.Condition)
		}
		if len(exempt) > 0 && (len(modify.Condition) != 1 || modify.Condition[0].Key != "aws:PrincipalArn" || modify.Condition[0].Operator != "ArnNotLike") {
			t.Errorf("break-glass condition: %+v", modify.Condition)
		}
	}
}
