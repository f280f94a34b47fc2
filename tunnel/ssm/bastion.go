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

// FindBastion picks a bastion: the instance id when given, else a running
// instance with the tag (KEY=VALUE) whose SSM agent is online. It says which
// candidates it saw when none is usable.
func FindBastion(ctx context.Context, apis BastionAPIs, id, tag string) (string, error) {
	if id != "" {
		return id, nil
	}
	key, value, ok := strings.Cut(tag, "=")
	if !ok || key == "" {
		return "", fmt.Errorf("ssm: no bastion: pass --bastion i-... or --bastion-tag KEY=VALUE")
	}
	out, err := apis.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + key), Values: []string{value}},
		{Name: aws.String("instance-state-name"), Values: []string{"running"}},
	}})
	if err != nil {
		return "", fmt.Errorf("ssm: find bastions tagged %s: %w", tag, err)
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, inst := range r.Instances {
			ids = append(ids, aws.ToString(inst.InstanceId))
		}
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("ssm: no running instance is tagged %s", tag)
	}
	sort.Strings(ids)
	info, err := apis.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: ids}}})
	if err != nil {
		return "", fmt.Errorf("ssm: agent status of %s: %w", strings.Join(ids, ", "), err)
	}
	online := map[string]bool{}
	for _, i := range info.InstanceInformationList {
		online[aws.ToString(i.InstanceId)] = i.PingStatus == ssmtypes.PingStatusOnline
	}
	for _, id := range ids {
		if online[id] {
			return id, nil
		}
	}
	return "", fmt.Errorf("ssm: instances tagged %s (%s) have no online SSM agent: %w", tag, strings.Join(ids, ", "), ErrAgentOffline)
}
