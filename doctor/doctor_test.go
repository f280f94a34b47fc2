package doctor

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
)

func TestPolicyStatementUsesResourceID(t *testing.T) {
	tg := target.Target{Identifier: "orders-prod", Region: "eu-west-1", ResourceID: "db-ABCDEFGHIJKL"}
	var stmt map[string]string
	if err := json.Unmarshal([]byte(PolicyStatement("111122223333", tg, "jane")), &stmt); err != nil {
		t.Fatal(err)
	}
	if stmt["Resource"] != "arn:aws:rds-db:eu-west-1:111122223333:dbuser:db-ABCDEFGHIJKL/jane" || stmt["Action"] != "rds-db:connect" {
		t.Errorf("statement %v", stmt)
	}
}

func TestLoginFix(t *testing.T) {
	pg := target.Target{Identifier: "orders", Engine: "postgres", ResourceID: "db-X"}
	my := target.Target{Identifier: "billing", Engine: "mysql", ResourceID: "db-Y"}
	if fix := loginFix(pg, "jane", errors.New(`rdsgate: database user "jane" is not IAM-enabled`)); !strings.Contains(fix, `GRANT rds_iam TO "jane"`) {
		t.Errorf("pg fix %q", fix)
	}
	if fix := loginFix(my, "jane", errors.New("jane is not an IAM user")); !strings.Contains(fix, "AWSAuthenticationPlugin") {
		t.Errorf("mysql fix %q", fix)
	}
	if fix := loginFix(pg, "jane", errors.New("PAM authentication failed")); !strings.HasPrefix(fix, "1. ") || !strings.Contains(fix, "db-X") {
		t.Errorf("generic fix %q", fix)
	}
}

// A hint an admin copies must name exactly the user, whatever it holds.
func TestLoginFixQuotesTheUser(t *testing.T) {
	pg := target.Target{Identifier: "orders", Engine: "postgres"}
	my := target.Target{Identifier: "billing", Engine: "mysql"}
	notIAM := errors.New("is not IAM-enabled")
	tests := []struct {
		desc string
		t    target.Target
		user string
		want []string
	}{
		{"pg double quote", pg, `x"; DROP DATABASE d; --`, []string{`GRANT rds_iam TO "x""; DROP DATABASE d; --";`, `rdsgate grant orders 'x"; DROP DATABASE d; --'`}},
		{"pg newline", pg, "x\nDROP", []string{"GRANT rds_iam TO \"x\nDROP\";"}},
		{"mysql quote and backslash", my, `x\'; DROP DATABASE d; --`, []string{`CREATE USER 'x\\''; DROP DATABASE d; --'@'%'`}},
		{"mysql newline", my, "x\nDROP", []string{`CREATE USER 'x\nDROP'@'%'`}},
		{"shell", pg, "$(id)", []string{`rdsgate grant orders '$(id)'`}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			fix := loginFix(tc.t, tc.user, notIAM)
			for _, w := range tc.want {
				if !strings.Contains(fix, w) {
					t.Errorf("fix %q\nwant it to contain %q", fix, w)
				}
			}
		})
	}
}

func TestReportOutput(t *testing.T) {
	r := &Report{Target: "orders"}
	r.run("a", "A", func() Result { return Result{Status: Pass, Detail: setting.Plain("fine")} })
	r.run("b", "B", func() Result {
		return Result{Status: Fail, Detail: setting.Textf("broken: %v", setting.Errorf("no %s", setting.User)),
			Fix: setting.Textf("line one %s\nline two", setting.CABundle.Is("FILE"))}
	})
	r.skip("c", "C", "needs b")
	if r.OK() || len(r.Failed()) != 1 {
		t.Fatalf("OK=%v failed=%v", r.OK(), r.Failed())
	}
	flags := setting.Style{Assign: " ", Names: map[setting.Name]string{setting.User: "--user", setting.CABundle: "--ca-bundle"}}
	tests := []struct {
		desc string
		o    RenderOptions
		want []string
	}{
		{"neutral", RenderOptions{}, []string{"broken: no user", "fix: line one ca_bundle=FILE"}},
		{"flags", RenderOptions{Settings: flags}, []string{"broken: no --user", "fix: line one --ca-bundle FILE"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var text bytes.Buffer
			if err := r.WriteText(&text, tc.o); err != nil {
				t.Fatal(err)
			}
			for _, want := range append([]string{"PASS  a", "FAIL  b", "             line two", "SKIP  c", "1 check(s) failed"}, tc.want...) {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text lacks %q:\n%s", want, text.String())
				}
			}
			var js bytes.Buffer
			if err := r.WriteJSON(&js, tc.o); err != nil {
				t.Fatal(err)
			}
			var out struct {
				Target string `json:"target"`
				OK     bool   `json:"ok"`
				Checks []struct{ ID, Status, Detail, Fix string }
			}
			if err := json.Unmarshal(js.Bytes(), &out); err != nil || out.OK || out.Target != "orders" || len(out.Checks) != 3 {
				t.Fatalf("json %v %+v", err, out)
			}
			b := out.Checks[1]
			if got := b.Detail + "\nfix: " + b.Fix; !strings.Contains(got, tc.want[0]) || !strings.Contains(got, tc.want[1]) {
				t.Errorf("json check b = %q, want %q", got, tc.want)
			}
			if strings.Contains(js.String(), `"fix": ""`) {
				t.Errorf("json has an empty fix:\n%s", js.String())
			}
		})
	}
}

// The fixes name settings; the command line spells them as its flags.
func TestFixesNameSettings(t *testing.T) {
	tg := target.Target{Identifier: "orders", Host: "orders.example", Port: 5432}
	flags := setting.Style{Assign: " ", Names: map[setting.Name]string{setting.SSH: "--ssh", setting.Via: "--via", setting.Address: "--address"}}
	tests := []struct {
		desc          string
		fix           setting.Text
		neutral, flag string
	}{
		{"ssh route", routeFix(dbpath.Route{Via: "ssh"}, tg), "check the bastion in route.ssh=USER@HOST[:PORT] (", "check the bastion in --ssh USER@HOST[:PORT] ("},
		{"direct route", routeFix(dbpath.Route{}, tg),
			"(VPN, tunnel, route.address), or use route.via=ssm with a bastion or route.via=ssh",
			"(VPN, tunnel, --address), or use --via ssm with a bastion or --via ssh"},
	}
	for _, tc := range tests {
		if got := tc.fix.String(); !strings.Contains(got, tc.neutral) {
			t.Errorf("%s: %q, want it to contain %q", tc.desc, got, tc.neutral)
		}
		if got := tc.fix.Render(flags); !strings.Contains(got, tc.flag) {
			t.Errorf("%s with flags: %q, want it to contain %q", tc.desc, got, tc.flag)
		}
	}
}

func TestWriteTextColor(t *testing.T) {
	r := &Report{Target: "orders", Results: []Result{{ID: "tls", Status: Fail}, {ID: "identity", Status: Pass}}}
	for _, color := range []bool{false, true} {
		var b strings.Builder
		if err := r.WriteText(&b, RenderOptions{Color: color}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(b.String(), "\x1b[31mFAIL\x1b[0m"); got != color {
			t.Errorf("Color %v: red FAIL %v:\n%q", color, got, b.String())
		}
		if !color && strings.Contains(b.String(), "\x1b[") {
			t.Errorf("colour without Color:\n%q", b.String())
		}
	}
}
