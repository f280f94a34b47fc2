package humanlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A client picks its user and database names; the text log must keep each
// record on one line and show the name for what it is.
func TestHumanLogCannotBeForged(t *testing.T) {
	tests := []struct {
		desc string
		msg  string
		val  string
		want string
	}{
		{"plain", "session ended", "app_user", "session ended (user=app_user)\n"},
		{"newline in a value", "session ended", "x\nwarning: session ended (user=admin)",
			`session ended (user="x\nwarning: session ended (user=admin)")` + "\n"},
		{"carriage return and terminal escape", "login", "a\r\x1b[2Kb", `login (user="a\r\x1b[2Kb")` + "\n"},
		{"bidirectional override", "login", "adm\u202enimda", `login (user="adm\u202enimda")` + "\n"},
		{"a spoofed attribute", "login", "x, target=prod", `login (user="x, target=prod")` + "\n"},
		{"newline in the message", "refused user x\nerror: forged", "u", `refused user x\nerror: forged (user=u)` + "\n"},
		{"empty value", "login", "", `login (user="")` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var buf bytes.Buffer
			slog.New(New(&buf, slog.LevelInfo)).Info(tc.msg, "user", tc.val)
			if got := buf.String(); got != tc.want {
				t.Errorf("log line\n got %q\nwant %q", got, tc.want)
			}
			if n := strings.Count(buf.String(), "\n"); n != 1 {
				t.Errorf("%d lines, want 1", n)
			}
		})
	}
}
