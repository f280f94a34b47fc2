package posture

import (
	"path"
	"strings"
)

// DEL-03 no-delete-guard-policy.

func checkNoDeleteGuardPolicy() *Check {
	return &Check{
		ID: "no-delete-guard-policy", Title: "No IAM policy denies deleting the database", Severity: SeverityLow,
		Catalog:   "DEL-03 (no anchor runs it)",
		Rationale: "An attached IAM policy that denies rds:DeleteDB* protects the database even from principals that may change deletion protection. Service control policies (not inspected) do the same account-wide.",
		Remediation: Remediation{
			Text:      "Attach a policy that denies deleting production databases to every role that administers RDS (or use an SCP).",
			CLI:       "aws iam create-policy --policy-name rds-delete-guard --policy-document '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Deny\",\"Action\":[\"rds:DeleteDBInstance\",\"rds:DeleteDBCluster\"],\"Resource\":\"{arn}\"}]}'\naws iam attach-role-policy --role-name ADMIN_ROLE --policy-arn arn:aws:iam::ACCOUNT:policy/rds-delete-guard",
			Terraform: "resource \"aws_iam_policy\" \"rds_delete_guard\" {\n  name = \"rds-delete-guard\"\n  policy = jsonencode({\n    Version = \"2012-10-17\"\n    Statement = [{\n      Effect   = \"Deny\"\n      Action   = [\"rds:DeleteDBInstance\", \"rds:DeleteDBCluster\"]\n      Resource = \"{arn}\"\n    }]\n  })\n}",
		},
		Needs: []string{"iam:ListPolicies", "iam:GetPolicyVersion"},
		eval: func(s *Snapshot, db *DB) Result {
			action := "rds:DeleteDBInstance"
			if db.Kind == KindCluster {
				action = "rds:DeleteDBCluster"
			}
			unattached := ""
			for _, p := range s.IAM.DeleteGuardPolicies {
				for _, st := range p.Statements {
					if !strings.EqualFold(st.Effect, "Deny") || !st.matchesAction(action) || !matchesAny(st.Resources, db.ARN()) {
						continue
					}
					if p.AttachmentCount == 0 {
						unattached = p.Name
						continue
					}
					return pass("policy %s denies %s", p.Name, action)
				}
			}
			if unattached != "" {
				return fail("policy %s denies %s but is attached to nothing", unattached, action)
			}
			return fail("no attached customer-managed policy denies %s on this database", action)
		},
	}
}

func (st Statement) matchesAction(action string) bool {
	if len(st.NotActions) > 0 {
		return !matchesAny(st.NotActions, action)
	}
	return matchesAny(st.Actions, action)
}

// matchesAny reports whether one of the IAM patterns (with * and ?)
// matches s, case-insensitively.
func matchesAny(patterns []string, s string) bool {
	s = strings.ToLower(s)
	for _, p := range patterns {
		p = strings.ToLower(p)
		// path.Match treats '/' specially; ARNs contain ':' and '/', so
		// compare with '/' swapped for a character IAM names never hold.
		ok, err := path.Match(strings.ReplaceAll(escapeBrackets(p), "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
		if err == nil && ok {
			return true
		}
	}
	return false
}

func escapeBrackets(p string) string {
	r := strings.NewReplacer(`[`, `\[`, `]`, `\]`, `\`, `\\`)
	return r.Replace(p)
}
