package collect

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rdsgate/rdsgate/posture"
)

// trails lists the trails that apply to the region (shadow trails of
// multi-region trails included) and their status.
func (rs *regionState) trails(ctx context.Context, c *cloudtrail.Client) {
	var out *cloudtrail.DescribeTrailsOutput
	err := rs.call(ctx, func() (err error) {
		out, err = c.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)})
		return err
	})
	if err != nil {
		rs.record(ctx, "cloudtrail:DescribeTrails", "", err)
		return
	}
	for _, t := range out.TrailList {
		tr := posture.Trail{
			Name: aws.ToString(t.Name), ARN: aws.ToString(t.TrailARN), HomeRegion: aws.ToString(t.HomeRegion),
			MultiRegion: aws.ToBool(t.IsMultiRegionTrail), LogGroupARN: aws.ToString(t.CloudWatchLogsLogGroupArn),
		}
		name := tr.ARN
		if name == "" {
			name = tr.Name
		}
		var st *cloudtrail.GetTrailStatusOutput
		err := rs.call(ctx, func() (err error) {
			st, err = c.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(name)})
			return err
		})
		if err != nil {
			if !rs.record(ctx, "cloudtrail:GetTrailStatus", tr.ARN, err) {
				return
			}
		} else {
			tr.IsLogging = aws.Bool(aws.ToBool(st.IsLogging))
		}
		rs.mu.Lock()
		rs.r.Trails = append(rs.r.Trails, tr)
		rs.mu.Unlock()
	}
}

// logs lists the /aws/rds/ log groups and their metric filters.
func (rs *regionState) logs(ctx context.Context, c *cloudwatchlogs.Client) {
	gp := cloudwatchlogs.NewDescribeLogGroupsPaginator(c, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/rds/")})
	for gp.HasMorePages() {
		var page *cloudwatchlogs.DescribeLogGroupsOutput
		if err := rs.call(ctx, func() (err error) { page, err = gp.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "logs:DescribeLogGroups", "", err)
			break
		}
		rs.mu.Lock()
		for _, g := range page.LogGroups {
			rs.r.LogGroups = append(rs.r.LogGroups, posture.LogGroup{Name: aws.ToString(g.LogGroupName), RetentionDays: int(aws.ToInt32(g.RetentionInDays))})
		}
		rs.mu.Unlock()
	}
	fp := cloudwatchlogs.NewDescribeMetricFiltersPaginator(c, &cloudwatchlogs.DescribeMetricFiltersInput{})
	for fp.HasMorePages() {
		var page *cloudwatchlogs.DescribeMetricFiltersOutput
		if err := rs.call(ctx, func() (err error) { page, err = fp.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "logs:DescribeMetricFilters", "", err)
			return
		}
		rs.mu.Lock()
		for _, f := range page.MetricFilters {
			group := aws.ToString(f.LogGroupName)
			if !strings.HasPrefix(group, "/aws/rds/") {
				continue
			}
			for _, t := range f.MetricTransformations {
				rs.r.MetricFilters = append(rs.r.MetricFilters, posture.MetricFilter{
					Name: aws.ToString(f.FilterName), LogGroup: group, Pattern: aws.ToString(f.FilterPattern),
					Namespace: aws.ToString(t.MetricNamespace), Metric: aws.ToString(t.MetricName),
				})
			}
		}
		rs.mu.Unlock()
	}
}

// alarms lists the metric alarms.
func (rs *regionState) alarms(ctx context.Context, c *cloudwatch.Client) {
	p := cloudwatch.NewDescribeAlarmsPaginator(c, &cloudwatch.DescribeAlarmsInput{})
	for p.HasMorePages() {
		var page *cloudwatch.DescribeAlarmsOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "cloudwatch:DescribeAlarms", "", err)
			return
		}
		rs.mu.Lock()
		for _, a := range page.MetricAlarms {
			rs.r.Alarms = append(rs.r.Alarms, posture.Alarm{
				Name: aws.ToString(a.AlarmName), Namespace: aws.ToString(a.Namespace), Metric: aws.ToString(a.MetricName),
				ActionsEnabled: aws.ToBool(a.ActionsEnabled), Actions: a.AlarmActions,
			})
		}
		rs.mu.Unlock()
	}
}

// secrets lists the secrets RDS manages for master users (metadata only).
func (rs *regionState) secrets(ctx context.Context, c *secretsmanager.Client) {
	p := secretsmanager.NewListSecretsPaginator(c, &secretsmanager.ListSecretsInput{})
	for p.HasMorePages() {
		var page *secretsmanager.ListSecretsOutput
		if err := rs.call(ctx, func() (err error) { page, err = p.NextPage(ctx); return err }); err != nil {
			rs.record(ctx, "secretsmanager:ListSecrets", "", err)
			return
		}
		rs.mu.Lock()
		for _, s := range page.SecretList {
			sec := posture.Secret{
				ARN: aws.ToString(s.ARN), Name: aws.ToString(s.Name), OwningService: aws.ToString(s.OwningService),
				RotationEnabled: aws.ToBool(s.RotationEnabled),
			}
			for _, t := range s.Tags {
				if k := aws.ToString(t.Key); k == "aws:rds:primaryDBInstanceArn" || k == "aws:rds:primaryDBClusterArn" {
					sec.PrimaryDB = aws.ToString(t.Value)
				}
			}
			if sec.OwningService == "rds" || sec.PrimaryDB != "" || strings.HasPrefix(sec.Name, "rds!") {
				rs.r.MasterSecrets = append(rs.r.MasterSecrets, sec)
			}
		}
		rs.mu.Unlock()
	}
}
