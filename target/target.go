// Package target resolves what a user names — a config entry, an RDS instance
// or cluster identifier, or an endpoint host name — to a Target: where the
// database is, what engine it runs, and how IAM authentication applies to it.
// It reads the RDS API; it never dials the database.
package target

import (
	"cmp"
	"fmt"
	"strings"
)

// Kind says what a Target was resolved from.
type Kind string

// Kinds of target.
const (
	KindInstance Kind = "instance"
	KindCluster  Kind = "cluster"
	// KindEndpoint is a host name the RDS API could not describe (another
	// account, no permission, or not RDS at all): only what the user said
	// about it is known.
	KindEndpoint Kind = "endpoint"
)

// Family is the wire protocol an engine speaks.
type Family string

// Protocol families.
const (
	FamilyPostgres Family = "postgres"
	FamilyMySQL    Family = "mysql"
)

// Protocol is the family's protocol as people name it: PostgreSQL or
// MySQL (MariaDB speaks MySQL's).
func (f Family) Protocol() string {
	if f == FamilyPostgres {
		return "PostgreSQL"
	}
	return "MySQL"
}

// RotateCertificateCommand is the AWS CLI command that gives t's server a
// new certificate from a current RDS CA (the instance restarts).
func (t Target) RotateCertificateCommand() string {
	return fmt.Sprintf("aws rds modify-db-instance --db-instance-identifier %s --ca-certificate-identifier rds-ca-rsa2048-g1 --apply-immediately --region %s", t.Identifier, t.Region)
}

// Target is a database rdsgate can reach.
type Target struct {
	// Name is what the user called it (config entry or identifier).
	Name       string `json:"name,omitempty"`
	Kind       Kind   `json:"kind"`
	Identifier string `json:"identifier"`
	// Engine is RDS's engine name: postgres, mysql, mariadb, aurora-postgresql, aurora-mysql.
	Engine        string `json:"engine"`
	EngineVersion string `json:"engine_version,omitempty"`
	// Host is the endpoint (the writer endpoint for a cluster), as RDS reports it.
	Host string `json:"endpoint"`
	// ReaderHost is a cluster's reader endpoint.
	ReaderHost string `json:"reader_endpoint,omitempty"`
	Port       int    `json:"port"`
	Region     string `json:"region"`
	// ResourceID is the id IAM policies name: db-... for an instance,
	// cluster-... for a cluster (Aurora instances use their cluster's).
	ResourceID string `json:"resource_id"`
	// ClusterIdentifier is set on instances that belong to a cluster.
	ClusterIdentifier string   `json:"cluster,omitempty"`
	IAMAuth           bool     `json:"iam_auth"`
	Public            bool     `json:"public"`
	Status            string   `json:"status,omitempty"`
	VPC               string   `json:"vpc,omitempty"`
	Subnets           []string `json:"subnets,omitempty"`
	SecurityGroups    []string `json:"security_groups,omitempty"`
	// CAIdentifier is the RDS CA the server certificate is issued by, e.g. rds-ca-rsa2048-g1.
	CAIdentifier string `json:"ca_identifier,omitempty"`
	// MasterUser is the master user's name, which rdsgate never hands out.
	MasterUser string `json:"master_user,omitempty"`
	// MasterSecretARN is the Secrets Manager secret RDS manages for the master user.
	MasterSecretARN string `json:"master_secret_arn,omitempty"`
}

// Family returns the wire protocol of t's engine, or "" when unknown.
func (t Target) Family() Family { return EngineFamily(t.Engine) }

// Address is host:port of the endpoint, for signing tokens and verifying TLS.
func (t Target) Address() string { return fmt.Sprintf("%s:%d", t.Host, t.Port) }

// EngineFamily maps an RDS engine name to its protocol family.
func EngineFamily(engine string) Family {
	switch e := strings.ToLower(engine); {
	case e == "postgres" || e == "postgresql" || e == "aurora-postgresql":
		return FamilyPostgres
	case e == "mysql" || e == "mariadb" || e == "aurora-mysql" || e == "aurora":
		return FamilyMySQL
	}
	return ""
}

// DefaultPort is the engine's usual port.
func DefaultPort(engine string) int {
	switch EngineFamily(engine) {
	case FamilyPostgres:
		return 5432
	case FamilyMySQL:
		return 3306
	}
	return 0
}

// RegionFromHost extracts the region from an RDS endpoint name such as
// mydb.abc123.eu-west-1.rds.amazonaws.com (or .rds.amazonaws.com.cn), or "".
func RegionFromHost(host string) string {
	labels := strings.Split(strings.ToLower(strings.TrimSuffix(host, ".")), ".")
	for i := 1; i+1 < len(labels); i++ {
		if labels[i+1] == "rds" && i+2 < len(labels) && strings.HasPrefix(labels[i+2], "amazonaws") {
			return labels[i]
		}
	}
	return ""
}

// EnableIAMAuthCommand is the AWS CLI command that turns IAM database
// authentication on for t (for a cluster member, on its cluster, where
// Aurora keeps the setting).
func (t Target) EnableIAMAuthCommand() string {
	if t.Kind == KindCluster || t.ClusterIdentifier != "" {
		return fmt.Sprintf("aws rds modify-db-cluster --db-cluster-identifier %s --enable-iam-database-authentication --apply-immediately --region %s",
			cmp.Or(t.ClusterIdentifier, t.Identifier), t.Region)
	}
	return fmt.Sprintf("aws rds modify-db-instance --db-instance-identifier %s --enable-iam-database-authentication --apply-immediately --region %s", t.Identifier, t.Region)
}
