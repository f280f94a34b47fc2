package grant

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/iamauth"
	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/target"
)

// PolicyVersion is the IAM policy language version.
const PolicyVersion = "2012-10-17"

// PortForwardDocument is the Session Manager document rdsgate's SSM route
// starts.
const PortForwardDocument = "AWS-StartPortForwardingSessionToRemoteHost"

// Document is an IAM policy document.
type Document struct {
	Version   string
	Statement []Statement
}

// Statement is one IAM policy statement. Conditions keep their order.
type Statement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  []string
	Condition []Condition
}

// Condition is one operator, key and values of a Condition block.
type Condition struct {
	Operator string
	Key      string
	Values   []string
	// List keeps a single value as a one-element list.
	List bool
}

// Access is who may connect to what, for Policy.
type Access struct {
	// Target is the database; its ResourceID and Region are used.
	Target target.Target
	// Account is the AWS account id of the database.
	Account string
	// DBUser is the database user the caller may sign in as.
	DBUser string
	// Bastion is the Session Manager bastion's instance id; empty: no SSM
	// statements.
	Bastion string
	// Until, when set, ends the access then (every statement gets a
	// DateLessThan aws:CurrentTime condition): access that expires
	// without anyone remembering to revoke it.
	Until time.Time
}

// Partition returns the ARN partition of region.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	}
	return "aws"
}

var (
	resourceIDRe = regexp.MustCompile(`^(db|cluster)-[A-Za-z0-9]+$`)
	accountRe    = regexp.MustCompile(`^[0-9]{12}$`)
	// Instance ids are hex on AWS; letters and digits are what matters
	// here (no wildcard or slash can widen the ARN), and the sandbox's
	// bastion is i-0sandbox00000000b1.
	instanceIDRe = regexp.MustCompile(`^(i|mi)-[0-9a-z]{8,20}$`)
)

// Policy returns the least-privilege policy that lets a principal sign in
// as a.DBUser (rds-db:connect on the resource id ARN) and, with a bastion,
// reach the database through Session Manager port forwarding.
func Policy(a Access) (Document, error) {
	t := a.Target
	switch {
	case a.DBUser == "":
		return Document{}, setting.Errorf("no database user: pass %s (one policy per user; never the master user)", setting.User.Is("DBUSER"))
	case a.Target.MasterUser != "" && strings.EqualFold(a.DBUser, a.Target.MasterUser):
		return Document{}, fmt.Errorf("%q is the master user: %w; grant a user of its own with rdsgate grant", a.DBUser, ErrMasterUser)
	case !resourceIDRe.MatchString(t.ResourceID):
		return Document{}, fmt.Errorf("%s has no resource id (db-... or cluster-...), which the policy must name instead of the identifier: "+
			"resolve it by instance or cluster id with RDS API access (rdsgate ls shows it)", first(t.Identifier, t.Host))
	case !accountRe.MatchString(a.Account):
		return Document{}, fmt.Errorf("account id %q is not 12 digits", a.Account)
	case t.Region == "":
		return Document{}, fmt.Errorf("%s has no region", t.Identifier)
	case a.Bastion != "" && !instanceIDRe.MatchString(a.Bastion):
		return Document{}, fmt.Errorf("bastion %q is not an instance id (i-... or mi-...)", a.Bastion)
	}
	part := Partition(t.Region)
	d := Document{Version: PolicyVersion, Statement: []Statement{{
		Sid: "ConnectAsDatabaseUser", Effect: "Allow", Action: []string{"rds-db:connect"},
		Resource: []string{iamauth.PolicyResourceARN(part, t.Region, a.Account, t.ResourceID, a.DBUser)},
	}}}
	if a.Bastion == "" {
		// rdsgate looks the database up before it signs in: without
		// these, a principal holding exactly this policy is refused.
		d.Statement = append(d.Statement, Statement{Sid: "FindTheDatabase", Effect: "Allow",
			Action: []string{"rds:DescribeDBInstances", "rds:DescribeDBClusters"}, Resource: []string{"*"}})
		return until(d, a.Until), nil
	}
	d.Statement = append(d.Statement,
		Statement{Sid: "StartPortForwardingToTheDatabase", Effect: "Allow", Action: []string{"ssm:StartSession"},
			Resource: []string{
				fmt.Sprintf("arn:%s:ec2:%s:%s:instance/%s", part, t.Region, a.Account, a.Bastion),
				fmt.Sprintf("arn:%s:ssm:%s::document/%s", part, t.Region, PortForwardDocument),
			},
			Condition: []Condition{{Operator: "BoolIfExists", Key: "ssm:SessionDocumentAccessCheck", Values: []string{"true"}}}},
		Statement{Sid: "FindTheBastionAndTheDatabase", Effect: "Allow",
			Action:   []string{"ssm:DescribeInstanceInformation", "ec2:DescribeInstances", "rds:DescribeDBInstances", "rds:DescribeDBClusters"},
			Resource: []string{"*"}},
		Statement{Sid: "EndAndResumeOwnSessionsOnly", Effect: "Allow", Action: []string{"ssm:TerminateSession", "ssm:ResumeSession"},
			Resource:  []string{fmt.Sprintf("arn:%s:ssm:*:*:session/*", part)},
			Condition: []Condition{{Operator: "StringLike", Key: "ssm:resourceTag/aws:ssmmessages:session-id", Values: []string{"${aws:userid}"}, List: true}}},
	)
	return until(d, a.Until), nil
}

// until makes every statement of d end at t (none when t is zero).
func until(d Document, t time.Time) Document {
	if t.IsZero() {
		return d
	}
	for i := range d.Statement {
		// Only what grants access ends: finding the database and ending
		// one's own sessions stay, so that rdsgate can still say the
		// access has ended rather than that it cannot look.
		if s := d.Statement[i].Sid; s != "ConnectAsDatabaseUser" && s != "StartPortForwardingToTheDatabase" {
			continue
		}
		d.Statement[i].Condition = append(d.Statement[i].Condition,
			Condition{Operator: "DateLessThan", Key: "aws:CurrentTime", Values: []string{t.UTC().Format(time.RFC3339)}})
	}
	return d
}

// Guarded is a database the deletion guard protects.
type Guarded struct {
	Target  target.Target
	Account string
}

// ARNs returns the rds ARNs of g: db:ID for an instance (and cluster:ID of
// its Aurora cluster), cluster:ID for a cluster.
func (g Guarded) ARNs() []string {
	t := g.Target
	base := fmt.Sprintf("arn:%s:rds:%s:%s:", Partition(t.Region), t.Region, g.Account)
	switch {
	case t.Kind == target.KindCluster:
		return []string{base + "cluster:" + t.Identifier}
	case t.ClusterIdentifier != "":
		return []string{base + "db:" + t.Identifier, base + "cluster:" + t.ClusterIdentifier}
	}
	return []string{base + "db:" + t.Identifier}
}

// DenyDeletePolicy returns the deletion guard for dbs: deny deleting them,
// and deny modifying them, since modifying is how deletion protection is
// turned off first.
//
// IAM has no condition key for the DeletionProtection parameter of
// rds:ModifyDBInstance/ModifyDBCluster (checked against AWS's Service
// Authorization Reference for RDS: ModifyDBInstance's only request key is
// rds:ManageMasterUserPassword; ModifyDBCluster adds rds:DatabaseClass,
// rds:Piops and rds:StorageSize; no rds: key concerns deletion protection),
// so "deny turning deletion protection off" cannot be said on its own, and a
// condition on the non-existent "rds:DeletionProtection" would never match.
// See docs/deletion-guard.md. The guard therefore denies every Modify call on
// the guarded databases; exempt names a break-glass role (or other
// principal ARN patterns) left out of that deny with an ArnNotLike
// aws:PrincipalArn condition, so changes still happen, deliberately, through
// that role. Attach it to the roles people and pipelines use, or use it as
// a service control policy.
func DenyDeletePolicy(dbs []Guarded, exempt []string) (Document, error) {
	if len(dbs) == 0 {
		return Document{}, errors.New("no databases to guard: name at least one TARGET")
	}
	var arns []string
	for _, g := range dbs {
		if g.Target.Kind == target.KindEndpoint || g.Target.Identifier == "" {
			return Document{}, fmt.Errorf("%s is not an RDS instance or cluster this account can describe; name it by its identifier", first(g.Target.Name, g.Target.Host))
		}
		if !accountRe.MatchString(g.Account) {
			return Document{}, fmt.Errorf("account id %q is not 12 digits", g.Account)
		}
		for _, a := range g.ARNs() {
			if !contains(arns, a) {
				arns = append(arns, a)
			}
		}
	}
	modify := Statement{Sid: "DenyModifyingProtectedDatabases", Effect: "Deny",
		Action: []string{"rds:ModifyDBInstance", "rds:ModifyDBCluster"}, Resource: arns}
	if len(exempt) > 0 {
		modify.Condition = []Condition{{Operator: "ArnNotLike", Key: "aws:PrincipalArn", Values: exempt, List: true}}
	}
	return Document{Version: PolicyVersion, Statement: []Statement{
		{Sid: "DenyDeletingProtectedDatabases", Effect: "Deny", Action: []string{"rds:DeleteDBInstance", "rds:DeleteDBCluster"}, Resource: arns},
		modify,
	}}, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
