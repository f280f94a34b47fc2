package grant

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"

	"github.com/rdsgate/rdsgate/target"
)

// Group roles. rdsgate keeps one role without login per access level and
// database, rdsgate_<database>_read, _write and _owner; the privileges are
// the role's and people are its members, so that adding or removing a
// person is one membership and a table created later reaches every member
// at once (see sql_postgres.go and sql_mysql.go for how).

// groupPrefix starts every group role's name; DBUSERs may not take a group
// role's name.
const groupPrefix = "rdsgate_"

// maxMySQLRole is the longest role name rdsgate makes on MySQL and MariaDB:
// MySQL 8 allows 32 characters (MariaDB more), and one name on both keeps a
// database movable between them.
const maxMySQLRole = 32

// groupLevels are the profiles with a group role, strongest first, and the
// suffix of each role's name.
var groupLevels = []struct {
	profile Profile
	suffix  string
}{{Owner, "owner"}, {ReadWrite, "write"}, {ReadOnly, "read"}}

// GroupRole returns the name of the group role of profile on database db
// for the engine family: rdsgate_<db>_read, _write or _owner, or "" for a
// profile without one (Custom). A name longer than the engine keeps (63
// bytes on PostgreSQL, 32 characters on MySQL) keeps the start of db and
// adds 8 hex digits of its SHA-256, so that it stays one name per database.
func GroupRole(fam target.Family, db string, profile Profile) string {
	suffix := ""
	for _, l := range groupLevels {
		if l.profile == profile {
			suffix = l.suffix
		}
	}
	if suffix == "" {
		return ""
	}
	name := groupPrefix + db + "_" + suffix
	if fits(fam, name) {
		return name
	}
	// The same start of db for every level: room for the longest suffix.
	hash := "_" + hex.EncodeToString(sum256(db)) + "_"
	keep := db
	for keep != "" && !fits(fam, groupPrefix+keep+hash+"owner") {
		_, n := utf8.DecodeLastRuneInString(keep)
		keep = keep[:len(keep)-n]
	}
	return groupPrefix + keep + hash + suffix
}

// sum256 is the first 4 bytes of s's SHA-256.
func sum256(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:4]
}

// fits reports whether name is short enough for the engine family.
func fits(fam target.Family, name string) bool {
	if fam == target.FamilyMySQL {
		return utf8.RuneCountInString(name) <= maxMySQLRole
	}
	return len(name) <= maxPGName
}

// groupProfile returns the profile whose group role on db is name, or "".
func groupProfile(fam target.Family, db, name string) Profile {
	for _, l := range groupLevels {
		if GroupRole(fam, db, l.profile) == name {
			return l.profile
		}
	}
	return ""
}

// groupRoles returns db's group role names, strongest first.
func groupRoles(fam target.Family, db string) []string {
	out := make([]string, len(groupLevels))
	for i, l := range groupLevels {
		out[i] = GroupRole(fam, db, l.profile)
	}
	return out
}
