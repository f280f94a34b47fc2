package tfplan

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/rdsgate/rdsgate/posture"
)

// resource is one planned managed resource instance.
type resource struct {
	addr    string // module.db.aws_db_instance.main[0]
	base    string // without the instance key: module.db.aws_db_instance.main
	module  string // module.db ("" for the root module)
	typ     string
	a       attrs
	cfg     *configResource // nil when the configuration does not have it
	actions []string
	region  string
	// key is how the snapshot names the resource: its id or name when the
	// plan knows it, else its address.
	key string
}

// created reports whether the plan creates the resource anew (no earlier
// one of this address exists).
func (r *resource) created() bool {
	return slices.Equal(r.actions, []string{"create"})
}

// expr is the configuration's expression for attr; ok is false when the
// configuration does not set attr (or is not in the plan).
func (r *resource) expr(attr string) (expression, bool) {
	if r.cfg == nil {
		return expression{}, false
	}
	raw, ok := r.cfg.Expressions[attr]
	if !ok {
		return expression{}, false
	}
	return parseExpression(raw)
}

// configured reports whether the configuration sets attr (or the block
// attr) at all.
func (r *resource) configured(attr string) bool {
	if r.cfg == nil {
		return true // cannot tell: assume it is, so nothing is inferred
	}
	_, ok := r.cfg.Expressions[attr]
	return ok
}

// builder turns a decoded plan into a snapshot.
type builder struct {
	plan    *plan
	data    []byte
	file    string
	all     []*resource
	byBase  map[string][]*resource
	modules map[string]bool
	// unknownFilters is set when a metric filter's log group or pattern is
	// known only after apply.
	unknownFilters bool
	// defaultGroups are the default parameter groups databases get, by
	// name, with their region.
	defaultGroups map[string]string
}

func newBuilder(p *plan, data []byte, file string) *builder {
	b := &builder{plan: p, data: data, file: file, byBase: map[string][]*resource{}, modules: map[string]bool{}, defaultGroups: map[string]string{}}
	changes := make(map[string]*change, len(p.ResourceChanges))
	for i := range p.ResourceChanges {
		changes[p.ResourceChanges[i].Address] = &p.ResourceChanges[i]
	}
	if p.PlannedValues != nil {
		b.walk(&p.PlannedValues.RootModule, changes)
	}
	for _, r := range b.all {
		r.key = keyOf(r)
	}
	return b
}

// walk collects the managed resources of m and its children.
func (b *builder) walk(m *valuesModule, changes map[string]*change) {
	b.modules[m.Address] = true
	segs, ok := splitModule(m.Address)
	var cfg *configModule
	if ok {
		cfg = b.configModule(segs)
	}
	for i := range m.Resources {
		v := &m.Resources[i]
		if v.Mode != "managed" || !strings.HasPrefix(v.Address, inModule(m.Address, "")) {
			continue
		}
		r := &resource{addr: v.Address, base: stripIndex(v.Address), module: m.Address, typ: v.Type, actions: []string{"no-op"}}
		var afterUnknown any
		if c := changes[v.Address]; c != nil {
			afterUnknown, r.actions = c.Change.AfterUnknown, c.Change.Actions
		}
		r.a = newAttrs(v.Values, afterUnknown)
		if cfg != nil {
			rel := strings.TrimPrefix(r.base, inModule(m.Address, ""))
			for j := range cfg.Resources {
				if cfg.Resources[j].Address == rel && cfg.Resources[j].Mode != "data" {
					r.cfg = &cfg.Resources[j]
				}
			}
		}
		r.region = b.regionOf(r)
		b.all = append(b.all, r)
		b.byBase[r.base] = append(b.byBase[r.base], r)
	}
	for i := range m.ChildModules {
		b.walk(&m.ChildModules[i], changes)
	}
}

// keyOf is the name the snapshot gives r (see resource.key).
func keyOf(r *resource) string {
	attr := map[string]string{
		"aws_security_group": "id", "aws_db_subnet_group": "name", "aws_rds_cluster": "cluster_identifier",
		"aws_db_instance": "identifier", "aws_rds_cluster_instance": "identifier", "aws_db_snapshot": "db_snapshot_identifier",
		"aws_db_parameter_group": "name", "aws_rds_cluster_parameter_group": "name",
	}[r.typ]
	if attr != "" {
		if s, ok := r.a.str(attr); ok && s != "" {
			return s
		}
	}
	return r.addr
}

// regionOf is the AWS region of r: its own region argument (AWS provider
// 6), else its provider configuration's, else "unknown".
func (b *builder) regionOf(r *resource) string {
	if s, ok := r.a.str("region"); ok && s != "" {
		return s
	}
	keys := []string{"aws"}
	if r.cfg != nil && r.cfg.ProviderConfigKey != "" {
		k := r.cfg.ProviderConfigKey
		keys = []string{k, "module." + k, strings.TrimPrefix(k, r.module+":"), "aws"}
	}
	for _, k := range keys {
		pc, ok := b.plan.Configuration.ProviderConfig[k]
		if !ok {
			continue
		}
		e, ok := parseExpression(pc.Expressions["region"])
		if !ok {
			continue
		}
		if s, ok := e.ConstantValue.(string); ok && s != "" {
			return s
		}
		if got, ok := b.resolve("", e.References, 0); ok && len(got.constants) == 1 {
			return got.constants[0]
		}
	}
	return "unknown"
}

// ids is the value of a string or list-of-strings attribute that names
// other resources: the plan's value, or, when that is known only after
// apply, the names of the resources its expression refers to. ok is false
// when the value cannot be told.
func (b *builder) ids(r *resource, attr string) (out []string, ok bool) {
	if !r.a.unknown(attr) {
		if s, ok := r.a.str(attr); ok {
			if s == "" {
				return nil, true
			}
			return []string{s}, true
		}
		return r.a.strs(attr)
	}
	e, ok := r.expr(attr)
	if !ok || len(e.References) == 0 {
		return nil, false
	}
	got, ok := b.resolve(r.module, e.References, 0)
	if !ok {
		return nil, false
	}
	for _, t := range got.targets {
		out = append(out, t.key)
	}
	return append(out, got.constants...), true
}

// lineOf is the line of the plan file where addr first appears as an
// address (1 when it is not found: the plan is usually one line).
func (b *builder) lineOf(addr string) int {
	q, err := json.Marshal(addr)
	if err != nil {
		return 1
	}
	at := -1
	for _, sep := range []string{`"address":`, `"address": `} {
		if i := bytes.Index(b.data, append([]byte(sep), q...)); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at < 0 {
		return 1
	}
	return bytes.Count(b.data[:at], []byte("\n")) + 1
}

// ofType returns the planned resources of the given types, in plan order.
func (b *builder) ofType(types ...string) []*resource {
	var out []*resource
	for _, r := range b.all {
		if slices.Contains(types, r.typ) {
			out = append(out, r)
		}
	}
	return out
}

// notInPlan are the reads of a live audit that no plan answers: checks
// that need them say unknown, "not in the plan".
var notInPlan = []string{
	"ec2:DescribeRouteTables", "ec2:DescribeSubnets", "ec2:DescribeNetworkAcls", "ec2:DescribeVpcs",
	"ec2:DescribeInstances", "cloudtrail:DescribeTrails", "rds:DescribeEventSubscriptions", "kms:DescribeKey",
	"rds:DescribeDBParameters", "rds:DescribeDBClusterParameters", "rds:DescribeDBInstanceAutomatedBackups",
}

// snapshot builds the snapshot: per region, the planned databases and the
// resources around them.
func (b *builder) snapshot() *posture.Snapshot {
	s := &posture.Snapshot{SchemaVersion: posture.SchemaVersion, CollectedAt: b.plan.time()}
	regions := map[string]*posture.Region{}
	region := func(name string) *posture.Region {
		if r := regions[name]; r != nil {
			return r
		}
		r := &posture.Region{Name: name}
		regions[name] = r
		return r
	}
	net := b.network(region)
	dbs := b.databases(region, net)
	b.snapshots(region, dbs)
	b.parameterGroups(region)
	b.alarms(region)
	if b.unknownFilters {
		for _, p := range dbs {
			p.f.mark("metric_filters", posture.GapAfterApply)
		}
	}
	names := make([]string, 0, len(regions))
	for n := range regions {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := regions[n]
		for _, a := range notInPlan {
			r.Errors = append(r.Errors, notInPlanError(a))
		}
		if len(r.MetricFilters) == 0 {
			r.Errors = append(r.Errors, notInPlanError("logs:DescribeMetricFilters"))
		}
		if len(r.Alarms) == 0 {
			r.Errors = append(r.Errors, notInPlanError("cloudwatch:DescribeAlarms"))
		}
		s.Regions = append(s.Regions, *r)
	}
	for _, a := range []string{"iam:ListPolicies", "iam:GetPolicyVersion"} {
		s.IAM.Errors = append(s.IAM.Errors, notInPlanError(a))
	}
	return s
}

func notInPlanError(action string) posture.AccessError {
	return posture.AccessError{Action: action, Code: posture.CodeNotInPlan, Message: "a Terraform plan does not hold this"}
}
