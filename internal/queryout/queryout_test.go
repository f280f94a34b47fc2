package queryout

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// The rows come from a real SQL engine (SQLite, in-process).
func TestPrint(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const q = `select 1 as id, 'a	b' as name, null as note, x'ff00' as raw union all select 2, 'c', 'n', x'6869'`
	tests := []struct {
		format, want, notes string
	}{
		{"text", "id  name  note  raw\n1   a b   NULL  \\xff00\n2   c     n     hi\n", "(2 rows)\n"},
		{"csv", "id,name,note,raw\n1,a\tb,NULL,\\xff00\n2,c,n,hi\n", ""},
		{"json", `[
  {
    "id": 1,
    "name": "a\tb",
    "note": null,
    "raw": "\\xff00"
  },
  {
    "id": 2,
    "name": "c",
    "note": "n",
    "raw": "hi"
  }
]
`, ""},
	}
	for _, tc := range tests {
		var out, notes strings.Builder
		if err := Print(context.Background(), db, q, tc.format, &out, &notes); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if out.String() != tc.want || notes.String() != tc.notes {
			t.Errorf("%s:\n got %q %q\nwant %q %q", tc.format, out.String(), notes.String(), tc.want, tc.notes)
		}
	}
	var out strings.Builder
	if err := Print(context.Background(), db, "select nope from nowhere", "text", &out, &out); err == nil {
		t.Error("a bad statement printed no error")
	}
}
