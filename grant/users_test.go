package grant

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// Only a refusal for want of privilege points at the administrative login.
func TestCatalogHint(t *testing.T) {
	for _, tc := range []struct {
		err  error
		hint bool
	}{
		{&pgconn.PgError{Code: "42501", Message: "permission denied for table pg_authid"}, true},
		{fmt.Errorf("query: %w", &mysql.MySQLError{Number: 1142, Message: "SELECT command denied to user 'x'@'%' for table 'user'"}), true},
		{&mysql.MySQLError{Number: 1227, Message: "Access denied; you need (at least one of) the SUPER privilege(s)"}, true},
		{&pgconn.PgError{Code: "0A000", Message: "the rdsgate sandbox's embedded engine has no system catalogs"}, false},
		{&mysql.MySQLError{Number: 1146, Message: "Table 'mysql.user' doesn't exist"}, false},
		{errors.New("connection reset by peer"), false},
	} {
		if got := catalogHint(tc.err); (got != "") != tc.hint || (tc.hint && !strings.Contains(got, "master user")) {
			t.Errorf("catalogHint(%v) = %q, want a hint: %v", tc.err, got, tc.hint)
		}
	}
}
