package tfplan

import (
	"maps"
	"slices"

	"github.com/rdsgate/rdsgate/posture"
)

// parameterGroups reads the planned DB and DB cluster parameter groups
// (the parameters the checks read; see [posture.InterestingParameters]),
// and adds the default groups databases get when they name none, whose
// parameters are the engine's defaults. A group whose parameters are
// known only after apply is left out, so that checks reading it say
// unknown.
func (b *builder) parameterGroups(region func(string) *posture.Region) {
	for _, r := range b.ofType("aws_db_parameter_group", "aws_rds_cluster_parameter_group") {
		g := posture.ParameterGroup{Name: r.key, Cluster: r.typ == "aws_rds_cluster_parameter_group", Parameters: map[string]string{}}
		blocks, ok := r.a.blocks("parameter")
		for _, p := range blocks {
			name, ok1 := p.str("name")
			value, ok2 := p.str("value")
			if !ok1 || !ok2 {
				ok = false
				break
			}
			if slices.Contains(posture.InterestingParameters, name) {
				g.Parameters[name] = value
			}
		}
		if !ok {
			continue
		}
		reg := region(r.region)
		reg.ParameterGroups = append(reg.ParameterGroups, g)
	}
	for _, name := range slices.Sorted(maps.Keys(b.defaultGroups)) {
		r := region(b.defaultGroups[name])
		r.ParameterGroups = append(r.ParameterGroups, posture.ParameterGroup{Name: name, Parameters: map[string]string{}})
	}
}
