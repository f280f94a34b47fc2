package grant

import (
	"strings"
	"testing"
)

func TestNamedPolicies(t *testing.T) {
	n, err := AccessPolicy(Access{Target: ordersPG, Account: "111122223333", DBUser: "jane", Bastion: "i-0123456789abcdef0"})
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "rdsgate-orders-prod-jane" || n.Description != "rdsgate: sign in to orders-prod as database user jane through Session Manager bastion i-0123456789abcdef0" {
		t.Errorf("access policy named %q, %q", n.Name, n.Description)
	}
	if _, err := AccessPolicy(Access{Target: ordersPG, Account: "111122223333"}); err == nil {
		t.Error("a policy for no database user")
	}
	d, err := DenyDelete([]string{"orders", "billing"}, []Guarded{{Target: ordersPG, Account: "111122223333"}, {Target: billing, Account: "111122223333"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "rdsgate-deny-delete-orders-billing" || d.Description != "rdsgate deletion guard for orders, billing" {
		t.Errorf("guard named %q, %q", d.Name, d.Description)
	}
}

func TestWriteUsers(t *testing.T) {
	us := []User{
		{Name: "dbadmin", Auth: "password", RequiresTLS: "no", Profile: "admin", Master: true, Flags: []string{"master user", "password user"}},
		{Name: "jane", Host: "%", Auth: "iam", RequiresTLS: "yes", Profile: "read-only", Roles: []string{"rdsgate_orders_read"}},
		{Name: "legacy", Host: "%", Auth: "iam", RequiresTLS: "yes", Profile: "read-write"},
		{Name: "idle", Host: "%", Auth: "iam", RequiresTLS: "yes", Profile: "none"},
	}
	tests := []struct {
		desc, database, want string
	}{
		{"one database", "orders",
			"USER      AUTH      TLS REQUIRED  ACCESS (orders)  VIA                        FLAGS\n" +
				"dbadmin   password  no            admin            administrative privileges  master user; password user\n" +
				"jane@%    iam       yes           read-only        rdsgate_orders_read        \n" +
				"legacy@%  iam       yes           read-write       own grants                 \n" +
				"idle@%    iam       yes           none             -                          \n"},
		{"no database", "", "USER      AUTH      TLS REQUIRED  ACCESS (all databases)"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var b strings.Builder
			if err := WriteUsers(&b, us, tc.database); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(b.String(), tc.want) {
				t.Errorf("table:\n%s\nwant it to start with\n%s", b.String(), tc.want)
			}
		})
	}
}
