package mysqlfront

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The catalog emulation. MariaDB's mysql.user is a view of
// mysql.global_priv, so tools that read it (rdsgate users, a DBA's
// SELECT user, plugin FROM mysql.user) would see the emulation's IAM users
// as password users. EmulateIAMCatalog redefines the view so that an IAM
// user reads as RDS MySQL shows one: plugin AWSAuthenticationPlugin,
// authentication_string 'RDS', an empty Password. An account is an IAM
// user, as for isIAMUser, when its hash is its user's derived password's;
// the view cannot compute that (it needs the secret), so it looks the hash
// up in iamTable, which the front fills: for every such account at
// EmulateIAMCatalog, and for every user a rewritten CREATE/ALTER USER
// names, before the statement runs. A stale row is harmless: an account
// whose password changed no longer has the recorded hash.
const iamTable = "mysql.rdsgate_iam_users"

// viewEdits are the mysql.user columns the emulation redefines, as
// MariaDB 10.4–11 print them in SHOW CREATE VIEW; %s is the IAM condition.
var viewEdits = []struct{ from, to string }{
	{"if(json_value(`mysql`.`global_priv`.`Priv`,'$.plugin') in ('mysql_native_password','mysql_old_password'),ifnull(json_value(`mysql`.`global_priv`.`Priv`,'$.authentication_string'),''),'') AS `Password`",
		"if(%s,'',if(json_value(`mysql`.`global_priv`.`Priv`,'$.plugin') in ('mysql_native_password','mysql_old_password'),ifnull(json_value(`mysql`.`global_priv`.`Priv`,'$.authentication_string'),''),'')) AS `Password`"},
	{"ifnull(json_value(`mysql`.`global_priv`.`Priv`,'$.plugin'),'') AS `plugin`",
		"if(%s,'AWSAuthenticationPlugin',ifnull(json_value(`mysql`.`global_priv`.`Priv`,'$.plugin'),'')) AS `plugin`"},
	{"ifnull(json_value(`mysql`.`global_priv`.`Priv`,'$.authentication_string'),'') AS `authentication_string`",
		"if(%s,'RDS',ifnull(json_value(`mysql`.`global_priv`.`Priv`,'$.authentication_string'),'')) AS `authentication_string`"},
}

const iamCondition = "exists(select 1 from " + iamTable + " `i` where `i`.`User` = `mysql`.`global_priv`.`User` and `i`.`auth` = json_value(`mysql`.`global_priv`.`Priv`,'$.authentication_string'))"

// EmulateIAMCatalog makes the backend's mysql.user show the emulation's IAM
// users as RDS MySQL shows IAM users (see iamTable). It needs the admin
// connection (Config.AdminDSN) and is idempotent. Without it the front
// works the same; only the catalog shows IAM users as password users.
func (s *Server) EmulateIAMCatalog(ctx context.Context) error {
	if s.admin == nil {
		return errors.New("mysqlfront: the catalog emulation needs Config.AdminDSN")
	}
	if err := s.redefineUserView(ctx); err != nil {
		return fmt.Errorf("mysqlfront: emulate IAM users in mysql.user: %w", err)
	}
	// Record the IAM accounts that exist already (the sandbox's seed): one
	// read of the accounts, compared as isIAMUser compares.
	rows, err := s.admin.QueryContext(ctx, "SELECT DISTINCT User, JSON_VALUE(Priv, '$.authentication_string') FROM mysql.global_priv WHERE JSON_VALUE(Priv, '$.plugin') = 'mysql_native_password'")
	if err != nil {
		return fmt.Errorf("mysqlfront: emulate IAM users in mysql.user: %w", err)
	}
	defer rows.Close()
	var iam []string
	for rows.Next() {
		var u string
		var auth sql.NullString
		if err := rows.Scan(&u, &auth); err != nil {
			return fmt.Errorf("mysqlfront: emulate IAM users in mysql.user: %w", err)
		}
		if auth.Valid && strings.EqualFold(auth.String, nativeHashOfDerived(s.cfg.Secret, u)) {
			iam = append(iam, u)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("mysqlfront: emulate IAM users in mysql.user: %w", err)
	}
	rows.Close()
	return s.recordIAMUsers(ctx, iam)
}

func (s *Server) redefineUserView(ctx context.Context) error {
	if _, err := s.admin.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+iamTable+
		" (User char(128) CHARACTER SET utf8mb3 COLLATE utf8mb3_bin NOT NULL PRIMARY KEY,"+
		" auth varchar(64) CHARACTER SET latin1 COLLATE latin1_general_ci NOT NULL)"+
		" COMMENT 'rdsgate sandbox: native-password hashes of emulated IAM users'"); err != nil {
		return err
	}
	var name, def, cs, coll string
	if err := s.admin.QueryRowContext(ctx, "SHOW CREATE VIEW mysql.user").Scan(&name, &def, &cs, &coll); err != nil {
		return err
	}
	if strings.Contains(def, iamTable) || strings.Contains(def, "`rdsgate_iam_users`") {
		return nil // done before, on this data directory
	}
	for _, e := range viewEdits {
		if strings.Count(def, e.from) != 1 {
			return fmt.Errorf("this MariaDB's mysql.user view is not the one the emulation knows (no %q)", e.from)
		}
		def = strings.Replace(def, e.from, fmt.Sprintf(e.to, iamCondition), 1)
	}
	// The view runs as its definer, mariadb.sys, which may read only
	// global_priv.
	if _, err := s.admin.ExecContext(ctx, "GRANT SELECT ON "+iamTable+" TO 'mariadb.sys'@'localhost'"); err != nil {
		return err
	}
	def, ok := strings.CutPrefix(def, "CREATE ")
	if !ok {
		return fmt.Errorf("unexpected SHOW CREATE VIEW output %.40q", def)
	}
	_, err := s.admin.ExecContext(ctx, "CREATE OR REPLACE "+def)
	return err
}

// recordIAMUsers writes users' derived-password hashes to iamTable.
func (s *Server) recordIAMUsers(ctx context.Context, users []string) error {
	for _, u := range users {
		if _, err := s.admin.ExecContext(ctx, "REPLACE INTO "+iamTable+" (User, auth) VALUES (?, ?)", u, nativeHashOfDerived(s.cfg.Secret, u)); err != nil {
			return fmt.Errorf("record IAM user %q: %w", u, err)
		}
	}
	return nil
}

// noteRewrite records the users of a rewritten statement for the catalog
// emulation, before the statement runs. Failure only costs the catalog's
// fidelity (the table is missing when EmulateIAMCatalog was not called),
// so it is logged, not returned.
func (s *Server) noteRewrite(users []string) {
	if s.admin == nil || len(users) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.recordIAMUsers(ctx, users); err != nil {
		s.log.Debug("mysqlfront: IAM user not recorded for mysql.user", "err", err)
	}
}
