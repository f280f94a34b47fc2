package ssm

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rdsgate/rdsgate/setting"
)

// BastionAPIs are the describe calls bastion selection needs.
type BastionAPIs struct {
	EC2 interface {
		DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	}
	SSM interface {
		DescribeInstanceInformation(context.Context, *ssm.DescribeInstanceInformationInput, ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error)
	}
}

// ErrNoBastion is an ssm route with neither an instance id nor a tag.
var ErrNoBastion = setting.Invalidf("ssm: the route needs a bastion: pass %s or %s, or create one: rdsgate bastion create TARGET",
	setting.Bastion.Is("i-..."), setting.BastionTag.Is("KEY=VALUE"))

// Bastion is an instance a route may go through, as EC2 and Systems
// Manager describe it.
type Bastion struct {
	Instance ec2types.Instance
	// Agent is the SSM agent's registration; nil when the instance is
	// not registered with Systems Manager (or SSM was not asked).
	Agent *ssmtypes.InstanceInformation
}

// ID is the instance id.
func (b Bastion) ID() string { return aws.ToString(b.Instance.InstanceId) }

// AvailabilityZone is the instance's zone ("" when unknown).
func (b Bastion) AvailabilityZone() string {
	if b.Instance.Placement == nil {
		return ""
	}
	return aws.ToString(b.Instance.Placement.AvailabilityZone)
}

// Online reports whether the SSM agent answers.
func (b Bastion) Online() bool {
	return b.Agent != nil && b.Agent.PingStatus == ssmtypes.PingStatusOnline
}

// DescribeBastions describes the candidates for a route: the instance id
// when given (in any state), else the running instances tagged KEY=VALUE,
// in id order, each with its agent's registration when apis.SSM is set.
// The one place that looks bastions up: the ssm route, EC2 Instance
// Connect and doctor all use it.
func DescribeBastions(ctx context.Context, apis BastionAPIs, id, tag string) ([]Bastion, error) {
	in := &ec2.DescribeInstancesInput{}
	what := id
	switch key, value, ok := strings.Cut(tag, "="); {
	case id != "":
		in.InstanceIds = []string{id}
	case ok && key != "":
		in.Filters = []ec2types.Filter{{Name: aws.String("tag:" + key), Values: []string{value}},
			{Name: aws.String("instance-state-name"), Values: []string{"running"}}}
		what = "instances tagged " + tag
	default:
		return nil, ErrNoBastion
	}
	out, err := apis.EC2.DescribeInstances(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("ssm: describe the bastion (%s): %w", what, err)
	}
	var bs []Bastion
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			bs = append(bs, Bastion{Instance: inst})
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].ID() < bs[j].ID() })
	if len(bs) == 0 || apis.SSM == nil {
		return bs, nil
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.ID()
	}
	info, err := apis.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: ids}}})
	if err != nil {
		return nil, fmt.Errorf("ssm: agent status of %s: %w", strings.Join(ids, ", "), err)
	}
	for i := range info.InstanceInformationList {
		ii := info.InstanceInformationList[i]
		for j := range bs {
			if bs[j].ID() == aws.ToString(ii.InstanceId) {
				bs[j].Agent = &ii
			}
		}
	}
	return bs, nil
}

// FindBastion picks a bastion: the instance id when given (StartSession
// says soon enough if its agent is offline, so no call is spent here), else
// a running instance with the tag (KEY=VALUE) whose SSM agent is online.
// It says which candidates it saw when none is usable.
func FindBastion(ctx context.Context, apis BastionAPIs, id, tag string) (string, error) {
	if id != "" {
		return id, nil
	}
	bs, err := DescribeBastions(ctx, apis, "", tag)
	if err != nil {
		return "", err
	}
	if len(bs) == 0 {
		return "", fmt.Errorf("ssm: no running instance is tagged %s", tag)
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		if b.Online() {
			return b.ID(), nil
		}
		ids[i] = b.ID()
	}
	return "", fmt.Errorf("ssm: instances tagged %s (%s) have no online SSM agent: %w", tag, strings.Join(ids, ", "), ErrAgentOffline)
}
