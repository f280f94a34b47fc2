package tfplan

import (
	"slices"
	"testing"
)

func TestSplitModule(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		names []string
		ok    bool
	}{
		{"", nil, true},
		{"module.db", []string{"db"}, true},
		{`module.db[0].module.net["a.b]"]`, []string{"db", "net"}, true},
		{"module.", nil, false},
		{"module.db[0", nil, false},
		{"aws_db_instance.x", nil, false},
		{"module.db.aws_db_instance.x", nil, false},
	} {
		segs, ok := splitModule(tc.addr)
		var names []string
		for _, s := range segs {
			names = append(names, s.name)
		}
		if ok != tc.ok || !slices.Equal(names, tc.names) {
			t.Errorf("splitModule(%q) = %q, %v; want %q, %v", tc.addr, names, ok, tc.names, tc.ok)
		}
		if ok && joinModule(segs) != tc.addr {
			t.Errorf("joinModule(splitModule(%q)) = %q", tc.addr, joinModule(segs))
		}
	}
}

func TestStripIndex(t *testing.T) {
	for in, want := range map[string]string{
		"aws_db_instance.x":                  "aws_db_instance.x",
		"aws_db_instance.x[0]":               "aws_db_instance.x",
		`module.a["k"].aws_db_instance.x[1]`: `module.a["k"].aws_db_instance.x`,
		`aws_db_instance.x["a[b]"]`:          "aws_db_instance.x",
	} {
		if got := stripIndex(in); got != want {
			t.Errorf("stripIndex(%q) = %q, want %q", in, got, want)
		}
	}
}
