package grant

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rdsgate/rdsgate/target"
)

func TestGroupRole(t *testing.T) {
	long := strings.Repeat("d", 60)
	tests := []struct {
		desc    string
		fam     target.Family
		db      string
		profile Profile
		want    string
	}{
		{"pg read", target.FamilyPostgres, "orders", ReadOnly, "rdsgate_orders_read"},
		{"pg write, name kept as is", target.FamilyPostgres, `Sales-DB "x"`, ReadWrite, `rdsgate_Sales-DB "x"_write`},
		{"pg owner", target.FamilyPostgres, "orders", Owner, "rdsgate_orders_owner"},
		{"custom has none", target.FamilyPostgres, "orders", Custom, ""},
		{"pg too long: hashed", target.FamilyPostgres, long, ReadOnly, "rdsgate_" + long[:40] + "_29f662e3_read"},
		{"mysql fits 32", target.FamilyMySQL, "orders", ReadWrite, "rdsgate_orders_write"},
		{"mysql too long: hashed", target.FamilyMySQL, "analytics_warehouse", Owner, "rdsgate_analytics_9c974fd4_owner"},
		{"mysql multibyte cut on a rune", target.FamilyMySQL, "日本語のデータベースの名前です", ReadOnly, ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got := GroupRole(tc.fam, tc.db, tc.profile)
			if tc.want != "" && got != tc.want {
				t.Errorf("GroupRole = %q, want %q", got, tc.want)
			}
			if tc.profile == Custom {
				if got != "" {
					t.Errorf("custom has group %q", got)
				}
				return
			}
			if !utf8.ValidString(got) || !fits(tc.fam, got) {
				t.Errorf("%q is not a valid name of the engine's length", got)
			}
			if p := groupProfile(tc.fam, tc.db, got); p != tc.profile {
				t.Errorf("groupProfile(%q) = %q, want %q", got, p, tc.profile)
			}
		})
	}
	// Each database and level has its own name.
	seen := map[string]bool{}
	for _, db := range []string{long, long + "x", "orders", "orders2"} {
		for _, r := range groupRoles(target.FamilyMySQL, db) {
			if seen[r] {
				t.Errorf("%q named twice", r)
			}
			seen[r] = true
		}
	}
}
