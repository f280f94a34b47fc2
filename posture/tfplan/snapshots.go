package tfplan

import (
	"github.com/rdsgate/rdsgate/posture"
)

// snapshots reads the planned aws_db_snapshot resources. What a snapshot
// does not know yet (its encryption, whom it is shared with) makes its
// database's snapshot checks unknown.
func (b *builder) snapshots(region func(string) *posture.Region, dbs map[string]*planned) {
	for _, r := range b.ofType("aws_db_snapshot") {
		src, ok := b.ids(r, "db_instance_identifier")
		if !ok || len(src) != 1 || dbs[src[0]] == nil {
			// Any database may be its source.
			for _, p := range dbs {
				p.f.mark("db_snapshots", posture.GapAfterApply)
			}
			if !ok || len(src) != 1 {
				continue
			}
		}
		sn := posture.DBSnapshot{ID: r.key, Source: src[0], Type: "manual"}
		sn.ARN, _ = r.a.str("db_snapshot_arn")
		owner := dbs[src[0]]
		encKnown := false
		sn.Encrypted, encKnown = r.a.boolean("encrypted")
		if !encKnown && owner != nil {
			// A snapshot is encrypted as its database is.
			if _, unk := owner.f.unk["storage_encrypted"]; !unk {
				sn.Encrypted, _ = owner.f.a.boolean("storage_encrypted")
				encKnown = true
			}
		}
		sn.RestoreAccounts, sn.AttributesRead = r.a.strs("shared_accounts")
		if owner != nil && (!encKnown || !sn.AttributesRead) {
			owner.f.mark("db_snapshots", posture.GapAfterApply)
		}
		reg := region(r.region)
		reg.Snapshots = append(reg.Snapshots, sn)
	}
}
