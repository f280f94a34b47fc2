package target

import (
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	ts := []Target{
		{Identifier: "orders-prod", Kind: KindInstance, Engine: "postgres", Status: "available", IAMAuth: true, Host: "orders.x", Port: 5432},
		{Identifier: "billing", Kind: KindCluster, Engine: "aurora-mysql", Status: "available", Public: true, Host: "billing.x",
			ReaderHost: "billing.ro.x", Port: 3306},
		{Identifier: "billing-1", Kind: KindInstance, ClusterIdentifier: "billing", Engine: "aurora-mysql", Status: "stopped", IAMAuth: true, Host: "b1.x", Port: 3306},
	}
	var b strings.Builder
	if err := WriteTable(&b, ts, map[string]string{"orders-prod": "orders"}); err != nil {
		t.Fatal(err)
	}
	want := `IDENTIFIER            KIND                 ENGINE        STATUS     IAM AUTH  PUBLIC  ENDPOINT
orders-prod (orders)  instance             postgres      available  yes       no      orders.x:5432
billing               cluster              aurora-mysql  available  NO        YES     billing.x:3306
                                                                                      billing.ro.x:3306 (reader)
billing-1             instance of billing  aurora-mysql  stopped    yes       no      b1.x:3306
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestEnableIAMAuthCommand(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		want string
	}{
		{Target{Identifier: "orders", Kind: KindInstance, Region: "eu-west-1"},
			"aws rds modify-db-instance --db-instance-identifier orders --enable-iam-database-authentication --apply-immediately --region eu-west-1"},
		{Target{Identifier: "billing", Kind: KindCluster, Region: "us-east-1"},
			"aws rds modify-db-cluster --db-cluster-identifier billing --enable-iam-database-authentication --apply-immediately --region us-east-1"},
		{Target{Identifier: "billing-1", Kind: KindInstance, ClusterIdentifier: "billing", Region: "us-east-1"},
			"aws rds modify-db-cluster --db-cluster-identifier billing --enable-iam-database-authentication --apply-immediately --region us-east-1"},
	} {
		if got := tc.t.EnableIAMAuthCommand(); got != tc.want {
			t.Errorf("%s: %s", tc.t.Identifier, got)
		}
	}
}
