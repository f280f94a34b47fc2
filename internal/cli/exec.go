package cli

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// scanAll reads every row; bytes become text, or \x hex when not UTF-8.
func scanAll(rows *sql.Rows, n int) ([][]any, error) {
	var table [][]any
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
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
	return table, rows.Err()
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
	table, err := scanAll(rows, len(cols))
	if err != nil {
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
