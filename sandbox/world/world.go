// Package world is the sandbox's model of an AWS account: principals and
// their policies, database instances, a Session Manager bastion, security
// groups and secrets. The sandbox's API server answers from it and its
// database fronts authorize logins against it. A World is built at
// start-up (faults included); while the sandbox serves, the API changes its
// network and IAM parts (instances, security groups, endpoints, roles and
// instance profiles) under its lock: see [World.View] and [World.Update].
package world

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

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
//
// Account, Region, Principals, Instances, Secrets, Subnets, RouteTables and
// Parameters do not change once the sandbox serves. Bastions,
// SecurityGroups, Endpoints, Roles, InstanceProfiles, LogGroups and
// LogsDownUntil do (the API's EC2, IAM and Logs writes, and the logs-down
// fault): while the world is shared, read them inside View and change them
// inside Update.
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
	// Endpoints are the VPC's interface endpoints.
	Endpoints []VPCEndpoint
	// Roles and InstanceProfiles are the account's IAM roles and instance
	// profiles (those the API created).
	Roles            []Role
	InstanceProfiles []InstanceProfile
	// Parameters are Systems Manager's public parameters, by name (the
	// latest Amazon Linux images).
	Parameters map[string]string
	// LogGroups are CloudWatch Logs groups (those the API created), with
	// their streams and events.
	LogGroups []LogGroup
	// LogsDownUntil makes CloudWatch Logs refuse every call as unavailable
	// until then (the logs-down fault); zero means up.
	LogsDownUntil time.Time
	// SessionLimit bounds the account's connected Session Manager sessions
	// (the ssm-session-limit fault): StartSession beyond it is refused as
	// over the service quota. Zero means no limit. Set before the sandbox
	// serves; it does not change.
	SessionLimit int

	mu sync.RWMutex
}

// View runs fn with the world's changing parts locked for reading. fn must
// not keep pointers into them after it returns.
func (w *World) View(fn func()) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	fn()
}

// Update runs fn with the world locked for writing.
func (w *World) Update(fn func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fn()
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
	// Policies are the principal's identity policies; PolicyNames name
	// the inline ones PutUserPolicy put (by index; "" for the built-in).
	Policies    []iampolicy.Document
	PolicyNames []string
}

// User is the IAM user name of a principal that is a user ("" for others).
func (p *Principal) User() string {
	_, name, ok := strings.Cut(p.ARN, ":user/")
	if !ok {
		return ""
	}
	return name
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
// Manager tunnels reach the databases: the sandbox's own (built with the
// world, its agent online or not by AgentOnline) or one RunInstances
// launched (Launched; its agent is online when the instance could reach
// Systems Manager: see [World.AgentOnline]).
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

	// Launched marks an instance RunInstances created; the fields below
	// are set for those.
	Launched     bool
	ImageID      string
	InstanceType string
	Architecture string
	// InstanceProfile is the instance profile's name ("" for none).
	InstanceProfile string
	KeyName         string
	PublicIP        string
	// HTTPTokens is "required" (IMDSv2) or "optional"; HopLimit is the
	// metadata response hop limit.
	HTTPTokens string
	HopLimit   int
	LaunchTime time.Time
	// State is the instance state (pending, running, stopping, stopped,
	// shutting-down, terminated); at Until it becomes Next, when Next is
	// set: EC2's transitions take a while.
	State string
	Next  string
	Until time.Time
}

// Instance states.
const (
	StatePending      = "pending"
	StateRunning      = "running"
	StateStopping     = "stopping"
	StateStopped      = "stopped"
	StateShuttingDown = "shutting-down"
	StateTerminated   = "terminated"
)

// StateAt is the instance's state at now: a built-in bastion always runs.
func (b *Bastion) StateAt(now time.Time) string {
	switch {
	case b.State == "":
		return StateRunning
	case b.Next != "" && !now.Before(b.Until):
		return b.Next
	}
	return b.State
}

// Transition moves the instance to state now, and to next after d (next
// "": it stays).
func (b *Bastion) Transition(state, next string, now time.Time, d time.Duration) {
	b.State, b.Next, b.Until = state, next, now.Add(d)
}

// SecurityGroup is a VPC security group with its rules.
type SecurityGroup struct {
	ID          string
	Name        string
	Description string
	VPC         string
	Ingress     []Rule
	// Egress rules; a group built without any gets AWS's default (all
	// traffic to 0.0.0.0/0) when the API starts serving the world.
	Egress []Rule
	Tags   map[string]string
}

// Rule is one rule: TCP ports from (ingress) or to (egress) CIDRs or other
// groups.
type Rule struct {
	Protocol     string // "tcp" or "-1"
	FromPort     int
	ToPort       int
	CIDRs        []string
	SourceGroups []string
	// Description is the rule's description.
	Description string
}

// Covers reports whether r's protocol and ports admit TCP port.
func (r Rule) Covers(port int) bool {
	return r.Protocol == "-1" || (r.Protocol == "" || r.Protocol == "tcp") && r.FromPort <= port && port <= r.ToPort
}

// VPCEndpoint is an interface VPC endpoint.
type VPCEndpoint struct {
	ID             string
	VPC            string
	Service        string // com.amazonaws.REGION.ssm
	Subnets        []string
	SecurityGroups []string
	PrivateDNS     bool
	State          string // available
	Created        time.Time
	Tags           map[string]string
}

// Role is an IAM role.
type Role struct {
	Name        string
	ID          string
	ARN         string
	TrustPolicy string
	Description string
	// Policies are the ARNs of the attached managed policies.
	Policies []string
	Created  time.Time
	Tags     map[string]string
}

// InstanceProfile is an IAM instance profile and its role (at most one).
type InstanceProfile struct {
	Name    string
	ID      string
	ARN     string
	Roles   []string
	Created time.Time
	Tags    map[string]string
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

// UserPrincipal finds the principal that is the IAM user name.
func (w *World) UserPrincipal(name string) (*Principal, bool) {
	for i := range w.Principals {
		if w.Principals[i].User() == name {
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

// Role finds a role by name.
func (w *World) Role(name string) (*Role, bool) {
	for i := range w.Roles {
		if w.Roles[i].Name == name {
			return &w.Roles[i], true
		}
	}
	return nil, false
}

// InstanceProfile finds an instance profile by name.
func (w *World) InstanceProfile(name string) (*InstanceProfile, bool) {
	for i := range w.InstanceProfiles {
		if w.InstanceProfiles[i].Name == name {
			return &w.InstanceProfiles[i], true
		}
	}
	return nil, false
}

// Subnet finds a subnet by id.
func (w *World) Subnet(id string) (*Subnet, bool) {
	for i := range w.Subnets {
		if w.Subnets[i].ID == id {
			return &w.Subnets[i], true
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

// Expired is the statement that would allow an implicitly denied request
// if it came before its DateLessThan aws:CurrentTime had passed: access
// that ended, which a refusal should name as such.
func (w *World) Expired(p *Principal, action, resource string, extra map[string]string) (iampolicy.Result, bool) {
	then := map[string]string{}
	maps.Copy(then, extra)
	then["aws:CurrentTime"], then["aws:EpochTime"] = "2000-01-01T00:00:00Z", "946684800"
	res := w.Authorize(p, action, resource, then)
	return res, res.Decision == iampolicy.Allowed
}

// DBUserARN is the resource rds-db:connect is checked against.
func (w *World) DBUserARN(inst *Instance, dbUser string) string {
	return fmt.Sprintf("arn:aws:rds-db:%s:%s:dbuser:%s/%s", w.Region, w.Account, inst.ResourceID, dbUser)
}

// Endpoint builds the RDS-style endpoint name for an identifier.
func Endpoint(identifier, region string) string {
	return strings.ToLower(identifier) + "." + DomainLabel + "." + region + ".rds.amazonaws.com"
}
