package session

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDests(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		in      []string
		want    []Dest
		wantErr string
	}{
		{"none", []string{""}, nil, ""},
		{"stderr", []string{"-"}, []Dest{{Kind: DestStderr}}, ""},
		{"stdout and a file", []string{"stdout,/var/log/s.jsonl"}, []Dest{{Kind: DestStdout}, {Kind: DestFile, Path: "/var/log/s.jsonl"}}, ""},
		{"repeated values", []string{"-", "cloudwatch:sessions"}, []Dest{{Kind: DestStderr}, {Kind: DestCloudWatch, Group: "sessions"}}, ""},
		{"group and stream", []string{"cloudwatch:sessions/laptop"}, []Dest{{Kind: DestCloudWatch, Group: "sessions", Stream: "laptop"}}, ""},
		{"group with slashes", []string{"cloudwatch:/rdsgate/sessions/"}, []Dest{{Kind: DestCloudWatch, Group: "/rdsgate/sessions"}}, ""},
		{"leading slash only", []string{"cloudwatch:/rdsgate"}, []Dest{{Kind: DestCloudWatch, Group: "/rdsgate"}}, ""},
		{"duplicates count once", []string{"-,-", " - "}, []Dest{{Kind: DestStderr}}, ""},
		{"empty group", []string{"cloudwatch:"}, nil, "log group name"},
		{"bad group", []string{"cloudwatch:a b"}, nil, "log group name"},
		{"bad stream", []string{"cloudwatch:g/a*b"}, nil, "log stream name"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ParseDests(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestOpenDests(t *testing.T) {
	var stdout, stderr bytes.Buffer
	dir := t.TempDir()
	file := filepath.Join(dir, "s.jsonl")
	r, err := OpenDests(context.Background(), []string{"stdout,-", "~/s.jsonl"}, OpenOptions{Stdout: &stdout, Stderr: &stderr,
		ExpandPath: func(p string) string { return strings.Replace(p, "~", dir, 1) }})
	if err != nil {
		t.Fatal(err)
	}
	r.Start(Record{ID: "x", Start: time.Now()})
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), `"session_id":"x"`) {
		t.Errorf("file: %q, %v", b, err)
	}
	for name, b := range map[string]*bytes.Buffer{"stdout": &stdout, "stderr": &stderr} {
		if !strings.Contains(b.String(), `"session_id":"x"`) {
			t.Errorf("%s lacks the record: %q", name, b.String())
		}
	}
	if _, err := OpenDests(context.Background(), []string{"cloudwatch:g"}, OpenOptions{}); !errors.Is(err, ErrNoCloudWatch) {
		t.Errorf("a CloudWatch destination without AWS: %v, want ErrNoCloudWatch", err)
	}
	// The old entry point still works.
	r, err = Open("-", nil, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	r.Close(context.Background())
}
