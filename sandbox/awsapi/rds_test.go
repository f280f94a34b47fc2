package awsapi

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/google/go-cmp/cmp"

	"github.com/rdsgate/rdsgate/sandbox/world"
	"github.com/rdsgate/rdsgate/target"
)

func TestDescribeDBInstances(t *testing.T) {
	e := start(t)
	client := rds.NewFromConfig(e.cfg(t, "admin"))
	for _, id := range []string{"", "demo-pg", "DEMO-PG", "arn:aws:rds:us-east-1:111122223333:db:demo-pg"} {
		out, err := client.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
		if id == "" {
			out, err = client.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{})
		}
		if err != nil {
			t.Fatalf("DescribeDBInstances(%q): %v", id, err)
		}
		if len(out.DBInstances) != 1 {
			t.Fatalf("DescribeDBInstances(%q): %d instances", id, len(out.DBInstances))
		}
		db := out.DBInstances[0]
		got := target.FromInstance(db, testRegion)
		want := target.Target{
			Kind: target.KindInstance, Identifier: "demo-pg", Engine: "postgres", EngineVersion: "15.4",
			Region: testRegion, ResourceID: pgResourceID, IAMAuth: true, Public: false, Status: "available",
			CAIdentifier: "rds-ca-rsa2048-g1", MasterUser: "postgres",
			Host: "demo-pg.c0sandbox.us-east-1.rds.amazonaws.com", Port: 5432,
			VPC: "vpc-0sandbox", Subnets: []string{"subnet-0sandboxa", "subnet-0sandboxb"},
			SecurityGroups: []string{"sg-0sandboxdb"}, MasterSecretARN: masterARN,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("FromInstance (-want +got):\n%s", diff)
		}
		if aws.ToString(db.DBInstanceArn) != "arn:aws:rds:us-east-1:111122223333:db:demo-pg" {
			t.Errorf("DBInstanceArn = %q", aws.ToString(db.DBInstanceArn))
		}
	}

	_, err := client.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("nope")})
	wantCode(t, err, "DBInstanceNotFound", "DBInstance nope not found.")
	var nf *types.DBInstanceNotFoundFault
	if !errorsAs(err, &nf) {
		t.Errorf("not a DBInstanceNotFoundFault: %T", err)
	}
	_, err = client.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("bad--id")})
	wantCode(t, err, "InvalidParameterValue", "not a valid identifier")
	_, err = client.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(19)})
	wantCode(t, err, "InvalidParameterValue", "Invalid value 19 for MaxRecords. Must be between 20 and 100")
	_, err = client.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(101)})
	wantCode(t, err, "InvalidParameterValue")
	_, err = client.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{Marker: aws.String("garbage")})
	wantCode(t, err, "InvalidParameterValue")

	// Filters.
	for _, tc := range []struct {
		f    types.Filter
		want int
	}{
		{types.Filter{Name: aws.String("engine"), Values: []string{"postgres"}}, 1},
		{types.Filter{Name: aws.String("engine"), Values: []string{"mysql"}}, 0},
		{types.Filter{Name: aws.String("dbi-resource-id"), Values: []string{pgResourceID}}, 1},
		{types.Filter{Name: aws.String("db-instance-id"), Values: []string{"arn:aws:rds:us-east-1:111122223333:db:demo-pg"}}, 1},
	} {
		out, err := client.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{Filters: []types.Filter{tc.f}})
		if err != nil {
			t.Fatalf("filter %s: %v", aws.ToString(tc.f.Name), err)
		}
		if len(out.DBInstances) != tc.want {
			t.Errorf("filter %s=%v: %d instances, want %d", aws.ToString(tc.f.Name), tc.f.Values, len(out.DBInstances), tc.want)
		}
	}
	_, err = client.DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}})
	wantCode(t, err, "InvalidParameterValue", "Unrecognized filter name")

	// The intern may not describe.
	_, err = rds.NewFromConfig(e.cfg(t, "intern")).DescribeDBInstances(ctx(t), &rds.DescribeDBInstancesInput{})
	wantCode(t, err, "AccessDenied",
		"User: arn:aws:iam::111122223333:user/intern is not authorized to perform: rds:DescribeDBInstances on resource: arn:aws:rds:us-east-1:111122223333:db:* because no identity-based policy allows the rds:DescribeDBInstances action")
}

func TestDescribeDBInstancesPagination(t *testing.T) {
	e := start(t, func(w *world.World, _ *Options) {
		for i := range 45 {
			id := fmt.Sprintf("db-%02d", i)
			w.Instances = append(w.Instances, world.Instance{Identifier: id, Engine: "mysql", Endpoint: world.Endpoint(id, testRegion), Port: 3306, ResourceID: "db-X" + id})
		}
	})
	// This test is about pages, not first answers: let the SDK retry. About
	// once in a hundred runs under the race detector the client's own
	// transport closes the connection while the SDK still reads a 200
	// response (httptrace shows it on a fresh connection too, so not the
	// server): aws/aws-sdk-go-v2#2737, where the SDK's answer was to retry
	// net.ErrClosed by default (#2949) — which rdsgate's clients do.
	cfg := e.cfg(t, "admin")
	cfg.RetryMaxAttempts = 3
	client := rds.NewFromConfig(cfg)
	var ids []string
	pages := 0
	p := rds.NewDescribeDBInstancesPaginator(client, &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(20)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, db := range out.DBInstances {
			ids = append(ids, aws.ToString(db.DBInstanceIdentifier))
		}
	}
	if pages != 3 || len(ids) != 46 || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("%d pages, %d ids (sorted %v): %v", pages, len(ids), slices.IsSorted(ids), ids)
	}
}

func TestDescribeDBClusters(t *testing.T) {
	e := start(t)
	client := rds.NewFromConfig(e.cfg(t, "admin"))
	out, err := client.DescribeDBClusters(ctx(t), &rds.DescribeDBClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.DBClusters) != 0 {
		t.Errorf("%d clusters", len(out.DBClusters))
	}
	_, err = client.DescribeDBClusters(ctx(t), &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String("orders")})
	wantCode(t, err, "DBClusterNotFoundFault", "DBCluster orders not found.")
	_, err = rds.NewFromConfig(e.cfg(t, "intern")).DescribeDBClusters(ctx(t), &rds.DescribeDBClustersInput{})
	wantCode(t, err, "AccessDenied", "rds:DescribeDBClusters on resource: arn:aws:rds:us-east-1:111122223333:cluster:*")
}
