package posture

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// AlarmOptions configures [AlarmKit].
type AlarmOptions struct {
	// Namespace of the metrics (default "rdsgate").
	Namespace string
	// Actions are the alarm actions (SNS topic ARNs). Empty gives the
	// placeholder arn:aws:sns:REGION:ACCOUNT:TOPIC to edit.
	Actions []string
	// Targets limits the kit to these database ids; empty means all.
	Targets []string
}

// AlarmDef is the CloudWatch Logs metric filter and alarm that close
// no-outside-vpc-connection-alarm for one database.
type AlarmDef struct {
	DB            string   `json:"db"`
	Region        string   `json:"region"`
	Engine        string   `json:"engine"`
	LogGroup      string   `json:"log_group"`
	FilterName    string   `json:"filter_name"`
	FilterPattern string   `json:"filter_pattern"`
	Namespace     string   `json:"namespace"`
	MetricName    string   `json:"metric_name"`
	AlarmName     string   `json:"alarm_name"`
	Actions       []string `json:"actions"`
	// VPCPrefixes are the address prefixes excluded as "inside the VPC".
	VPCPrefixes []string `json:"vpc_prefixes"`
}

// AlarmKit returns a filter and alarm per PostgreSQL or MySQL-family
// database of s: a metric filter on the database's connection log
// (PostgreSQL "connection received" lines with log_connections on; the
// MySQL/MariaDB audit log's CONNECT events) that leaves out localhost and
// the VPC's address prefixes — the guidance's `CONNECT -localhost -<vpc
// prefix>` — and an alarm when it counts one or more in 5 minutes.
func AlarmKit(s *Snapshot, opts AlarmOptions) []AlarmDef {
	if opts.Namespace == "" {
		opts.Namespace = "rdsgate"
	}
	var out []AlarmDef
	for _, db := range s.Databases() {
		if len(opts.Targets) > 0 && !contains(opts.Targets, db.ID()) {
			continue
		}
		if d, ok := alarmDef(db, opts); ok {
			out = append(out, d)
		}
	}
	return out
}

// alarmDef is the metric filter and alarm for db; false when its engine
// has no connection log.
func alarmDef(db *DB, opts AlarmOptions) (AlarmDef, bool) {
	if opts.Namespace == "" {
		opts.Namespace = "rdsgate"
	}
	log := connectionLog(db.Engine())
	if log == "" {
		return AlarmDef{}, false
	}
	actions := opts.Actions
	if len(actions) == 0 {
		actions = []string{"arn:aws:sns:" + db.Region.Name + ":ACCOUNT:TOPIC"}
	}
	prefixes := vpcPrefixes(db)
	d := AlarmDef{
		DB: db.ID(), Region: db.Region.Name, Engine: db.Engine(), LogGroup: LogGroupName(db, log),
		FilterName: "rdsgate-outside-vpc-" + db.ID(), Namespace: opts.Namespace,
		MetricName: "OutsideVPCConnections-" + db.ID(), AlarmName: "rdsgate-outside-vpc-connection-" + db.ID(),
		Actions: actions, VPCPrefixes: prefixes,
	}
	var b strings.Builder
	if log == "postgresql" {
		b.WriteString(`"connection received"`)
		for _, x := range []string{"127.0.0.1", "::1", "[local]"} {
			fmt.Fprintf(&b, ` -"host=%s"`, x)
		}
		for _, p := range prefixes {
			fmt.Fprintf(&b, ` -"host=%s"`, p)
		}
	} else {
		b.WriteString(`"CONNECT" -",localhost," -",127.0.0.1,"`)
		for _, p := range prefixes {
			fmt.Fprintf(&b, ` -",%s"`, p)
		}
	}
	d.FilterPattern = b.String()
	return d, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// vpcPrefixes turns the database VPC's IPv4 CIDRs into text prefixes
// ("10.2.") on octet boundaries; a CIDR that is not on one is split into
// the prefixes of its next longer boundary (a /20 gives 16 "a.b.c."
// prefixes). Unknown VPC: the placeholder "VPC_PREFIX.".
func vpcPrefixes(db *DB) []string {
	vpc := ""
	if db.Instance != nil {
		vpc = db.Instance.VPC
	} else if g := db.Region.index().subnetGroups[db.Cluster.SubnetGroup]; g != nil {
		vpc = g.VPC
	} else {
		for _, m := range db.Members {
			vpc = m.VPC
		}
	}
	v := db.Region.index().vpcs[vpc]
	if v == nil {
		return []string{"VPC_PREFIX."}
	}
	var out []string
	for _, c := range v.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil || !p.Addr().Is4() {
			continue
		}
		out = append(out, octetPrefixes(p.Masked())...)
	}
	if len(out) == 0 {
		return []string{"VPC_PREFIX."}
	}
	return out
}

func octetPrefixes(p netip.Prefix) []string {
	bits := p.Bits()
	octets := (bits + 7) / 8
	if octets == 0 {
		return nil // 0.0.0.0/0 is not a VPC
	}
	n := 1 << (octets*8 - bits)
	a := p.Addr().As4()
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		b := a
		b[octets-1] += byte(i)
		var s strings.Builder
		for j := 0; j < octets; j++ {
			fmt.Fprintf(&s, "%d.", b[j])
		}
		out = append(out, s.String())
	}
	return out
}

// WriteAlarmsCLI writes the kit as AWS CLI commands (put-metric-filter,
// put-metric-alarm); nothing is applied.
func WriteAlarmsCLI(w io.Writer, defs []AlarmDef) error {
	var b strings.Builder
	b.WriteString("# Metric filter and alarm per database: review, then run. Needs the connection log exported\n# (PostgreSQL: log_connections = 1 and the postgresql export; MySQL/MariaDB: the audit export).\n")
	for _, d := range defs {
		fmt.Fprintf(&b, "\n# %s (%s, %s)\n%s\n", d.DB, d.Engine, d.Region, alarmCLI(d))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("posture: write alarms: %w", err)
	}
	return nil
}

// alarmCLI is d as the two AWS CLI commands that create it (no final
// newline).
func alarmCLI(d AlarmDef) string {
	var b strings.Builder
	fmt.Fprintf(&b, "aws logs put-metric-filter --region %s \\\n  --log-group-name %s \\\n  --filter-name %s \\\n  --filter-pattern %s \\\n  --metric-transformations metricName=%s,metricNamespace=%s,metricValue=1,defaultValue=0\n",
		d.Region, shellQuote(d.LogGroup), shellQuote(d.FilterName), shellQuote(d.FilterPattern), d.MetricName, d.Namespace)
	fmt.Fprintf(&b, "aws cloudwatch put-metric-alarm --region %s \\\n  --alarm-name %s \\\n  --alarm-description %s \\\n  --namespace %s --metric-name %s \\\n  --statistic Sum --period 300 --evaluation-periods 1 --threshold 1 \\\n  --comparison-operator GreaterThanOrEqualToThreshold --treat-missing-data notBreaching \\\n  --alarm-actions %s",
		d.Region, shellQuote(d.AlarmName), shellQuote("Connection to "+d.DB+" from outside its VPC"), shellQuote(d.Namespace), shellQuote(d.MetricName), strings.Join(quoteAll(d.Actions), " "))
	return b.String()
}

// WriteAlarmsTerraform writes the kit as Terraform resources
// (aws_cloudwatch_log_metric_filter, aws_cloudwatch_metric_alarm).
func WriteAlarmsTerraform(w io.Writer, defs []AlarmDef) error {
	var b strings.Builder
	b.WriteString("# Metric filter and alarm per database.\n")
	for _, d := range defs {
		fmt.Fprintf(&b, "\n%s\n", alarmTerraform(d))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("posture: write alarms: %w", err)
	}
	return nil
}

// alarmTerraform is d as Terraform resources (no final newline).
func alarmTerraform(d AlarmDef) string {
	var b strings.Builder
	name := TerraformName(d.DB)
	fmt.Fprintf(&b, "resource \"aws_cloudwatch_log_metric_filter\" \"%s_outside_vpc\" {\n  name           = %s\n  log_group_name = %s\n  pattern        = %s\n\n  metric_transformation {\n    name          = %s\n    namespace     = %s\n    value         = \"1\"\n    default_value = \"0\"\n  }\n}\n",
		name, hclString(d.FilterName), hclString(d.LogGroup), hclString(d.FilterPattern), hclString(d.MetricName), hclString(d.Namespace))
	fmt.Fprintf(&b, "\nresource \"aws_cloudwatch_metric_alarm\" \"%s_outside_vpc\" {\n  alarm_name          = %s\n  alarm_description   = %s\n  namespace           = aws_cloudwatch_log_metric_filter.%s_outside_vpc.metric_transformation[0].namespace\n  metric_name         = aws_cloudwatch_log_metric_filter.%s_outside_vpc.metric_transformation[0].name\n  statistic           = \"Sum\"\n  period              = 300\n  evaluation_periods  = 1\n  threshold           = 1\n  comparison_operator = \"GreaterThanOrEqualToThreshold\"\n  treat_missing_data  = \"notBreaching\"\n  alarm_actions       = [%s]\n}",
		name, hclString(d.AlarmName), hclString("Connection to "+d.DB+" from outside its VPC"), name, name, strings.Join(hclAll(d.Actions), ", "))
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = shellQuote(s)
	}
	return out
}

// hclString quotes s for HCL (escaping quotes, backslashes and ${ / %{).
func hclString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", "$${", "%{", "%%{", "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func hclAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = hclString(s)
	}
	return out
}

// AlarmFormats are the formats WriteAlarms writes.
var AlarmFormats = []string{"cli", "terraform"}

// WriteAlarms writes the kit in format: "cli" (WriteAlarmsCLI) or
// "terraform" (WriteAlarmsTerraform).
func WriteAlarms(w io.Writer, defs []AlarmDef, format string) error {
	switch format {
	case "cli":
		return WriteAlarmsCLI(w, defs)
	case "terraform":
		return WriteAlarmsTerraform(w, defs)
	}
	return fmt.Errorf("posture: alarm format %q: use cli or terraform", format)
}
