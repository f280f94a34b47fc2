// Package queryout runs one SQL statement and prints its rows for a person
// (an aligned table), a program (JSON, one object per row) or a
// spreadsheet (CSV).
package queryout

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
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

// Print runs query on db and writes its rows to out in format: text (an
// aligned table; "(N rows)" goes to notes), json or csv. Bytes that are not
// UTF-8 print as \x hex.
func Print(ctx context.Context, db *sql.DB, query, format string, out, notes io.Writer) error {
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
	switch format {
	case "json":
		objs := make([]map[string]any, 0, len(table))
		for _, r := range table {
			m := make(map[string]any, len(cols))
			for i, c := range cols {
				m[c] = r[i]
			}
			objs = append(objs, m)
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(objs)
	case "csv":
		w := csv.NewWriter(out)
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
		fmt.Fprintln(out, "OK")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
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
	fmt.Fprintf(notes, "(%d %s)\n", len(table), noun)
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
