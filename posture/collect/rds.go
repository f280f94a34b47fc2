package collect

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/rdsgate/rdsgate/posture"
	"github.com/rdsgate/rdsgate/target"
)

func (rs *regionState) instances(ctx context.Context, c *rds.Client) {
	p := rds.NewDescribeDBInstancesPaginator(c, &rds.DescribeDBInstancesInput{})
	for p.HasMorePages() {
		var page *rds.DescribeDBInstancesOutput
		err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err })
		if err != nil {
			rs.record(ctx, "rds:DescribeDBInstances", "", err)
			return
		}
		rs.mu.Lock()
		for _, db := range page.DBInstances {
			rs.r.Instances = append(rs.r.Instances, fromInstance(db, rs.r.Name))
		}
		rs.mu.Unlock()
	}
}

func fromInstance(db types.DBInstance, region string) posture.Instance {
	t := target.FromInstance(db, region)
	in := posture.Instance{
		ID: t.Identifier, ARN: aws.ToString(db.DBInstanceArn), ResourceID: t.ResourceID,
		Engine: t.Engine, EngineVersion: t.EngineVersion, ClusterID: t.ClusterIdentifier, Status: t.Status,
		Port: t.Port, PubliclyAccessible: t.Public, VPC: t.VPC, Subnets: t.Subnets, SecurityGroups: t.SecurityGroups,
		StorageEncrypted: aws.ToBool(db.StorageEncrypted), IAMAuth: t.IAMAuth,
		MasterUsername: t.MasterUser, MasterSecretARN: t.MasterSecretARN,
		BackupRetention:    int(aws.ToInt32(db.BackupRetentionPeriod)),
		ReadReplicaSource:  aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier),
		DeletionProtection: aws.ToBool(db.DeletionProtection),
		LogExports:         db.EnabledCloudwatchLogsExports,
		AutoMinorUpgrade:   aws.ToBool(db.AutoMinorVersionUpgrade),
		MultiAZ:            aws.ToBool(db.MultiAZ),
		CAIdentifier:       t.CAIdentifier,
		Settings: posture.Settings{
			Tags: tags(db.TagList), MonitoringInterval: int(aws.ToInt32(db.MonitoringInterval)),
			CopyTagsToSnapshot:  aws.ToBool(db.CopyTagsToSnapshot),
			PerformanceInsights: aws.ToBool(db.PerformanceInsightsEnabled), PerformanceInsightsKMSKeyID: aws.ToString(db.PerformanceInsightsKMSKeyId),
			EngineLifecycleSupport: aws.ToString(db.EngineLifecycleSupport),
		},
	}
	if db.DBSubnetGroup != nil {
		in.SubnetGroup = aws.ToString(db.DBSubnetGroup.DBSubnetGroupName)
	}
	for _, g := range db.DBParameterGroups {
		in.ParameterGroups = append(in.ParameterGroups, aws.ToString(g.DBParameterGroupName))
	}
	for _, r := range db.DBInstanceAutomatedBackupsReplications {
		in.BackupReplications = append(in.BackupReplications, aws.ToString(r.DBInstanceAutomatedBackupsArn))
	}
	if db.CertificateDetails != nil {
		in.CertValidTill = db.CertificateDetails.ValidTill
		if in.CAIdentifier == "" {
			in.CAIdentifier = aws.ToString(db.CertificateDetails.CAIdentifier)
		}
	}
	return in
}

// tags maps an RDS TagList; nil when empty, to keep snapshots small.
func tags(list []types.Tag) map[string]string {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]string, len(list))
	for _, t := range list {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func (rs *regionState) clusters(ctx context.Context, c *rds.Client) {
	p := rds.NewDescribeDBClustersPaginator(c, &rds.DescribeDBClustersInput{})
	for p.HasMorePages() {
		var page *rds.DescribeDBClustersOutput
		err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err })
		if err != nil {
			rs.record(ctx, "rds:DescribeDBClusters", "", err)
			return
		}
		rs.mu.Lock()
		for _, db := range page.DBClusters {
			rs.r.Clusters = append(rs.r.Clusters, fromCluster(db, rs.r.Name))
		}
		rs.mu.Unlock()
	}
}

func fromCluster(c types.DBCluster, region string) posture.Cluster {
	t := target.FromCluster(c, region)
	out := posture.Cluster{
		ID: t.Identifier, ARN: aws.ToString(c.DBClusterArn), ResourceID: t.ResourceID,
		Engine: t.Engine, EngineVersion: t.EngineVersion, EngineMode: aws.ToString(c.EngineMode), Status: t.Status,
		Port: t.Port, PubliclyAccessible: t.Public, SubnetGroup: aws.ToString(c.DBSubnetGroup),
		SecurityGroups: t.SecurityGroups, StorageEncrypted: aws.ToBool(c.StorageEncrypted), IAMAuth: t.IAMAuth,
		MasterUsername: t.MasterUser, MasterSecretARN: t.MasterSecretARN,
		ParameterGroup:     aws.ToString(c.DBClusterParameterGroup),
		BackupRetention:    int(aws.ToInt32(c.BackupRetentionPeriod)),
		ReplicationSource:  aws.ToString(c.ReplicationSourceIdentifier),
		DeletionProtection: aws.ToBool(c.DeletionProtection),
		LogExports:         c.EnabledCloudwatchLogsExports,
		AutoMinorUpgrade:   aws.ToBool(c.AutoMinorVersionUpgrade),
		MultiAZ:            aws.ToBool(c.MultiAZ),
		GlobalCluster:      aws.ToString(c.GlobalClusterIdentifier),
		Settings: posture.Settings{
			Tags: tags(c.TagList), MonitoringInterval: int(aws.ToInt32(c.MonitoringInterval)),
			CopyTagsToSnapshot:  aws.ToBool(c.CopyTagsToSnapshot),
			PerformanceInsights: aws.ToBool(c.PerformanceInsightsEnabled), PerformanceInsightsKMSKeyID: aws.ToString(c.PerformanceInsightsKMSKeyId),
			EngineLifecycleSupport: aws.ToString(c.EngineLifecycleSupport),
		},
	}
	for _, m := range c.DBClusterMembers {
		out.Members = append(out.Members, aws.ToString(m.DBInstanceIdentifier))
	}
	slices.Sort(out.Members)
	return out
}

func (rs *regionState) subnetGroups(ctx context.Context, c *rds.Client) {
	p := rds.NewDescribeDBSubnetGroupsPaginator(c, &rds.DescribeDBSubnetGroupsInput{})
	for p.HasMorePages() {
		var page *rds.DescribeDBSubnetGroupsOutput
		err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err })
		if err != nil {
			rs.record(ctx, "rds:DescribeDBSubnetGroups", "", err)
			return
		}
		rs.mu.Lock()
		for _, g := range page.DBSubnetGroups {
			sg := posture.SubnetGroup{Name: aws.ToString(g.DBSubnetGroupName), VPC: aws.ToString(g.VpcId)}
			for _, s := range g.Subnets {
				sg.Subnets = append(sg.Subnets, aws.ToString(s.SubnetIdentifier))
			}
			slices.Sort(sg.Subnets)
			rs.r.SubnetGroups = append(rs.r.SubnetGroups, sg)
		}
		rs.mu.Unlock()
	}
}

func (rs *regionState) dbSnapshots(ctx context.Context, c *rds.Client) {
	p := rds.NewDescribeDBSnapshotsPaginator(c, &rds.DescribeDBSnapshotsInput{})
	for p.HasMorePages() {
		var page *rds.DescribeDBSnapshotsOutput
		err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err })
		if err != nil {
			rs.record(ctx, "rds:DescribeDBSnapshots", "", err)
			return
		}
		rs.mu.Lock()
		for _, s := range page.DBSnapshots {
			rs.r.Snapshots = append(rs.r.Snapshots, posture.DBSnapshot{
				ID: aws.ToString(s.DBSnapshotIdentifier), ARN: aws.ToString(s.DBSnapshotArn),
				Source: aws.ToString(s.DBInstanceIdentifier), Type: aws.ToString(s.SnapshotType),
				Encrypted: aws.ToBool(s.Encrypted),
			})
		}
		rs.mu.Unlock()
	}
}

func (rs *regionState) clusterSnapshots(ctx context.Context, c *rds.Client) {
	p := rds.NewDescribeDBClusterSnapshotsPaginator(c, &rds.DescribeDBClusterSnapshotsInput{})
	for p.HasMorePages() {
		var page *rds.DescribeDBClusterSnapshotsOutput
		err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err })
		if err != nil {
			rs.record(ctx, "rds:DescribeDBClusterSnapshots", "", err)
			return
		}
		rs.mu.Lock()
		for _, s := range page.DBClusterSnapshots {
			rs.r.Snapshots = append(rs.r.Snapshots, posture.DBSnapshot{
				ID: aws.ToString(s.DBClusterSnapshotIdentifier), ARN: aws.ToString(s.DBClusterSnapshotArn), Cluster: true,
				Source: aws.ToString(s.DBClusterIdentifier), Type: aws.ToString(s.SnapshotType),
				Encrypted: aws.ToBool(s.StorageEncrypted),
			})
		}
		rs.mu.Unlock()
	}
}

func (rs *regionState) automatedBackups(ctx context.Context, c *rds.Client) {
	p := rds.NewDescribeDBInstanceAutomatedBackupsPaginator(c, &rds.DescribeDBInstanceAutomatedBackupsInput{})
	for p.HasMorePages() {
		var page *rds.DescribeDBInstanceAutomatedBackupsOutput
		err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err })
		if err != nil {
			rs.record(ctx, "rds:DescribeDBInstanceAutomatedBackups", "", err)
			return
		}
		rs.mu.Lock()
		for _, b := range page.DBInstanceAutomatedBackups {
			rs.r.AutomatedBackups = append(rs.r.AutomatedBackups, posture.AutomatedBackup{
				ARN: aws.ToString(b.DBInstanceAutomatedBackupsArn), InstanceID: aws.ToString(b.DBInstanceIdentifier),
				SourceARN: aws.ToString(b.DBInstanceArn), SourceRegion: aws.ToString(b.Region), Status: aws.ToString(b.Status),
			})
		}
		rs.mu.Unlock()
	}
}

// filterTargets drops the databases (and their snapshots) not named in
// Options.Targets; a cluster keeps its members.
func (rs *regionState) filterTargets() {
	targets := rs.c.opts.Targets
	if len(targets) == 0 {
		return
	}
	r := rs.r
	keep := map[string]bool{}
	for _, t := range targets {
		keep[t] = true
	}
	for _, c := range r.Clusters {
		if keep[c.ID] || keep[c.ARN] {
			keep[c.ID] = true
			for _, m := range c.Members {
				keep[m] = true
			}
		}
	}
	for _, in := range r.Instances {
		if keep[in.ARN] {
			keep[in.ID] = true
		}
	}
	r.Clusters = slices.DeleteFunc(r.Clusters, func(c posture.Cluster) bool { return !keep[c.ID] })
	r.Instances = slices.DeleteFunc(r.Instances, func(in posture.Instance) bool { return !keep[in.ID] })
	r.Snapshots = slices.DeleteFunc(r.Snapshots, func(s posture.DBSnapshot) bool { return !keep[s.Source] })
}

// parameters reads the parameter groups in use, keeping
// posture.InterestingParameters.
func (rs *regionState) parameters(ctx context.Context, c *rds.Client) {
	type group struct {
		name    string
		cluster bool
	}
	seen := map[group]bool{}
	var groups []group
	add := func(g group) {
		if g.name != "" && !seen[g] {
			seen[g] = true
			groups = append(groups, g)
		}
	}
	for _, in := range rs.r.Instances {
		for _, g := range in.ParameterGroups {
			add(group{g, false})
		}
	}
	for _, cl := range rs.r.Clusters {
		add(group{cl.ParameterGroup, true})
	}
	want := map[string]bool{}
	for _, p := range posture.InterestingParameters {
		want[p] = true
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() {
			pg := posture.ParameterGroup{Name: g.name, Cluster: g.cluster, Parameters: map[string]string{}}
			keep := func(ps []types.Parameter) {
				for _, p := range ps {
					if n := aws.ToString(p.ParameterName); want[n] && p.ParameterValue != nil {
						pg.Parameters[n] = aws.ToString(p.ParameterValue)
					}
				}
			}
			if g.cluster {
				p := rds.NewDescribeDBClusterParametersPaginator(c, &rds.DescribeDBClusterParametersInput{DBClusterParameterGroupName: aws.String(g.name)})
				for p.HasMorePages() {
					var page *rds.DescribeDBClusterParametersOutput
					if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
						rs.record(ctx, "rds:DescribeDBClusterParameters", g.name, err)
						return
					}
					keep(page.Parameters)
				}
			} else {
				p := rds.NewDescribeDBParametersPaginator(c, &rds.DescribeDBParametersInput{DBParameterGroupName: aws.String(g.name)})
				for p.HasMorePages() {
					var page *rds.DescribeDBParametersOutput
					if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
						rs.record(ctx, "rds:DescribeDBParameters", g.name, err)
						return
					}
					keep(page.Parameters)
				}
			}
			rs.mu.Lock()
			rs.r.ParameterGroups = append(rs.r.ParameterGroups, pg)
			rs.mu.Unlock()
		})
	}
	wg.Wait()
}

// snapshotAttributes reads who may restore each manual snapshot.
func (rs *regionState) snapshotAttributes(ctx context.Context, c *rds.Client) {
	var wg sync.WaitGroup
	for i := range rs.r.Snapshots {
		s := &rs.r.Snapshots[i]
		if !strings.EqualFold(s.Type, "manual") {
			continue
		}
		wg.Go(func() {
			var restore []string
			var err error
			action := "rds:DescribeDBSnapshotAttributes"
			if s.Cluster {
				action = "rds:DescribeDBClusterSnapshotAttributes"
				var out *rds.DescribeDBClusterSnapshotAttributesOutput
				err = rs.call(ctx, func() (err error) {
					out, err = c.DescribeDBClusterSnapshotAttributes(ctx, &rds.DescribeDBClusterSnapshotAttributesInput{DBClusterSnapshotIdentifier: aws.String(s.ID)})
					return err
				})
				if err == nil && out.DBClusterSnapshotAttributesResult != nil {
					for _, a := range out.DBClusterSnapshotAttributesResult.DBClusterSnapshotAttributes {
						if aws.ToString(a.AttributeName) == "restore" {
							restore = append(restore, a.AttributeValues...)
						}
					}
				}
			} else {
				var out *rds.DescribeDBSnapshotAttributesOutput
				err = rs.call(ctx, func() (err error) {
					out, err = c.DescribeDBSnapshotAttributes(ctx, &rds.DescribeDBSnapshotAttributesInput{DBSnapshotIdentifier: aws.String(s.ID)})
					return err
				})
				if err == nil && out.DBSnapshotAttributesResult != nil {
					for _, a := range out.DBSnapshotAttributesResult.DBSnapshotAttributes {
						if aws.ToString(a.AttributeName) == "restore" {
							restore = append(restore, a.AttributeValues...)
						}
					}
				}
			}
			if err != nil {
				rs.record(ctx, action, s.ID, err)
				return
			}
			slices.Sort(restore)
			// Each goroutine writes only its own element.
			s.RestoreAccounts, s.AttributesRead = restore, true
		})
	}
	wg.Wait()
}

// eventSubscriptions lists the RDS event notification subscriptions.
func (rs *regionState) eventSubscriptions(ctx context.Context, c *rds.Client) {
	p := rds.NewDescribeEventSubscriptionsPaginator(c, &rds.DescribeEventSubscriptionsInput{})
	for p.HasMorePages() {
		var page *rds.DescribeEventSubscriptionsOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "rds:DescribeEventSubscriptions", "", err)
			return
		}
		rs.mu.Lock()
		for _, s := range page.EventSubscriptionsList {
			rs.r.EventSubscriptions = append(rs.r.EventSubscriptions, posture.EventSubscription{
				Name: aws.ToString(s.CustSubscriptionId), SourceType: aws.ToString(s.SourceType),
				SourceIDs: s.SourceIdsList, Categories: s.EventCategoriesList,
				Enabled: aws.ToBool(s.Enabled), Status: aws.ToString(s.Status), Topic: aws.ToString(s.SnsTopicArn),
			})
		}
		rs.mu.Unlock()
	}
}
