package target

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/rdsgate/rdsgate/internal/testharness"
)

func TestResolveAgainstMoto(t *testing.T) {
	m := testharness.StartMoto(t)
	api := rds.New(rds.Options{
		Region:       m.Region,
		BaseEndpoint: aws.String(m.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(m.AccessKeyID, m.SecretAccessKey, ""),
	})
	ctx := context.Background()
	if _, err := api.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("orders"), Engine: aws.String("postgres"),
		DBInstanceClass: aws.String("db.t3.micro"), AllocatedStorage: aws.Int32(20),
		MasterUsername: aws.String("dbadmin"), MasterUserPassword: aws.String("pw-not-used-1"),
		EnableIAMDatabaseAuthentication: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	cl, err := api.CreateDBCluster(ctx, &rds.CreateDBClusterInput{
		DBClusterIdentifier: aws.String("billing"), Engine: aws.String("aurora-mysql"),
		MasterUsername: aws.String("dbadmin"), MasterUserPassword: aws.String("pw-not-used-1"),
		EnableIAMDatabaseAuthentication: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: aws.String("billing-1"), Engine: aws.String("aurora-mysql"),
		DBInstanceClass: aws.String("db.r6g.large"), DBClusterIdentifier: aws.String("billing"),
	}); err != nil {
		t.Fatal(err)
	}
	clusterRID := aws.ToString(cl.DBCluster.DbClusterResourceId)
	writer, reader := aws.ToString(cl.DBCluster.Endpoint), aws.ToString(cl.DBCluster.ReaderEndpoint)

	r := &Resolver{API: api, Region: m.Region, Named: map[string]Spec{
		"team-orders": {Identifier: "orders", Port: 6432},
		"outside":     {Endpoint: "legacy.internal.example.com", Engine: "mysql"},
	}}
	tests := []struct {
		desc, name string
		check      func(t *testing.T, got Target)
	}{
		{"instance id", "orders", func(t *testing.T, got Target) {
			if got.Kind != KindInstance || got.Family() != FamilyPostgres || got.Port != 5432 || !got.IAMAuth ||
				!strings.HasPrefix(got.ResourceID, "db-") || !strings.HasPrefix(got.Host, "orders.") || got.Region != m.Region {
				t.Errorf("%+v", got)
			}
		}},
		{"cluster id gives writer and reader", "billing", func(t *testing.T, got Target) {
			if got.Kind != KindCluster || got.Host != writer || got.ReaderHost != reader || got.ResourceID != clusterRID || got.Port != 3306 || got.Family() != FamilyMySQL {
				t.Errorf("%+v", got)
			}
		}},
		{"aurora instance uses its cluster's resource id", "billing-1", func(t *testing.T, got Target) {
			if got.Kind != KindInstance || got.ClusterIdentifier != "billing" || got.ResourceID != clusterRID || !got.IAMAuth {
				t.Errorf("%+v (cluster resource id %s)", got, clusterRID)
			}
		}},
		{"reader endpoint", reader, func(t *testing.T, got Target) {
			if got.Kind != KindCluster || got.Host != reader || got.Identifier != "billing" {
				t.Errorf("%+v", got)
			}
		}},
		{"endpoint in another case", strings.ToUpper(writer), func(t *testing.T, got Target) {
			if got.Identifier != "billing" {
				t.Errorf("%+v", got)
			}
		}},
		{"config entry with port override", "team-orders", func(t *testing.T, got Target) {
			if got.Name != "team-orders" || got.Identifier != "orders" || got.Port != 6432 {
				t.Errorf("%+v", got)
			}
		}},
		{"endpoint the API does not know, engine from config", "outside", func(t *testing.T, got Target) {
			if got.Kind != KindEndpoint || got.Host != "legacy.internal.example.com" || got.Port != 3306 || got.Region != m.Region {
				t.Errorf("%+v", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := r.Resolve(ctx, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
		})
	}

	for _, name := range []string{"absent", "nowhere.example.com"} {
		_, err := r.Resolve(ctx, name)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q) = %v, want ErrNotFound", name, err)
		}
	}

	all, err := List(ctx, api, m.Region)
	if err != nil || len(all) != 3 {
		t.Fatalf("List = %d targets, %v", len(all), err)
	}
}
