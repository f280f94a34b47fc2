package tfplan

import (
	"strings"

	"github.com/rdsgate/rdsgate/posture"
)

// fields fills snapshot fields from a resource's attributes, recording
// those the plan does not know.
type fields struct {
	a   attrs
	unk map[string]posture.GapKind
}

// mark records field as unknown for why; known after apply wins over not
// in the plan (it is the one a person can act on in the plan).
func (f *fields) mark(field string, why posture.GapKind) {
	if f.unk[field] != posture.GapAfterApply {
		f.unk[field] = why
	}
}

func (f *fields) boolean(dst *bool, attr, field string) {
	v, ok := f.a.boolean(attr)
	if !ok {
		f.mark(field, posture.GapAfterApply)
		return
	}
	*dst = v
}

// booleanDefault is boolean for an attribute whose null means def.
func (f *fields) booleanDefault(dst *bool, attr, field string, def bool) {
	f.boolean(dst, attr, field)
	if f.a.v[attr] == nil && !f.a.unknown(attr) {
		*dst = def
	}
}

func (f *fields) str(dst *string, attr, field string) {
	v, ok := f.a.str(attr)
	if !ok {
		f.mark(field, posture.GapAfterApply)
		return
	}
	*dst = v
}

func (f *fields) integer(dst *int, attr, field string) {
	v, ok := f.a.integer(attr)
	if !ok {
		f.mark(field, posture.GapAfterApply)
		return
	}
	*dst = v
}

func (f *fields) strs(dst *[]string, attr, field string) {
	v, ok := f.a.strs(attr)
	if !ok {
		f.mark(field, posture.GapAfterApply)
		return
	}
	*dst = v
}

// planned is a database (instance, cluster or member) being built, with
// its resource.
type planned struct {
	r   *resource
	f   *fields
	src *posture.PlanSource
}

func (b *builder) newPlanned(r *resource) *planned {
	f := &fields{a: r.a, unk: map[string]posture.GapKind{}}
	return &planned{r: r, f: f, src: &posture.PlanSource{Address: r.addr, File: b.file, Line: b.lineOf(r.addr), Unknown: f.unk}}
}

// settings fills what instances and clusters share.
func (p *planned) settings(st *posture.Settings) {
	f := p.f
	st.Planned = p.src
	if t, ok := f.a.tags("tags_all"); ok && t != nil {
		st.Tags = t
	} else if t, ok2 := f.a.tags("tags"); ok2 && !f.a.unknown("tags_all") {
		st.Tags = t
	} else {
		f.mark("tags", posture.GapAfterApply)
	}
	f.integer(&st.MonitoringInterval, "monitoring_interval", "monitoring_interval")
	f.boolean(&st.CopyTagsToSnapshot, "copy_tags_to_snapshot", "copy_tags_to_snapshot")
	f.boolean(&st.PerformanceInsights, "performance_insights_enabled", "performance_insights")
	if st.PerformanceInsights {
		f.str(&st.PerformanceInsightsKMSKeyID, "performance_insights_kms_key_id", "performance_insights_kms_key_id")
	}
	// Left out, RDS picks the lifecycle support; it only words a finding.
	st.EngineLifecycleSupport, _ = f.a.str("engine_lifecycle_support")
}

// engine fills the engine, its version and the port.
func (p *planned) engine(engine, version *string, port *int) {
	f := p.f
	f.str(engine, "engine", "engine")
	if v, ok := f.a.str("engine_version_actual"); ok && v != "" {
		*version = v
	} else {
		f.str(version, "engine_version", "engine_version")
	}
	if port == nil {
		return
	}
	if n, ok := f.a.integer("port"); ok {
		*port = n
	} else if def := defaultPorts[*engine]; def != 0 && !p.r.configured("port") {
		*port = def // left out, RDS listens on the engine's default port
	} else {
		f.mark("port", posture.GapAfterApply)
	}
}

// defaultPorts are the ports RDS gives an engine when none is asked for.
var defaultPorts = map[string]int{
	"postgres": 5432, "aurora-postgresql": 5432, "mysql": 3306, "mariadb": 3306, "aurora-mysql": 3306,
}

// defaultParameterGroup is the name of the default DB parameter group RDS
// attaches when none is named ("default.postgres16"); "" when rdsgate
// cannot tell it from the engine and version.
func defaultParameterGroup(engine, version string) string {
	parts := strings.Split(version, ".")
	switch engine {
	case "postgres":
		if parts[0] != "" {
			return "default.postgres" + parts[0]
		}
	case "mysql", "mariadb":
		if len(parts) >= 2 {
			return "default." + engine + parts[0] + "." + parts[1]
		}
	}
	return ""
}

// placement fills the subnet group (with its subnets and VPC) and the
// security groups of a database.
func (b *builder) placement(p *planned, net *network, group *string, subnets *[]string, vpc *string, sgs *[]string) {
	f := p.f
	names, ok := b.ids(p.r, "db_subnet_group_name")
	switch {
	case !ok || len(names) > 1:
		for _, x := range []string{"subnet_group", "subnets", "vpc"} {
			f.mark(x, posture.GapAfterApply)
		}
	case len(names) == 0 || net.subnetGroups[names[0]] == nil:
		// The default subnet group, or one that exists already.
		if len(names) == 1 {
			*group = names[0]
		}
		for _, x := range []string{"subnets", "vpc"} {
			f.mark(x, posture.GapNotInPlan)
		}
	default:
		*group = names[0]
		g := net.subnetGroups[names[0]]
		if subnets != nil {
			*subnets = g.Subnets
		}
		if !g.subnetsKnown {
			f.mark("subnets", posture.GapAfterApply)
		}
		if vpc != nil {
			*vpc = g.VPC
		}
		if !g.vpcKnown {
			f.mark("vpc", posture.GapAfterApply)
		}
	}
	ids, ok := b.ids(p.r, "vpc_security_group_ids")
	switch {
	case !ok:
		f.mark("security_groups", posture.GapAfterApply)
	case len(ids) == 0:
		f.mark("security_groups", posture.GapNotInPlan) // the VPC's default group
	}
	*sgs = ids
	for _, id := range ids {
		if net.sgUnknown[id] || net.anyRuleUnknown {
			f.mark("security_groups", posture.GapAfterApply)
		}
	}
}

// masterSecret fills the ARN of the RDS-managed master secret: the plan's,
// or a stand-in when RDS will create it on apply.
func (p *planned) masterSecret(dst *string) {
	f := p.f
	managed, ok := f.a.boolean("manage_master_user_password")
	switch {
	case !ok:
		f.mark("master_secret_arn", posture.GapAfterApply)
	case managed:
		*dst = p.r.addr + ".master_user_secret"
		if blocks, ok := f.a.blocks("master_user_secret"); ok && len(blocks) > 0 {
			if arn, ok := blocks[0].str("secret_arn"); ok && arn != "" {
				*dst = arn
			}
		}
	}
}

// databases reads the planned instances, clusters and cluster members.
func (b *builder) databases(region func(string) *posture.Region, net *network) map[string]*planned {
	byKey := map[string]*planned{}
	clusters := map[string]*posture.Cluster{}
	var clusterOrder []*resource
	for _, r := range b.ofType("aws_rds_cluster") {
		p := b.newPlanned(r)
		c := b.cluster(p, net)
		clusters[r.key], byKey[r.key] = c, p
		clusterOrder = append(clusterOrder, r)
	}
	for _, r := range b.ofType("aws_db_instance", "aws_rds_cluster_instance") {
		p := b.newPlanned(r)
		var in *posture.Instance
		if r.typ == "aws_db_instance" {
			in = b.instance(p, net)
		} else {
			in = b.member(p, clusters)
		}
		byKey[r.key] = p
		reg := region(r.region)
		reg.Instances = append(reg.Instances, *in)
	}
	for _, r := range clusterOrder {
		reg := region(r.region)
		reg.Clusters = append(reg.Clusters, *clusters[r.key])
	}
	return byKey
}

// instance reads an aws_db_instance.
func (b *builder) instance(p *planned, net *network) *posture.Instance {
	r, f := p.r, p.f
	in := &posture.Instance{ID: r.key}
	if r.key == r.addr {
		f.mark("id", posture.GapAfterApply)
	}
	in.ARN, _ = f.a.str("arn")
	p.engine(&in.Engine, &in.EngineVersion, &in.Port)
	f.boolean(&in.PubliclyAccessible, "publicly_accessible", "publicly_accessible")
	b.placement(p, net, &in.SubnetGroup, &in.Subnets, &in.VPC, &in.SecurityGroups)
	f.boolean(&in.StorageEncrypted, "storage_encrypted", "storage_encrypted")
	if !in.StorageEncrypted && (r.configured("snapshot_identifier") || r.configured("replicate_source_db")) && !r.configured("storage_encrypted") {
		f.mark("storage_encrypted", posture.GapAfterApply) // follows the snapshot or source
	}
	f.boolean(&in.IAMAuth, "iam_database_authentication_enabled", "iam_auth")
	f.str(&in.MasterUsername, "username", "master_username")
	p.masterSecret(&in.MasterSecretARN)
	if pg, ok := f.a.str("parameter_group_name"); ok && pg != "" {
		in.ParameterGroups = []string{pg}
	} else if def := defaultParameterGroup(in.Engine, in.EngineVersion); def != "" && !r.configured("parameter_group_name") {
		in.ParameterGroups = []string{def} // its parameters are the engine's defaults
		b.defaultGroups[def] = r.region
	} else if names, ok := b.ids(r, "parameter_group_name"); ok && len(names) == 1 {
		in.ParameterGroups = names
	} else {
		f.mark("parameter_groups", posture.GapAfterApply)
	}
	f.integer(&in.BackupRetention, "backup_retention_period", "backup_retention_days")
	if src, ok := b.ids(r, "replicate_source_db"); !ok {
		f.mark("read_replica_source", posture.GapAfterApply)
	} else if len(src) > 0 {
		in.ReadReplicaSource = src[0]
	}
	f.boolean(&in.DeletionProtection, "deletion_protection", "deletion_protection")
	f.strs(&in.LogExports, "enabled_cloudwatch_logs_exports", "log_exports")
	f.booleanDefault(&in.AutoMinorUpgrade, "auto_minor_version_upgrade", "auto_minor_version_upgrade", true)
	f.boolean(&in.MultiAZ, "multi_az", "multi_az")
	if ca, ok := f.a.str("ca_cert_identifier"); ok && ca != "" {
		in.CAIdentifier = ca
	} else {
		f.mark("ca_identifier", posture.GapAfterApply)
	}
	f.mark("backup_replications", posture.GapNotInPlan)
	if !r.created() {
		f.mark("db_snapshots", posture.GapNotInPlan) // it may have snapshots made outside the plan
	}
	p.settings(&in.Settings)
	return in
}

// cluster reads an aws_rds_cluster.
func (b *builder) cluster(p *planned, net *network) *posture.Cluster {
	r, f := p.r, p.f
	c := &posture.Cluster{ID: r.key}
	if r.key == r.addr {
		f.mark("id", posture.GapAfterApply)
	}
	c.ARN, _ = f.a.str("arn")
	p.engine(&c.Engine, &c.EngineVersion, &c.Port)
	f.str(&c.EngineMode, "engine_mode", "engine_mode")
	f.boolean(&c.PubliclyAccessible, "publicly_accessible", "publicly_accessible")
	b.placement(p, net, &c.SubnetGroup, nil, nil, &c.SecurityGroups)
	f.boolean(&c.StorageEncrypted, "storage_encrypted", "storage_encrypted")
	f.boolean(&c.IAMAuth, "iam_database_authentication_enabled", "iam_auth")
	f.str(&c.MasterUsername, "master_username", "master_username")
	p.masterSecret(&c.MasterSecretARN)
	if pg, ok := f.a.str("db_cluster_parameter_group_name"); ok && pg != "" {
		c.ParameterGroup = pg
	} else if names, ok := b.ids(r, "db_cluster_parameter_group_name"); ok && len(names) == 1 {
		c.ParameterGroup = names[0]
	} else {
		f.mark("parameter_group", posture.GapAfterApply)
	}
	f.integer(&c.BackupRetention, "backup_retention_period", "backup_retention_days")
	if src, ok := b.ids(r, "replication_source_identifier"); !ok {
		f.mark("replication_source", posture.GapAfterApply)
	} else if len(src) > 0 {
		c.ReplicationSource = src[0]
	}
	f.boolean(&c.DeletionProtection, "deletion_protection", "deletion_protection")
	f.strs(&c.LogExports, "enabled_cloudwatch_logs_exports", "log_exports")
	f.booleanDefault(&c.AutoMinorUpgrade, "auto_minor_version_upgrade", "auto_minor_version_upgrade", true)
	// A Multi-AZ DB cluster names an instance class; Aurora spreads its
	// member instances instead (the check counts them).
	if class, ok := f.a.str("db_cluster_instance_class"); !ok {
		f.mark("multi_az", posture.GapAfterApply)
	} else {
		c.MultiAZ = class != ""
	}
	if g, ok := b.ids(r, "global_cluster_identifier"); !ok {
		f.mark("global_cluster", posture.GapAfterApply)
	} else if len(g) > 0 {
		c.GlobalCluster = g[0]
	}
	if !r.created() {
		f.mark("db_snapshots", posture.GapNotInPlan)
	}
	p.settings(&c.Settings)
	return c
}

// member reads an aws_rds_cluster_instance and adds it to its cluster.
func (b *builder) member(p *planned, clusters map[string]*posture.Cluster) *posture.Instance {
	r, f := p.r, p.f
	in := &posture.Instance{ID: r.key}
	ids, ok := b.ids(r, "cluster_identifier")
	if !ok || len(ids) != 1 {
		in.ClusterID = "(cluster of " + r.addr + ")" // audited as a cluster the plan does not describe
	} else {
		in.ClusterID = ids[0]
	}
	if c := clusters[in.ClusterID]; c != nil {
		c.Members = append(c.Members, in.ID)
		in.Port = c.Port
		in.SecurityGroups = c.SecurityGroups
	}
	in.ARN, _ = f.a.str("arn")
	p.engine(&in.Engine, &in.EngineVersion, nil)
	f.boolean(&in.PubliclyAccessible, "publicly_accessible", "publicly_accessible")
	f.booleanDefault(&in.AutoMinorUpgrade, "auto_minor_version_upgrade", "auto_minor_version_upgrade", true)
	if ca, ok := f.a.str("ca_cert_identifier"); ok && ca != "" {
		in.CAIdentifier = ca
	} else {
		f.mark("ca_identifier", posture.GapAfterApply)
	}
	if pg, ok := f.a.str("db_parameter_group_name"); ok && pg != "" {
		in.ParameterGroups = []string{pg}
	}
	p.settings(&in.Settings)
	return in
}
