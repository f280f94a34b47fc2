package cli

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rdsgate/rdsgate/target"
)

// open returns a database/sql handle on the local proxy: no password, no
// TLS (the proxy does both upstream).
func (l *localPath) open(_ context.Context, user, db string) (*sql.DB, error) {
	switch l.p.Target.Family() {
	case target.FamilyPostgres:
		cfg, err := pgx.ParseConfig("sslmode=disable connect_timeout=30")
		if err != nil {
			return nil, err
		}
		if l.socket != "" {
			cfg.Host, cfg.Port = filepath.Dir(l.socket), uint16(target.DefaultPort("postgres"))
		} else {
			cfg.Host, cfg.Port = l.addr.IP.String(), uint16(l.addr.Port)
		}
		cfg.User, cfg.Database = user, db
		if db == "" {
			cfg.Database = "postgres"
		}
		return stdlib.OpenDB(*cfg), nil
	case target.FamilyMySQL:
		mc := mysql.NewConfig()
		mc.User, mc.DBName, mc.Timeout = user, db, 30*time.Second
		if l.socket != "" {
			mc.Net, mc.Addr = "unix", l.socket
		} else {
			mc.Net, mc.Addr = "tcp", l.addr.String()
		}
		conn, err := mysql.NewConnector(mc)
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(conn), nil
	}
	return nil, fmt.Errorf("engine %s is not supported", l.p.Target.Engine)
}

// execSQL runs one statement and prints its rows as a table, JSON or CSV.
func (a *app) execSQL(ctx context.Context, db *sql.DB, query string) error {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	var table [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("exec: %w", err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				if utf8.Valid(b) {
					vals[i] = string(b)
				} else {
					vals[i] = fmt.Sprintf("\\x%x", b)
				}
			}
		}
		table = append(table, vals)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	switch a.g.output {
	case "json":
		out := make([]map[string]any, 0, len(table))
		for _, r := range table {
			m := make(map[string]any, len(cols))
			for i, c := range cols {
				m[c] = r[i]
			}
			out = append(out, m)
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "csv":
		w := csv.NewWriter(a.stdout)
		_ = w.Write(cols)
		for _, r := range table {
			rec := make([]string, len(r))
			for i, v := range r {
				rec[i] = cell(v)
			}
			_ = w.Write(rec)
		}
		w.Flush()
		return w.Error()
	}
	if len(cols) == 0 {
		fmt.Fprintln(a.stdout, "OK")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range table {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cell(v))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	noun := "rows"
	if len(table) == 1 {
		noun = "row"
	}
	fmt.Fprintf(a.stderr, "(%d %s)\n", len(table), noun)
	return nil
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}
