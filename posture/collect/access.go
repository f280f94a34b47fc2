package collect

import (
	"context"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/rdsgate/rdsgate/posture"
)

// The reads around the way in to the databases: the EC2 instances of
// their VPCs and which of them Systems Manager manages (the bastions), and
// the KMS keys the databases name (who manages them).

// ec2Instances lists the region's EC2 instances; finish keeps those of the
// databases' VPCs.
func (rs *regionState) ec2Instances(ctx context.Context, c *ec2.Client) {
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{})
	for p.HasMorePages() {
		var page *ec2.DescribeInstancesOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "ec2:DescribeInstances", "", err)
			return
		}
		rs.mu.Lock()
		for _, res := range page.Reservations {
			for _, in := range res.Instances {
				out := posture.EC2Instance{
					ID: aws.ToString(in.InstanceId), VPC: aws.ToString(in.VpcId), Subnet: aws.ToString(in.SubnetId),
					PublicIP: aws.ToString(in.PublicIpAddress), KeyName: aws.ToString(in.KeyName),
				}
				if in.State != nil {
					out.State = string(in.State.Name)
				}
				if in.MetadataOptions != nil {
					out.HTTPTokens = string(in.MetadataOptions.HttpTokens)
				}
				if in.IamInstanceProfile != nil {
					out.InstanceProfile = aws.ToString(in.IamInstanceProfile.Arn)
				}
				for _, g := range in.SecurityGroups {
					out.SecurityGroups = append(out.SecurityGroups, aws.ToString(g.GroupId))
				}
				for _, t := range in.Tags {
					if out.Tags == nil {
						out.Tags = map[string]string{}
					}
					out.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
				}
				rs.r.EC2Instances = append(rs.r.EC2Instances, out)
			}
		}
		rs.mu.Unlock()
	}
}

// managedInstances lists the instances registered with Systems Manager.
func (rs *regionState) managedInstances(ctx context.Context, c *ssm.Client) {
	p := ssm.NewDescribeInstanceInformationPaginator(c, &ssm.DescribeInstanceInformationInput{})
	for p.HasMorePages() {
		var page *ssm.DescribeInstanceInformationOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "ssm:DescribeInstanceInformation", "", err)
			return
		}
		rs.mu.Lock()
		for _, info := range page.InstanceInformationList {
			rs.r.ManagedInstances = append(rs.r.ManagedInstances, aws.ToString(info.InstanceId))
		}
		rs.mu.Unlock()
	}
}

// keepDatabaseVPCs drops the EC2 instances outside the databases' VPCs:
// only those can be their bastions, and an account's fleet would bloat
// the snapshot.
func (rs *regionState) keepDatabaseVPCs() {
	r := rs.r
	vpcs := map[string]bool{}
	for _, in := range r.Instances {
		vpcs[in.VPC] = true
	}
	for _, c := range r.Clusters {
		for _, g := range r.SubnetGroups {
			if g.Name == c.SubnetGroup {
				vpcs[g.VPC] = true
			}
		}
	}
	r.EC2Instances = slices.DeleteFunc(r.EC2Instances, func(in posture.EC2Instance) bool { return !vpcs[in.VPC] })
	r.ManagedInstances = slices.DeleteFunc(r.ManagedInstances, func(id string) bool {
		return !slices.ContainsFunc(r.EC2Instances, func(in posture.EC2Instance) bool { return in.ID == id })
	})
}

// kmsKeys describes the keys the databases' Performance Insights use.
func (rs *regionState) kmsKeys(ctx context.Context, c *kms.Client) {
	seen := map[string]bool{}
	var ids []string
	add := func(st posture.Settings) {
		if id := st.PerformanceInsightsKMSKeyID; st.PerformanceInsights && id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, in := range rs.r.Instances {
		add(in.Settings)
	}
	for _, cl := range rs.r.Clusters {
		add(cl.Settings)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			var out *kms.DescribeKeyOutput
			err := rs.call(ctx, func() (err error) {
				out, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
				return err
			})
			if err != nil {
				rs.record(ctx, "kms:DescribeKey", id, err)
				return
			}
			k := posture.KMSKey{ARN: id}
			if out.KeyMetadata != nil {
				k.Manager = string(out.KeyMetadata.KeyManager)
			}
			rs.mu.Lock()
			rs.r.KMSKeys = append(rs.r.KMSKeys, k)
			rs.mu.Unlock()
		})
	}
	wg.Wait()
}
