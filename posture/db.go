package posture

import (
	"slices"
	"sort"
	"strings"
)

// Kind says whether a [DB] is an instance or a cluster.
type Kind string

// Kinds of database.
const (
	KindInstance Kind = "instance"
	KindCluster  Kind = "cluster"
)

// DB is one audited database: a stand-alone instance, or a cluster with its
// member instances. Cluster members are audited as part of their cluster.
type DB struct {
	Region *Region
	Kind   Kind
	// Instance is set for KindInstance.
	Instance *Instance
	// Cluster and Members are set for KindCluster.
	Cluster *Cluster
	Members []*Instance
	// ClusterUnread is set when member instances name a cluster that is
	// not in the snapshot (rds:DescribeDBClusters failed): Cluster then
	// holds only the id, engine and members, and checks that read cluster
	// settings say unknown.
	ClusterUnread bool

	// opts are the audit's options; nil means the defaults.
	opts *AuditOptions
	// fill and tfFill fill remediation placeholders for this database;
	// built on first use (see [Check.RemediationFor]), as a replacer is
	// costly to build and an audit of thousands of databases fills many.
	fill, tfFill *strings.Replacer
}

// Tags are the instance's or cluster's tags.
func (d *DB) Tags() map[string]string {
	if d.Cluster != nil {
		return d.Cluster.Tags
	}
	return d.Instance.Tags
}

// settings are the instance's or the cluster's shared settings.
func (d *DB) settings() *Settings {
	if d.Cluster != nil {
		return &d.Cluster.Settings
	}
	return &d.Instance.Settings
}

// VPC is the database's VPC: the instance's, or the cluster's subnet
// group's (or a member's); "" when not known.
func (d *DB) VPC() string {
	if d.Instance != nil {
		return d.Instance.VPC
	}
	if g := d.Region.index().subnetGroups[d.Cluster.SubnetGroup]; g != nil && g.VPC != "" {
		return g.VPC
	}
	for _, m := range d.Members {
		if m.VPC != "" {
			return m.VPC
		}
	}
	return ""
}

func (d *DB) options() *AuditOptions {
	if d.opts == nil {
		return &AuditOptions{}
	}
	return d.opts
}

// ID is the instance or cluster identifier.
func (d *DB) ID() string {
	if d.Cluster != nil {
		return d.Cluster.ID
	}
	return d.Instance.ID
}

// ARN is the instance or cluster ARN.
func (d *DB) ARN() string {
	if d.Cluster != nil {
		return d.Cluster.ARN
	}
	return d.Instance.ARN
}

// Engine is the RDS engine name.
func (d *DB) Engine() string {
	if d.Cluster != nil {
		return d.Cluster.Engine
	}
	return d.Instance.Engine
}

// EngineVersion is the engine version.
func (d *DB) EngineVersion() string {
	if d.Cluster != nil {
		return d.Cluster.EngineVersion
	}
	return d.Instance.EngineVersion
}

// Port is the database port (the engine's default when RDS did not say).
func (d *DB) Port() int {
	p := 0
	if d.Cluster != nil {
		p = d.Cluster.Port
	} else {
		p = d.Instance.Port
	}
	if p == 0 {
		switch family(d.Engine()) {
		case "postgres":
			p = 5432
		case "mysql":
			p = 3306
		}
	}
	return p
}

// Aurora reports an Aurora engine.
func (d *DB) Aurora() bool { return strings.HasPrefix(d.Engine(), "aurora") }

// SecurityGroups are the VPC security groups of the database.
func (d *DB) SecurityGroups() []string {
	if d.Cluster != nil {
		return d.Cluster.SecurityGroups
	}
	return d.Instance.SecurityGroups
}

// Subnets are the subnets of the database's subnet group; for a cluster,
// of its subnet group (or its members' when the group was not collected).
// ok is false when they are not known.
func (d *DB) Subnets() (subnets []string, ok bool) {
	if d.Instance != nil {
		return d.Instance.Subnets, len(d.Instance.Subnets) > 0
	}
	if g := d.Region.index().subnetGroups[d.Cluster.SubnetGroup]; g != nil && len(g.Subnets) > 0 {
		return g.Subnets, true
	}
	seen := map[string]bool{}
	for _, m := range d.Members {
		for _, s := range m.Subnets {
			if !seen[s] {
				seen[s] = true
				subnets = append(subnets, s)
			}
		}
	}
	sort.Strings(subnets)
	return subnets, len(subnets) > 0
}

// family maps an engine to "postgres", "mysql" or "".
func family(engine string) string {
	switch e := strings.ToLower(engine); {
	case e == "postgres" || e == "aurora-postgresql":
		return "postgres"
	case e == "mysql" || e == "mariadb" || e == "aurora-mysql" || e == "aurora":
		return "mysql"
	}
	return ""
}

type regionIndex struct {
	instances    map[string]*Instance
	subnetGroups map[string]*SubnetGroup
	params       map[string]*ParameterGroup // "db:" or "cluster:" + name
	sgs          map[string]*SecurityGroup
	subnets      map[string]*Subnet
	vpcs         map[string]*VPC
	rtBySubnet   map[string]*RouteTable
	mainRT       map[string]*RouteTable // by VPC
	aclBySubnet  map[string]*NetworkACL
	snapshots    map[string][]*DBSnapshot // by source id
	backupsBySrc map[string][]*AutomatedBackup
	filters      map[string][]*MetricFilter // by log group
	alarms       map[string][]*Alarm        // by namespace + "\x00" + metric
	secrets      map[string]*Secret
	errors       map[string]bool // actions that failed without a resource
}

// index returns r's lookup tables, building them on first use. The tables
// are built by [Snapshot.Databases] before any check runs, so concurrent
// checks only read them; a Region changed after that is not re-indexed.
func (r *Region) index() *regionIndex {
	if r.ix != nil {
		return r.ix
	}
	ix := &regionIndex{
		instances:    make(map[string]*Instance, len(r.Instances)),
		subnetGroups: make(map[string]*SubnetGroup, len(r.SubnetGroups)),
		params:       make(map[string]*ParameterGroup, len(r.ParameterGroups)),
		sgs:          make(map[string]*SecurityGroup, len(r.SecurityGroups)),
		subnets:      make(map[string]*Subnet, len(r.Subnets)),
		vpcs:         make(map[string]*VPC, len(r.VPCs)),
		rtBySubnet:   map[string]*RouteTable{},
		mainRT:       map[string]*RouteTable{},
		aclBySubnet:  map[string]*NetworkACL{},
		snapshots:    map[string][]*DBSnapshot{},
		backupsBySrc: map[string][]*AutomatedBackup{},
		filters:      map[string][]*MetricFilter{},
		alarms:       map[string][]*Alarm{},
		secrets:      map[string]*Secret{},
		errors:       map[string]bool{},
	}
	for i := range r.Instances {
		ix.instances[r.Instances[i].ID] = &r.Instances[i]
	}
	for i := range r.SubnetGroups {
		ix.subnetGroups[r.SubnetGroups[i].Name] = &r.SubnetGroups[i]
	}
	for i := range r.ParameterGroups {
		g := &r.ParameterGroups[i]
		ix.params[paramKey(g.Cluster, g.Name)] = g
	}
	for i := range r.SecurityGroups {
		ix.sgs[r.SecurityGroups[i].ID] = &r.SecurityGroups[i]
	}
	for i := range r.Subnets {
		ix.subnets[r.Subnets[i].ID] = &r.Subnets[i]
	}
	for i := range r.VPCs {
		ix.vpcs[r.VPCs[i].ID] = &r.VPCs[i]
	}
	for i := range r.RouteTables {
		rt := &r.RouteTables[i]
		if rt.Main {
			ix.mainRT[rt.VPC] = rt
		}
		for _, s := range rt.Subnets {
			ix.rtBySubnet[s] = rt
		}
	}
	for i := range r.NetworkACLs {
		for _, s := range r.NetworkACLs[i].Subnets {
			ix.aclBySubnet[s] = &r.NetworkACLs[i]
		}
	}
	for i := range r.Snapshots {
		ix.snapshots[r.Snapshots[i].Source] = append(ix.snapshots[r.Snapshots[i].Source], &r.Snapshots[i])
	}
	for i := range r.AutomatedBackups {
		b := &r.AutomatedBackups[i]
		ix.backupsBySrc[b.SourceARN] = append(ix.backupsBySrc[b.SourceARN], b)
	}
	for i := range r.MetricFilters {
		f := &r.MetricFilters[i]
		ix.filters[f.LogGroup] = append(ix.filters[f.LogGroup], f)
	}
	for i := range r.Alarms {
		a := &r.Alarms[i]
		k := a.Namespace + "\x00" + a.Metric
		ix.alarms[k] = append(ix.alarms[k], a)
	}
	for i := range r.MasterSecrets {
		ix.secrets[r.MasterSecrets[i].ARN] = &r.MasterSecrets[i]
	}
	for _, e := range r.Errors {
		if e.Resource == "" {
			ix.errors[e.Action] = true
		}
	}
	r.ix = ix
	return ix
}

func paramKey(cluster bool, name string) string {
	if cluster {
		return "cluster:" + name
	}
	return "db:" + name
}

// Failed returns those of actions that failed region-wide (no resource
// named), in the order given.
func (r *Region) Failed(actions ...string) []string {
	ix := r.index()
	var out []string
	for _, a := range actions {
		if ix.errors[a] {
			out = append(out, a)
		}
	}
	return out
}

// failedFor returns the actions that failed for resource (or region-wide).
func (r *Region) failedFor(resource string, actions ...string) []string {
	out := r.Failed(actions...)
	for _, e := range r.Errors {
		if e.Resource == resource && slices.Contains(actions, e.Action) && !slices.Contains(out, e.Action) {
			out = append(out, e.Action)
		}
	}
	return out
}

// Databases returns the audited databases of every region: stand-alone
// instances and clusters (with their members), in region order, then by
// identifier. DocumentDB and Neptune resources, which the RDS API also
// returns, are left out.
func (s *Snapshot) Databases() []*DB {
	var out []*DB
	for ri := range s.Regions {
		r := &s.Regions[ri]
		ix := r.index()
		var dbs []*DB
		known := map[string]*DB{}
		for ci := range r.Clusters {
			c := &r.Clusters[ci]
			if skipEngine(c.Engine) {
				continue
			}
			db := &DB{Region: r, Kind: KindCluster, Cluster: c}
			for _, m := range c.Members {
				if in := ix.instances[m]; in != nil {
					db.Members = append(db.Members, in)
				}
			}
			dbs = append(dbs, db)
			known[c.ID] = db
		}
		for ii := range r.Instances {
			in := &r.Instances[ii]
			if skipEngine(in.Engine) {
				continue
			}
			if in.ClusterID != "" {
				if known[in.ClusterID] == nil {
					db := &DB{Region: r, Kind: KindCluster, ClusterUnread: true, Cluster: &Cluster{
						ID: in.ClusterID, Engine: in.Engine, EngineVersion: in.EngineVersion, Port: in.Port,
						ARN: clusterARN(in.ARN, in.ClusterID),
					}}
					known[in.ClusterID] = db
					dbs = append(dbs, db)
				}
				if db := known[in.ClusterID]; db.ClusterUnread {
					db.Cluster.Members = append(db.Cluster.Members, in.ID)
					db.Members = append(db.Members, in)
				}
				continue
			}
			dbs = append(dbs, &DB{Region: r, Kind: KindInstance, Instance: in})
		}
		sort.SliceStable(dbs, func(i, j int) bool { return dbs[i].ID() < dbs[j].ID() })
		out = append(out, dbs...)
	}
	return out
}

func skipEngine(engine string) bool {
	return engine == "docdb" || engine == "neptune"
}

// clusterARN derives a cluster's ARN from a member instance's ARN.
func clusterARN(instanceARN, clusterID string) string {
	i := strings.LastIndex(instanceARN, ":db:")
	if i < 0 {
		return ""
	}
	return instanceARN[:i] + ":cluster:" + clusterID
}
