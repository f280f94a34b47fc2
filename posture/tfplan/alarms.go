package tfplan

import (
	"github.com/rdsgate/rdsgate/posture"
)

// alarms reads the planned CloudWatch Logs metric filters and CloudWatch
// metric alarms. A filter whose log group is known only after apply could
// be any database's, so it makes every database's alarm check unknown.
func (b *builder) alarms(region func(string) *posture.Region) {
	for _, r := range b.ofType("aws_cloudwatch_log_metric_filter") {
		mf := posture.MetricFilter{}
		mf.Name, _ = r.a.str("name")
		var ok1, ok2 bool
		mf.LogGroup, ok1 = r.a.str("log_group_name")
		mf.Pattern, ok2 = r.a.str("pattern")
		if t, ok := r.a.blocks("metric_transformation"); ok && len(t) > 0 {
			var ok3, ok4 bool
			mf.Metric, ok3 = t[0].str("name")
			mf.Namespace, ok4 = t[0].str("namespace")
			ok2 = ok2 && ok3 && ok4
		} else {
			ok2 = false
		}
		if !ok1 || !ok2 {
			b.unknownFilters = true
			continue
		}
		reg := region(r.region)
		reg.MetricFilters = append(reg.MetricFilters, mf)
	}
	for _, r := range b.ofType("aws_cloudwatch_metric_alarm") {
		al := posture.Alarm{ActionsEnabled: true}
		al.Name, _ = r.a.str("alarm_name")
		al.Namespace, _ = r.a.str("namespace")
		al.Metric, _ = r.a.str("metric_name")
		if on, ok := r.a.boolean("actions_enabled"); ok && r.a.v["actions_enabled"] != nil {
			al.ActionsEnabled = on
		}
		if acts, ok := b.ids(r, "alarm_actions"); ok {
			al.Actions = acts
		} else if r.configured("alarm_actions") {
			al.Actions = []string{"(an action known after apply)"}
		}
		reg := region(r.region)
		reg.Alarms = append(reg.Alarms, al)
	}
}
