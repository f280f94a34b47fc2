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
	var b strings.Builder
	err := WriteUsers(&b, []User{
		{Name: "dbadmin", Auth: "password", RequiresTLS: "no", Profile: "admin", Master: true, Flags: []string{"master user", "password user"}},
		{Name: "jane", Host: "%", Auth: "iam", RequiresTLS: "yes", Profile: "read-only"},
	}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	want := "USER     AUTH      TLS REQUIRED  PROFILE (orders)  FLAGS\n" +
		"dbadmin  password  no            admin             master user; password user\n" +
		"jane@%   iam       yes           read-only         \n"
	if b.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", b.String(), want)
	}
}
