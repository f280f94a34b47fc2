// Package world is the sandbox's model of an AWS account: principals and
// their policies, database instances, a Session Manager bastion, security
// groups and secrets. The sandbox's API server answers from it and its
// database fronts authorize logins against it. A World is built once at
// start-up (faults included) and read concurrently afterwards; it is not
// changed while the sandbox serves.
package world

import (
	"fmt"
	"strings"

	"github.com/rdsgate/rdsgate/sandbox/iampolicy"
)

// Default names used by the sandbox.
const (
	DefaultAccount = "111122223333"
	DefaultRegion  = "us-east-1"
	// DomainLabel is the fake RDS endpoint's account label: endpoints look like
	// demo-pg.c0sandbox.us-east-1.rds.amazonaws.com and do not resolve.
	DomainLabel = "c0sandbox"
)

// World is one sandbox account in one region.
type World struct {
	Account        string
	Region         string
	Principals     []Principal
	Instances      []Instance
	Bastions       []Bastion
	SecurityGroups []SecurityGroup
	Secrets        []Secret
	Subnets        []Subnet
	RouteTables    []RouteTable
	// Parameters are Systems Manager's public parameters, by name (the
	// latest Amazon Linux images).
	Parameters map[string]string
}

// Subnet is a VPC subnet.
type Subnet struct {
	ID, VPC, AvailabilityZone, CIDR string
}

// RouteTable is a VPC route table with the subnets associated with it;
// Main is the VPC's main table, which serves the subnets of no other.
type RouteTable struct {
	ID      string
	VPC     string
	Main    bool
	Subnets []string
	Routes  []Route
}

// Route is one route: to a gateway (local, igw-...) or a NAT gateway.
type Route struct {
	Destination string
	Gateway     string
	NATGateway  string
}

// Principal is an IAM identity with an access key.
type Principal struct {
	// Name is a short name, e.g. "admin" or "intern".
	Name string
	// Profile is the AWS profile the sandbox writes for the principal.
	Profile string
	// ARN is e.g. arn:aws:iam::111122223333:user/admin.
	ARN string
	// UserID is what aws:userid and GetCallerIdentity's UserId say.
	UserID          string
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is set for temporary credentials; requests and tokens
	// signed with them must carry it.
	SessionToken string
	// Policies are the principal's identity policies.
	Policies []iampolicy.Document
}

// Instance is a database instance behind a sandbox front.
type Instance struct {
	Identifier    string
	Engine        string // postgres or mariadb (or mysql)
	EngineVersion string
	// Endpoint is the RDS-style name the server certificate is issued for.
	Endpoint string
	// Port is the endpoint's port: tokens are signed for Endpoint:Port.
	Port       int
	ResourceID string // db-...
	IAMAuth    bool
	Public     bool
	Status     string
	VPC        string
	Subnets    []string
	// SecurityGroups are the instance's VPC security group ids.
	SecurityGroups []string
	CAIdentifier   string
	MasterUser     string
	// MasterSecretARN names the Secrets Manager secret holding the master
	// user's credentials, as RDS's managed master password does.
	MasterSecretARN string
	// Backend is what serves the data behind the front: "installed"
	// (a throwaway PostgreSQL/MariaDB) or "embedded".
	Backend string
	// FrontAddr is the loopback host:port of the front that stands in for
	// Endpoint:Port. Only the sandbox's tunnels (and tests) dial it.
	FrontAddr string
}

// Bastion is an EC2 instance with the SSM agent, through which Session
// Manager tunnels reach the databases.
type Bastion struct {
	InstanceID       string
	Name             string
	AgentOnline      bool
	AgentVersion     string
	PlatformName     string
	VPC              string
	Subnet           string
	AvailabilityZone string
	PrivateIP        string
	SecurityGroups   []string
	Tags             map[string]string
}

// SecurityGroup is a VPC security group with its ingress rules.
type SecurityGroup struct {
	ID          string
	Name        string
	Description string
	VPC         string
	Ingress     []Rule
}

// Rule is one ingress rule: TCP ports from CIDRs or from other groups.
type Rule struct {
	Protocol     string // "tcp" or "-1"
	FromPort     int
	ToPort       int
	CIDRs        []string
	SourceGroups []string
}

// Secret is a Secrets Manager secret.
type Secret struct {
	ARN          string
	Name         string
	SecretString string
}

// PrincipalByKey finds the principal owning an access key id.
func (w *World) PrincipalByKey(accessKeyID string) (*Principal, bool) {
	for i := range w.Principals {
		if w.Principals[i].AccessKeyID == accessKeyID {
			return &w.Principals[i], true
		}
	}
	return nil, false
}

// Instance finds an instance by identifier.
func (w *World) Instance(id string) (*Instance, bool) {
	for i := range w.Instances {
		if w.Instances[i].Identifier == id {
			return &w.Instances[i], true
		}
	}
	return nil, false
}

// Bastion finds a bastion by instance id.
func (w *World) Bastion(id string) (*Bastion, bool) {
	for i := range w.Bastions {
		if w.Bastions[i].InstanceID == id {
			return &w.Bastions[i], true
		}
	}
	return nil, false
}

// SecurityGroup finds a group by id.
func (w *World) SecurityGroup(id string) (*SecurityGroup, bool) {
	for i := range w.SecurityGroups {
		if w.SecurityGroups[i].ID == id {
			return &w.SecurityGroups[i], true
		}
	}
	return nil, false
}

// Secret finds a secret by ARN or name.
func (w *World) Secret(id string) (*Secret, bool) {
	for i := range w.Secrets {
		if w.Secrets[i].ARN == id || w.Secrets[i].Name == id {
			return &w.Secrets[i], true
		}
	}
	return nil, false
}

// Authorize evaluates p's policies for action on resource, with the
// request context keys IAM would supply (aws:userid, aws:username, ...).
func (w *World) Authorize(p *Principal, action, resource string, extra map[string]string) iampolicy.Result {
	ctx := map[string]string{
		"aws:userid":           p.UserID,
		"aws:username":         p.Name,
		"aws:PrincipalArn":     p.ARN,
		"aws:PrincipalAccount": w.Account,
	}
	for k, v := range extra {
		ctx[k] = v
	}
	return iampolicy.Evaluate(p.Policies, iampolicy.Request{Action: action, Resource: resource, Context: ctx})
}

// DBUserARN is the resource rds-db:connect is checked against.
func (w *World) DBUserARN(inst *Instance, dbUser string) string {
	return fmt.Sprintf("arn:aws:rds-db:%s:%s:dbuser:%s/%s", w.Region, w.Account, inst.ResourceID, dbUser)
}

// Endpoint builds the RDS-style endpoint name for an identifier.
func Endpoint(identifier, region string) string {
	return strings.ToLower(identifier) + "." + DomainLabel + "." + region + ".rds.amazonaws.com"
}
