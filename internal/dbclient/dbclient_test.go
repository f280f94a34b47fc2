package dbclient

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rdsgate/rdsgate/awsconf"
	"github.com/rdsgate/rdsgate/dbpath"
	"github.com/rdsgate/rdsgate/target"
)

func TestEnvDropsSecretsAndRedirects(t *testing.T) {
	env := []string{"HOME=/home/j", "PGPASSWORD=x", "PGHOST=evil", "MYSQL_PWD=y", "AWS_SECRET_ACCESS_KEY=z",
		"AWS_SESSION_TOKEN=t", "AWS_REGION=eu-west-1", "LEGACY_PW=p", "PAGER=less", "AWS_SSM_START_SESSION_RESPONSE={}"}
	got := Env(env, "LEGACY_PW")
	want := []string{"HOME=/home/j", "AWS_REGION=eu-west-1", "PAGER=less"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	if env[1] != "PGPASSWORD=x" {
		t.Error("Env changed its input")
	}
}

func TestArgs(t *testing.T) {
	sock := "/run/u/rdsgate-1/.s.PGSQL.5432"
	tests := []struct {
		client, db string
		want       []string
	}{
		{"psql", "orders", []string{"-h", "/run/u/rdsgate-1", "-p", "5432", "-U", "jane", "-d", "orders"}},
		{"pgcli", "", []string{"-h", "/run/u/rdsgate-1", "-p", "5432", "-U", "jane"}},
		{"mysql", "orders", []string{"--socket=" + sock, "--user=jane", "--database=orders"}},
		{"mariadb", "", []string{"--socket=" + sock, "--user=jane"}},
		{"mycli", "orders", []string{"-S", sock, "-u", "jane", "-D", "orders"}},
	}
	for _, tc := range tests {
		if d := cmp.Diff(tc.want, Args(tc.client, sock, "jane", tc.db)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.client, d)
		}
	}
}

func TestPick(t *testing.T) {
	bin := t.TempDir()
	for _, n := range []string{"pgcli", "mariadb"} {
		if err := os.WriteFile(filepath.Join(bin, n), []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	tests := []struct {
		fam      target.Family
		want     string
		got      string
		wrongFam bool
		notFound bool
	}{
		{fam: target.FamilyPostgres, got: "pgcli"},
		{fam: target.FamilyMySQL, got: "mariadb"},
		{fam: target.FamilyPostgres, want: "psql", notFound: true},
		{fam: target.FamilyPostgres, want: "mysql", wrongFam: true},
	}
	for _, tc := range tests {
		name, path, err := Pick(tc.fam, tc.want)
		var wf *WrongFamilyError
		var nf *NotFoundError
		switch {
		case tc.wrongFam != errors.As(err, &wf), tc.notFound != errors.As(err, &nf):
			t.Errorf("Pick(%s, %q): error %v", tc.fam, tc.want, err)
		case err == nil && (name != tc.got || path != filepath.Join(bin, tc.got)):
			t.Errorf("Pick(%s, %q) = %s %s", tc.fam, tc.want, name, path)
		}
	}
	code, err := Run{Bin: filepath.Join(bin, "pgcli")}.Start(context.Background())
	if err != nil || code != 3 {
		t.Errorf("Run: exit %d, %v; want 3", code, err)
	}
}

func TestWriteInfo(t *testing.T) {
	p := &dbpath.Path{Spec: dbpath.Spec{Name: "orders", User: "jane", Database: "shop"},
		Identity: awsconf.Identity{ARN: "arn:aws:sts::111122223333:assumed-role/dev/jane"},
		Target:   target.Target{Identifier: "orders-prod", Engine: "postgres", Host: "orders.example", Port: 5432},
		Route:    dbpath.Route{Via: "ssm"}}
	var b strings.Builder
	WriteInfo(&b, Listener{Path: p, Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 15432}, Socket: "/tmp/d/.s.PGSQL.15432"})
	for _, want := range []string{
		"orders (postgres) on 127.0.0.1:15432 -> orders.example:5432 via ssm, as arn:aws:sts::111122223333:assumed-role/dev/jane\n",
		`  psql "host=127.0.0.1 port=15432 user=jane dbname=shop"`,
		"  URL:  postgres://jane@127.0.0.1:15432/shop?sslmode=disable\n",
		`  socket: psql "host=/tmp/d port=15432 user=jane dbname=shop"`,
		"no password, SSL off",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("info lacks %q:\n%s", want, b.String())
		}
	}
}
