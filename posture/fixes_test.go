package posture

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// validLogTypes are the CloudWatch Logs export types RDS accepts per engine
// (rds describe-db-engine-versions, ExportableLogTypes).
var validLogTypes = map[string][]string{
	"postgres":          {"postgresql", "upgrade", "iam-db-auth-error"},
	"aurora-postgresql": {"postgresql", "instance", "iam-db-auth-error"},
	"mysql":             {"audit", "error", "general", "slowquery", "iam-db-auth-error"},
	"mariadb":           {"audit", "error", "general", "slowquery", "iam-db-auth-error"},
	"aurora-mysql":      {"audit", "error", "general", "slowquery", "instance", "iam-db-auth-error"},
}

var (
	logTypesCLI = regexp.MustCompile(`"EnableLogTypes":\[([^\]]*)\]`)
	logTypesTF  = regexp.MustCompile(`enabled_cloudwatch_logs_exports = \[([^\]]*)\]`)
	quoted      = regexp.MustCompile(`"([^"]*)"`)
	tfResourceR = regexp.MustCompile(`resource "([a-z0-9_]+)"`)
)

// fixDBs are one database of every engine and kind rdsgate audits: the
// five engines as instances (Aurora engines as clusters with members), and
// Multi-AZ DB clusters of PostgreSQL and MySQL.
func fixDBs() []*DB {
	r := &Region{Name: "eu-west-1", Instances: []Instance{
		{ID: "m1", Engine: "aurora-postgresql", ClusterID: "c"}, {ID: "m2", Engine: "aurora-postgresql", ClusterID: "c"},
	}}
	inst := func(engine string) *DB {
		return &DB{Region: r, Kind: KindInstance, Instance: &Instance{ID: "db-" + engine, ARN: "arn:aws:rds:eu-west-1:1:db:db-" + engine, Engine: engine, ParameterGroups: []string{"default." + engine}}}
	}
	cluster := func(engine string) *DB {
		c := &Cluster{ID: "cl-" + engine, ARN: "arn:aws:rds:eu-west-1:1:cluster:cl-" + engine, Engine: engine, Members: []string{"m1", "m2"}, ParameterGroup: "custom-" + engine}
		return &DB{Region: r, Kind: KindCluster, Cluster: c, Members: []*Instance{&r.Instances[0], &r.Instances[1]}}
	}
	return []*DB{
		inst("postgres"), inst("mysql"), inst("mariadb"),
		cluster("aurora-postgresql"), cluster("aurora-mysql"),
		cluster("postgres"), cluster("mysql"), // Multi-AZ DB clusters
	}
}

// TestFixesFitEngineAndKind: every check's fix, for every engine and kind,
// names only log types the engine exports, the TLS parameter of its
// engine, the commands and Terraform resources of its kind, no rdsgate
// command line, and no placeholder left unfilled.
func TestFixesFitEngineAndKind(t *testing.T) {
	for _, db := range fixDBs() {
		for _, c := range Checks() {
			t.Run(db.ID()+"/"+c.ID, func(t *testing.T) {
				rem := c.RemediationFor(db)
				all := rem.Text + "\n" + rem.CLI + "\n" + rem.Terraform
				engine := db.Engine()
				for _, re := range []*regexp.Regexp{logTypesCLI, logTypesTF} {
					for _, m := range re.FindAllStringSubmatch(all, -1) {
						for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
							if !slices.Contains(validLogTypes[engine], q[1]) {
								t.Errorf("log type %q is not exported by %s:\n%s", q[1], engine, all)
							}
						}
					}
				}
				if family(engine) == "mysql" && strings.Contains(strings.ToLower(all), "postgresql") || strings.Contains(all, "rds.force_ssl") && family(engine) == "mysql" {
					t.Errorf("a PostgreSQL setting in a %s fix:\n%s", engine, all)
				}
				if family(engine) == "postgres" && strings.Contains(all, "require_secure_transport") {
					t.Errorf("a MySQL setting in a %s fix:\n%s", engine, all)
				}
				if strings.Contains(all, "--db-instance-identifier "+db.ID()+" ") && db.Kind == KindCluster {
					t.Errorf("the cluster %s named as an instance:\n%s", db.ID(), all)
				}
				for _, m := range tfResourceR.FindAllStringSubmatch(rem.Terraform, -1) {
					switch {
					case db.Kind == KindInstance && strings.HasPrefix(m[1], "aws_rds_cluster"):
						t.Errorf("cluster resource %s in an instance's fix:\n%s", m[1], rem.Terraform)
					case db.Kind == KindCluster && (m[1] == "aws_db_instance" || m[1] == "aws_db_parameter_group" || m[1] == "aws_db_snapshot"):
						t.Errorf("instance resource %s in a cluster's fix:\n%s", m[1], rem.Terraform)
					}
				}
				if db.Kind == KindInstance && regexp.MustCompile(`aws rds [a-z-]*db-cluster`).MatchString(rem.CLI) {
					t.Errorf("a cluster command in an instance's fix:\n%s", rem.CLI)
				}
				if db.Kind == KindCluster && regexp.MustCompile(`(modify|restore)-db-instance|db-snapshot-identifier|db-parameter-group-name`).MatchString(rem.CLI) &&
					!strings.Contains(rem.CLI, "--db-instance-identifier m1") {
					t.Errorf("an instance command on cluster %s:\n%s", db.ID(), rem.CLI)
				}
				if strings.Contains(all, "rdsgate ") || strings.Contains(all, "--emit-alarms") {
					t.Errorf("a fix names rdsgate's command line:\n%s", all)
				}
				if p := regexp.MustCompile(`\{(id|region|port|arn|engine|kind|tf)\}`).FindString(all); p != "" {
					t.Errorf("placeholder %s left:\n%s", p, all)
				}
			})
		}
	}
}

// TestMariaDBFixNamesMariaDBLogs is the example: the logs of a
// MariaDB instance are audit, error and general, never postgresql.
func TestMariaDBFixNamesMariaDBLogs(t *testing.T) {
	db := fixDBs()[2]
	rem := CheckByID("audit-logs-not-exported").RemediationFor(db)
	for _, want := range []string{`"EnableLogTypes":["audit","error","general"]`, `enabled_cloudwatch_logs_exports = ["audit", "error", "general"]`} {
		if !strings.Contains(rem.CLI+rem.Terraform, want) {
			t.Errorf("MariaDB fix lacks %s:\n%s\n%s", want, rem.CLI, rem.Terraform)
		}
	}
}

// TestExpiredCertificateFixRotatesTheCA: the fix of an expired server
// certificate rotates each instance's CA.
func TestExpiredCertificateFixRotatesTheCA(t *testing.T) {
	for _, db := range fixDBs() {
		rem := CheckByID("ca-expiring").RemediationFor(db)
		for _, id := range memberIDs(db) {
			if want := "modify-db-instance --region eu-west-1 --db-instance-identifier " + id + " --ca-certificate-identifier " + CurrentCA; !strings.Contains(rem.CLI, want) {
				t.Errorf("%s: fix lacks %q:\n%s", db.ID(), want, rem.CLI)
			}
		}
	}
}

// TestAlarmFixIsTheKit: the no-outside-vpc-connection-alarm fix is the
// database's own metric filter and alarm.
func TestAlarmFixIsTheKit(t *testing.T) {
	db := fixDBs()[0]
	rem := CheckByID("no-outside-vpc-connection-alarm").RemediationFor(db)
	for _, want := range []string{"aws logs put-metric-filter --region eu-west-1", "/aws/rds/instance/db-postgres/postgresql", "aws cloudwatch put-metric-alarm", `"EnableLogTypes":["postgresql"]`, "aws_cloudwatch_log_metric_filter"} {
		if !strings.Contains(rem.CLI+rem.Terraform, want) {
			t.Errorf("alarm fix lacks %q:\n%s\n%s", want, rem.CLI, rem.Terraform)
		}
	}
}
