// Package bastion builds, checks, starts, stops and removes the Session
// Manager bastion of a database's VPC: one Design (the security groups and
// rules, the instance role and profile, the interface endpoints and the
// instance) drives the plan, the changes, the status and the Terraform and
// CloudFormation output, so that they cannot drift apart.
package bastion

import (
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/rdsgate/rdsgate/setting"
)

// TagKey is the tag every resource the package creates carries, with the
// VPC id as its value; Destroy touches nothing without it.
const TagKey = "rdsgate:bastion"

// IdleStopTagKey is the instance tag that records the idle-stop setting,
// for Status (the instance itself reads its user data, not its tags).
const IdleStopTagKey = "rdsgate:idle-stop"

// Defaults of a Spec.
const (
	DefaultInstanceType = "t4g.nano"
	DefaultIdleStop     = 30 * time.Minute
	// VolumeGiB is the root volume's size: AL2023's image needs 2 GiB,
	// EBS charges by the GiB.
	VolumeGiB = 8
	// SSMCorePolicyARN is the one policy the instance role gets.
	SSMCorePolicyARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
	// imageParameterPrefix + architecture is Amazon Linux 2023's public
	// SSM parameter for the latest image.
	imageParameterPrefix = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-"
)

// Waits. Tests shorten them.
var (
	// PollInterval is how often Apply, Start and Stop look at a slow step.
	PollInterval = 3 * time.Second
	// RunningTimeout bounds waiting for an instance to run or stop.
	RunningTimeout = 5 * time.Minute
	// AgentTimeout bounds waiting for the SSM agent to come online.
	AgentTimeout = 10 * time.Minute
	// ProfileTimeout bounds retrying RunInstances while a new instance
	// profile propagates through IAM.
	ProfileTimeout = 2 * time.Minute
)

// EndpointMode says whether the bastion gets interface endpoints for
// Session Manager.
type EndpointMode string

// Endpoint modes.
const (
	// EndpointsAuto creates them where the subnet has no NAT route.
	EndpointsAuto EndpointMode = "auto"
	// EndpointsYes always creates them.
	EndpointsYes EndpointMode = "yes"
	// EndpointsNo never does (the subnet must have a NAT route).
	EndpointsNo EndpointMode = "no"
)

// Spec is what a caller asks for beyond the database: each field has a
// default.
type Spec struct {
	// Subnet is the bastion's subnet (default: a private subnet of the
	// database, one with a NAT route first).
	Subnet string
	// InstanceType defaults to DefaultInstanceType (Graviton: arm64).
	InstanceType string
	// IdleStop stops the instance after this long with no Session Manager
	// session (default DefaultIdleStop; negative: never).
	IdleStop time.Duration
	// Endpoints defaults to EndpointsAuto.
	Endpoints EndpointMode
}

// Clients are the AWS APIs the package calls.
type Clients struct {
	EC2 *ec2.Client
	IAM *iam.Client
	SSM *ssm.Client
}

// NewClients builds the clients from cfg.
func NewClients(cfg aws.Config) Clients {
	return Clients{EC2: ec2.NewFromConfig(cfg), IAM: iam.NewFromConfig(cfg), SSM: ssm.NewFromConfig(cfg)}
}

// Progress hears the slow steps of Apply, Start and Stop.
type Progress interface {
	Begin(step string)
	Done(step string, took time.Duration, detail string)
}

type quiet struct{}

func (quiet) Begin(string)                       {}
func (quiet) Done(string, time.Duration, string) {}

// Errors callers tell apart.
var (
	// ErrNoVPC is a database whose VPC is unknown (not in a VPC, or
	// described from another account).
	ErrNoVPC = errors.New("bastion: the database's VPC is unknown")
	// ErrNoSubnet is a VPC with no private subnet that fits.
	ErrNoSubnet = errors.New("bastion: no private subnet fits the bastion")
	// ErrNoBastion is a VPC without an rdsgate bastion.
	ErrNoBastion = errors.New("bastion: the VPC has no rdsgate bastion")
)

// NotOursError is a resource in the bastion's place that rdsgate did not
// create (it lacks the tag): rdsgate neither uses nor removes it.
type NotOursError struct {
	Kind, Name string
}

func (e *NotOursError) Error() string {
	return fmt.Sprintf("bastion: %s %s exists without the tag %s: rdsgate did not create it and will not change or remove it; rename or remove it yourself", e.Kind, e.Name, TagKey)
}

// PublicSubnetError is a subnet that routes to an internet gateway.
type PublicSubnetError struct{ Subnet string }

func (e *PublicSubnetError) text() setting.Text {
	return setting.Textf("bastion: subnet %s routes 0.0.0.0/0 to an internet gateway: the bastion goes in a private subnet; choose another with %s", e.Subnet, setting.Subnet)
}

func (e *PublicSubnetError) Error() string { return e.text().String() }

// Render spells the setting the message names in s.
func (e *PublicSubnetError) Render(s setting.Style) string { return e.text().Render(s) }

// NoPathError is a subnet with no NAT route where the endpoints are
// refused: the agent could not reach Systems Manager.
type NoPathError struct{ Subnet string }

func (e *NoPathError) text() setting.Text {
	return setting.Textf("bastion: subnet %s has no NAT route and the endpoints are refused: the SSM agent could not reach Systems Manager; set %s, or choose a subnet with a NAT route with %s", e.Subnet, setting.Endpoints.Is("yes"), setting.Subnet)
}

func (e *NoPathError) Error() string { return e.text().String() }

// Render spells the settings the message names in s.
func (e *NoPathError) Render(s setting.Style) string { return e.text().Render(s) }
