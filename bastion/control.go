package bastion

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/rdsgate/rdsgate/setting"
)

// StoppedError is a managed bastion that is stopped where the caller
// refused to start it.
type StoppedError struct{ Instance, VPC string }

func (e *StoppedError) text() setting.Text {
	return setting.Textf("bastion: the rdsgate bastion %s of %s is stopped: start it (rdsgate bastion start TARGET), or leave out %s and rdsgate starts it",
		e.Instance, e.VPC, setting.NoStart)
}

func (e *StoppedError) Error() string { return e.text().String() }

// Render spells the setting that starts it in s.
func (e *StoppedError) Render(s setting.Style) string { return e.text().Render(s) }

// Start starts the VPC's bastion when it is stopped and waits until it
// runs and its agent is online. It returns the instance id.
func Start(ctx context.Context, c Clients, vpc string, progress Progress) (string, error) {
	return Ready(ctx, c, vpc, true, progress)
}

// Ready returns the VPC's bastion once its agent is online: with start,
// a stopped one is started first; without, it is a StoppedError. A VPC
// without one is ErrNoBastion.
func Ready(ctx context.Context, c Clients, vpc string, start bool, progress Progress) (string, error) {
	if progress == nil {
		progress = quiet{}
	}
	inst, id, err := theBastion(ctx, c, vpc)
	if err != nil {
		return "", err
	}
	if !start && inst.State.Name != ec2types.InstanceStateNameRunning && inst.State.Name != ec2types.InstanceStateNamePending {
		return id, &StoppedError{Instance: id, VPC: vpc}
	}
	return id, startAndWait(ctx, c, id, progress)
}

// theBastion is the VPC's bastion instance and its id; none is
// ErrNoBastion.
func theBastion(ctx context.Context, c Clients, vpc string) (*ec2types.Instance, string, error) {
	inst, err := findInstance(ctx, c, vpc)
	if err != nil {
		return nil, "", err
	}
	if inst == nil {
		return nil, "", fmt.Errorf("%w %s", ErrNoBastion, vpc)
	}
	return inst, aws.ToString(inst.InstanceId), nil
}

// Stop stops the VPC's bastion and waits until it is stopped.
func Stop(ctx context.Context, c Clients, vpc string, progress Progress) (string, error) {
	if progress == nil {
		progress = quiet{}
	}
	inst, id, err := theBastion(ctx, c, vpc)
	if err != nil {
		return "", err
	}
	if inst.State.Name != ec2types.InstanceStateNameStopped {
		if _, err := c.EC2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
			return id, fmt.Errorf("bastion: stop %s: %w", id, err)
		}
	}
	return id, waitState(ctx, c, id, ec2types.InstanceStateNameStopped, progress, "stopped")
}

// Owned is everything of a VPC's that carries the tag, and the rules in
// other groups that admit rdsgate's groups: what Destroy removes.
type Owned struct {
	VPC       string
	Instances []ec2types.Instance
	Groups    []ec2types.SecurityGroup
	Endpoints []ec2types.VpcEndpoint
	// Rules are ingress rules of other groups (the database's) whose peer
	// is one of Groups.
	Rules   []GroupRule
	Role    *iamtypes.Role
	Profile *iamtypes.InstanceProfile
}

// GroupRule is one ingress permission of a group.
type GroupRule struct {
	Group      string
	Permission ec2types.IpPermission
}

// Empty reports whether nothing is left.
func (o *Owned) Empty() bool {
	return len(o.Instances)+len(o.Groups)+len(o.Endpoints)+len(o.Rules) == 0 && o.Role == nil && o.Profile == nil
}

// FindOwned lists what rdsgate created for vpc's bastion, by its tag.
func FindOwned(ctx context.Context, c Clients, vpc string) (*Owned, error) {
	o := &Owned{VPC: vpc}
	tagged := []ec2types.Filter{{Name: aws.String("tag:" + TagKey), Values: []string{vpc}}}
	insts, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: append(tagged,
		ec2types.Filter{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped", "shutting-down"}})})
	if err != nil {
		return nil, fmt.Errorf("bastion: describe the instances tagged %s=%s: %w", TagKey, vpc, err)
	}
	for _, r := range insts.Reservations {
		o.Instances = append(o.Instances, r.Instances...)
	}
	groups, err := c.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil {
		return nil, fmt.Errorf("bastion: describe the security groups of %s: %w", vpc, err)
	}
	ours := map[string]bool{}
	for _, g := range groups.SecurityGroups {
		if ec2Tag(g.Tags, TagKey) == vpc {
			o.Groups = append(o.Groups, g)
			ours[aws.ToString(g.GroupId)] = true
		}
	}
	for _, g := range groups.SecurityGroups {
		if ours[aws.ToString(g.GroupId)] {
			continue
		}
		for _, p := range g.IpPermissions {
			for _, pair := range p.UserIdGroupPairs {
				if ours[aws.ToString(pair.GroupId)] {
					q := p
					q.UserIdGroupPairs, q.IpRanges, q.Ipv6Ranges, q.PrefixListIds = []ec2types.UserIdGroupPair{pair}, nil, nil, nil
					o.Rules = append(o.Rules, GroupRule{Group: aws.ToString(g.GroupId), Permission: q})
				}
			}
		}
	}
	eps, err := c.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: append(tagged,
		ec2types.Filter{Name: aws.String("vpc-id"), Values: []string{vpc}})})
	if err != nil {
		return nil, fmt.Errorf("bastion: describe the endpoints of %s: %w", vpc, err)
	}
	for _, e := range eps.VpcEndpoints {
		if !gone(e) && ec2Tag(e.Tags, TagKey) == vpc {
			o.Endpoints = append(o.Endpoints, e)
		}
	}
	name := Design{VPC: vpc}.Name()
	role, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	switch {
	case isCode(err, "NoSuchEntity"):
	case err != nil:
		return nil, fmt.Errorf("bastion: get role %s: %w", name, err)
	case iamTag(role.Role.Tags, TagKey) == vpc:
		o.Role = role.Role
	}
	prof, err := c.IAM.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	switch {
	case isCode(err, "NoSuchEntity"):
	case err != nil:
		return nil, fmt.Errorf("bastion: get instance profile %s: %w", name, err)
	case iamTag(prof.InstanceProfile.Tags, TagKey) == vpc:
		o.Profile = prof.InstanceProfile
	}
	return o, nil
}

// WriteText lists what Destroy removes, in its order.
func (o *Owned) WriteText(w io.Writer) error {
	var b strings.Builder
	if o.Empty() {
		fmt.Fprintf(&b, "nothing in %s carries the tag %s: nothing to remove\n", o.VPC, TagKey)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "remove the rdsgate bastion of %s (everything tagged %s=%s):\n", o.VPC, TagKey, o.VPC)
	for _, i := range o.Instances {
		fmt.Fprintf(&b, "  terminate instance %s (%s)\n", aws.ToString(i.InstanceId), i.State.Name)
	}
	for _, e := range o.Endpoints {
		fmt.Fprintf(&b, "  delete    vpc endpoint %s (%s)\n", aws.ToString(e.VpcEndpointId), aws.ToString(e.ServiceName))
	}
	for _, r := range o.Rules {
		fmt.Fprintf(&b, "  revoke    ingress tcp %d from %s on %s\n", aws.ToInt32(r.Permission.FromPort), aws.ToString(r.Permission.UserIdGroupPairs[0].GroupId), r.Group)
	}
	for _, g := range o.Groups {
		fmt.Fprintf(&b, "  delete    security group %s (%s)\n", aws.ToString(g.GroupId), aws.ToString(g.GroupName))
	}
	if o.Profile != nil {
		fmt.Fprintf(&b, "  delete    instance profile %s\n", aws.ToString(o.Profile.InstanceProfileName))
	}
	if o.Role != nil {
		fmt.Fprintf(&b, "  delete    iam role %s\n", aws.ToString(o.Role.RoleName))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Destroy removes what o lists, in dependency order: the instance (waiting
// until it is gone), the endpoints, the rules that admit rdsgate's groups
// (the database's group is as it was before), the groups, the profile and
// the role. Nothing without the tag is touched.
func Destroy(ctx context.Context, c Clients, o *Owned, progress Progress) error {
	if progress == nil {
		progress = quiet{}
	}
	for _, i := range o.Instances {
		id := aws.ToString(i.InstanceId)
		if _, err := c.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			return fmt.Errorf("bastion: terminate %s: %w", id, err)
		}
		if err := waitState(ctx, c, id, ec2types.InstanceStateNameTerminated, progress, "terminated"); err != nil {
			return err
		}
	}
	if len(o.Endpoints) > 0 {
		var ids []string
		for _, e := range o.Endpoints {
			ids = append(ids, aws.ToString(e.VpcEndpointId))
		}
		if _, err := c.EC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: ids}); err != nil {
			return fmt.Errorf("bastion: delete endpoints %s: %w", strings.Join(ids, ", "), err)
		}
	}
	for _, r := range o.Rules {
		_, err := c.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(r.Group), IpPermissions: []ec2types.IpPermission{r.Permission}})
		if err != nil && !isCode(err, "InvalidPermission.NotFound") {
			return fmt.Errorf("bastion: revoke the bastion's rule in %s: %w", r.Group, err)
		}
	}
	// Groups that name each other cannot be deleted: empty them first.
	for _, g := range o.Groups {
		id := aws.ToString(g.GroupId)
		if err := setRules(ctx, c, id, g.IpPermissionsEgress, nil, true); err != nil {
			return err
		}
		if err := setRules(ctx, c, id, g.IpPermissions, nil, false); err != nil {
			return err
		}
	}
	for _, g := range o.Groups {
		if err := deleteGroup(ctx, c, aws.ToString(g.GroupId)); err != nil {
			return err
		}
	}
	return destroyIAM(ctx, c, o)
}

// deleteGroup retries while the network interfaces of a terminated
// instance or a deleted endpoint still hold the group.
func deleteGroup(ctx context.Context, c Clients, id string) error {
	ctx, cancel := context.WithTimeout(ctx, RunningTimeout)
	defer cancel()
	for {
		_, err := c.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
		if err == nil || isCode(err, "InvalidGroup.NotFound") {
			return nil
		}
		if !isCode(err, "DependencyViolation") {
			return fmt.Errorf("bastion: delete security group %s: %w", id, err)
		}
		if serr := sleep(ctx, PollInterval); serr != nil {
			return fmt.Errorf("bastion: delete security group %s: %w", id, errors.Join(err, serr))
		}
	}
}

func destroyIAM(ctx context.Context, c Clients, o *Owned) error {
	if o.Profile != nil {
		name := o.Profile.InstanceProfileName
		for _, r := range o.Profile.Roles {
			if _, err := c.IAM.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: name, RoleName: r.RoleName}); err != nil {
				return fmt.Errorf("bastion: remove role %s from instance profile %s: %w", aws.ToString(r.RoleName), aws.ToString(name), err)
			}
		}
		if _, err := c.IAM.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: name}); err != nil {
			return fmt.Errorf("bastion: delete instance profile %s: %w", aws.ToString(name), err)
		}
	}
	if o.Role != nil {
		name := o.Role.RoleName
		pols, err := c.IAM.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: name})
		if err != nil {
			return fmt.Errorf("bastion: list the policies of role %s: %w", aws.ToString(name), err)
		}
		for _, p := range pols.AttachedPolicies {
			if _, err := c.IAM.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: name, PolicyArn: p.PolicyArn}); err != nil {
				return fmt.Errorf("bastion: detach %s from role %s: %w", aws.ToString(p.PolicyArn), aws.ToString(name), err)
			}
		}
		if _, err := c.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: name}); err != nil {
			return fmt.Errorf("bastion: delete role %s: %w", aws.ToString(name), err)
		}
	}
	return nil
}

// agentStatus is the agent's ping status as Status shows it.
func agentStatus(a *ssmtypes.InstanceInformation, err error) string {
	if err != nil {
		return "unknown: " + err.Error()
	}
	if a == nil {
		return "not registered"
	}
	return string(a.PingStatus)
}
