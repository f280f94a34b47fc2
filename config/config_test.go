package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sample = `# shared by the team
defaults:
  region: eu-west-1
  profile: prod
  route:
    via: ssm
    bastion_tag: Name=db-bastion
targets:
  orders-prod:
    identifier: orders-prod
    user: jane
    database: orders
    local_port: 15432
  legacy:
    endpoint: legacy.abc.eu-west-1.rds.amazonaws.com
    port: 3306
    engine: mysql
    route:
      via: direct
      address: 127.0.0.1:13306
`

func TestParseAndDefaults(t *testing.T) {
	f, err := Parse("team.yaml", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	c := &Config{Defaults: f.Defaults, Targets: f.Targets}
	got, ok := c.Target("orders-prod")
	if !ok {
		t.Fatal("orders-prod not found")
	}
	want := Target{
		Name: "orders-prod", Identifier: "orders-prod", Region: "eu-west-1", Profile: "prod",
		User: "jane", Database: "orders", LocalPort: 15432,
		Route:  Route{Via: "ssm", BastionTag: "Name=db-bastion"},
		Source: "team.yaml:10",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("orders-prod (-want +got):\n%s", d)
	}
	legacy, _ := c.Target("legacy")
	if d := cmp.Diff(Route{Via: "direct", Address: "127.0.0.1:13306"}, legacy.Route); d != "" {
		t.Errorf("a target's own route kind must replace the default route whole (-want +got):\n%s", d)
	}
	if legacy.Port != 3306 || legacy.Engine != "mysql" {
		t.Errorf("legacy = %+v", legacy)
	}
	if diff := cmp.Diff([]string{"legacy", "orders-prod"}, c.Names()); diff != "" {
		t.Error(diff)
	}
}

func TestErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		desc, text, want string
	}{
		{"unknown top-level key", "targets: {}\nfoo: 1\n", `f.yaml:2:1: unknown key "foo" in the top level`},
		{"unknown target key", "targets:\n  a:\n    identifier: a\n    hostname: x\n", `f.yaml:4:5: unknown key "hostname" in target "a"`},
		{"typo in route", "targets:\n  a:\n    route:\n      via: ssm\n      bastian: i-1\n", `f.yaml:5:7: unknown key "bastian" in route of target "a": did you mean bastion?`},
		{"typo in a target", "targets:\n  a:\n    identifer: a\n", `f.yaml:3:5: unknown key "identifer" in target "a": did you mean identifier?`},
		{"typo in defaults", "defaults:\n  reigon: eu-west-1\n", `f.yaml:2:3: unknown key "reigon" in defaults: did you mean region?`},
		{"typo in the defaults' route", "defaults:\n  route:\n    bastian_tag: Name=b\n", `f.yaml:3:5: unknown key "bastian_tag" in route of defaults: did you mean bastion_tag?`},
		{"typo at the top level", "target:\n  a:\n    user: x\n", `f.yaml:1:1: unknown key "target" in the top level: did you mean targets?`},
		{"a route key outside route", "targets:\n  a:\n    bastion: i-1\n", `f.yaml:3:5: unknown key "bastion" in target "a": bastion belongs under route`},
		{"a typo of a route key outside route", "targets:\n  a:\n    bastian: i-1\n", `f.yaml:3:5: unknown key "bastian" in target "a"`},
		{"bad port", "targets:\n  a:\n    identifier: a\n    port: 99999\n", `f.yaml:4:11: port: "99999" is not a port number (1-65535)`},
		{"bad via", "targets:\n  a:\n    route:\n      via: vpn\n", `f.yaml:4:12: via: "vpn" is not a route: use direct, ssm or ssh`},
		{"typo in via", "targets:\n  a:\n    route:\n      via: sssm\n", `f.yaml:4:12: via: "sssm" is not a route: did you mean ssm? (direct, ssm or ssh)`},
		{"typo in auth", "targets:\n  a:\n    auth: pasword\n", `f.yaml:3:11: auth: "pasword" is not an auth method: did you mean password? (iam or password)`},
		{"typo in ssl_negotiation", "targets:\n  a:\n    ssl_negotiation: drect\n", `f.yaml:3:22: ssl_negotiation: "drect" is not an SSL negotiation: did you mean direct? (postgres or direct)`},
		{"typo in engine", "targets:\n  a:\n    engine: postgresql\n", `f.yaml:3:13: engine: "postgresql" is not an engine: did you mean postgres? (postgres, mysql, mariadb, aurora-postgresql or aurora-mysql)`},
		{"bastion not an id", "targets:\n  a:\n    route:\n      via: ssm\n      bastion: my-bastion\n", `f.yaml:5:16: bastion: "my-bastion" is not an instance id`},
		{"route fields of another kind", "targets:\n  a:\n    route:\n      via: direct\n      bastion: i-1\n", `f.yaml:4:7: route: via direct takes only address`},
		{"both identifier and endpoint", "targets:\n  a:\n    identifier: a\n    endpoint: a.b.c\n", `f.yaml:3:5: target "a": set identifier or endpoint, not both`},
		{"list where a value belongs", "defaults:\n  region: [a, b]\n", `f.yaml:2:11: region must be a single value`},
		{"duplicate key", "targets:\n  a:\n    user: x\n    user: y\n", `f.yaml:4:5: key "user" appears twice`},
		{"bad bool", "targets:\n  a:\n    route:\n      via: ssh\n      ssh_eic: maybe\n", `f.yaml:5:16: ssh_eic: "maybe" is not true or false`},
		{"not yaml", "targets: [\n", `f.yaml: a "[" is never closed: line 1, column 10`},
		{"bad engine", "targets:\n  a:\n    engine: oracle\n", `f.yaml:3:13: engine: "oracle" is not an engine`},
		{"bad target name", "targets:\n  a b:\n    user: x\n", `f.yaml:3:5: target "a b"`},
		{"bad auth", "targets:\n  a:\n    auth: kerberos\n", `f.yaml:3:11: auth: "kerberos" is not an auth method`},
		{"two password sources", "targets:\n  a:\n    password_env: PW\n    password_file: /pw\n", `f.yaml:3:5: target "a": set one of password_secret, password_env and password_file`},
		{"a password with auth iam", "targets:\n  a:\n    auth: iam\n    password_env: PW\n", `f.yaml:3:5: target "a": auth: iam takes no password`},
		{"bad env name", "targets:\n  a:\n    password_env: $PW\n", `f.yaml:3:19: password_env: "$PW" is not an environment variable name`},
		{"bad ssl_negotiation", "targets:\n  a:\n    ssl_negotiation: require\n", `f.yaml:3:22: ssl_negotiation: "require" is not an SSL negotiation`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.text))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestKnownKeys: the key lists behind "did you mean" are the keys the parser
// takes, and every documented field of Route, Target and Defaults is one.
func TestKnownKeys(t *testing.T) {
	tests := []struct {
		desc   string
		keys   []string
		doc    func(key string) string
		fields any
	}{
		{"top level", topKeys, func(k string) string { return k + ": {}\n" }, nil},
		{"defaults", commonKeys, func(k string) string { return "defaults:\n  " + k + ": " + sampleValue(k) + "\n" }, Defaults{}},
		{"target", targetKeys, func(k string) string { return "targets:\n  a:\n    " + k + ": " + sampleValue(k) + "\n" }, Target{}},
		{"route", routeKeys, func(k string) string { return "defaults:\n  route:\n    " + k + ": " + sampleValue(k) + "\n" }, Route{}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			for _, k := range tc.keys {
				if _, err := Parse("f.yaml", []byte(tc.doc(k))); err != nil && strings.Contains(err.Error(), "unknown key") {
					t.Errorf("listed key %q is unknown to the parser: %v", k, err)
				}
			}
			if tc.fields == nil {
				return
			}
			typ := reflect.TypeOf(tc.fields)
			for i := range typ.NumField() {
				name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
				if name == "" || name == "-" || name == "name" {
					continue
				}
				if !slices.Contains(tc.keys, name) {
					t.Errorf("field %s (%q) is missing from the %s key list", typ.Field(i).Name, name, tc.desc)
				}
			}
		})
	}
}

// sampleValue is a valid value for key, so that only an unknown key fails.
func sampleValue(key string) string {
	switch key {
	case "route":
		return "{}"
	case "port", "local_port":
		return "5432"
	case "ssh_eic":
		return "true"
	case "via":
		return "ssm"
	case "address":
		return "127.0.0.1:5432"
	case "bastion":
		return "i-1"
	case "bastion_tag":
		return "Name=b"
	case "engine":
		return "postgres"
	case "auth":
		return "password"
	case "ssl_negotiation":
		return "direct"
	}
	return "x"
}

func TestEnumeratedValues(t *testing.T) {
	tests := []struct {
		desc  string
		check func(string) error
		value string
		want  string // "" for accepted
	}{
		{"a route", CheckVia, "ssm", ""},
		{"a route typo", CheckVia, "sssm", `"sssm" is not a route: did you mean ssm? (direct, ssm or ssh)`},
		{"a route in capitals", CheckVia, "SSH", `"SSH" is not a route: did you mean ssh? (direct, ssm or ssh)`},
		{"an ambiguous route", CheckVia, "ss", `"ss" is not a route: use direct, ssm or ssh`},
		{"no route near", CheckVia, "carrier-pigeon", `"carrier-pigeon" is not a route: use direct, ssm or ssh`},
		{"an SSL negotiation", CheckSSLNegotiation, "postgres", ""},
		{"an SSL negotiation typo", CheckSSLNegotiation, "postgress", `"postgress" is not an SSL negotiation: did you mean postgres? (postgres or direct)`},
		{"no SSL negotiation near", CheckSSLNegotiation, "require", `"require" is not an SSL negotiation: use postgres (an SSLRequest first, the default) or direct (PostgreSQL 17+)`},
		{"an auth method", checkAuth, "iam", ""},
		{"an auth method typo", checkAuth, "iamm", `"iamm" is not an auth method: did you mean iam? (iam or password)`},
		{"the old aurora engine", checkEngine, "aurora", ""},
		{"an engine typo", checkEngine, "mariadv", `"mariadv" is not an engine: did you mean mariadb? (postgres, mysql, mariadb, aurora-postgresql or aurora-mysql)`},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.check(tc.value)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("check(%q) = %q, want %q", tc.value, got, tc.want)
			}
		})
	}
}

func TestLoadMergesProjectOverUser(t *testing.T) {
	dir := t.TempDir()
	user := filepath.Join(dir, "user.yaml")
	write(t, user, "defaults:\n  profile: personal\n  region: us-east-1\ntargets:\n  orders:\n    identifier: orders\n    user: me\n    route:\n      via: ssh\n      ssh: me@bastion\n")
	proj := filepath.Join(dir, "repo", "sub", ProjectFileName)
	write(t, proj, "defaults:\n  region: eu-west-1\ntargets:\n  orders:\n    database: app\n    route:\n      via: ssm\n      bastion: i-0abc\n  other:\n    identifier: other\n")
	found, err := FindProject(filepath.Join(dir, "repo", "sub"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if found != proj {
		t.Fatalf("FindProject = %q, want %q", found, proj)
	}
	deeper := filepath.Join(dir, "repo", "sub", "a", "b")
	if err := os.MkdirAll(deeper, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FindProject(deeper, dir); err != nil || got != proj {
		t.Errorf("FindProject from a subdirectory = %q, %v, want %q", got, err, proj)
	}
	t.Setenv(EnvConfig, "")
	c, err := Load(user, proj, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := c.Target("orders")
	want := Target{Name: "orders", Identifier: "orders", Region: "eu-west-1", Profile: "personal", User: "me",
		Database: "app", Route: Route{Via: "ssm", Bastion: "i-0abc"}, Source: proj + ":5"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("merged orders (-want +got):\n%s", d)
	}
	if _, ok := c.Target("other"); !ok {
		t.Error("project-only target missing")
	}
}

func TestPasswordAndSSLNegotiation(t *testing.T) {
	f, err := Parse("f.yaml", []byte("targets:\n  legacy:\n    identifier: legacy\n    auth: password\n    password_secret: arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-1\n    ssl_negotiation: direct\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := f.Targets["legacy"]
	if got.Auth != "password" || got.PasswordSecret != "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!db-1" || got.SSLNegotiation != "direct" || !got.HasPasswordSource() {
		t.Errorf("legacy = %+v", got)
	}
	// The project file's password source replaces the user file's whole.
	low := Target{Name: "legacy", Identifier: "legacy", Auth: "password", PasswordSecret: "arn:old", SSLNegotiation: "direct"}
	merged := mergeTarget(low, Target{Name: "legacy", PasswordEnv: "LEGACY_PW"})
	if merged.PasswordSecret != "" || merged.PasswordEnv != "LEGACY_PW" || merged.Auth != "password" || merged.SSLNegotiation != "direct" {
		t.Errorf("merged = %+v", merged)
	}
	if merged := mergeTarget(low, Target{Name: "legacy", User: "x"}); merged.PasswordSecret != "arn:old" {
		t.Errorf("a project entry without a source must keep the user file's: %+v", merged)
	}
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvConfig, "")
	c, err := Load(filepath.Join(dir, "absent.yaml"), "", nil)
	if err != nil {
		t.Fatalf("a missing user file is the first-run state, not an error: %v", err)
	}
	if len(c.Targets) != 0 || len(c.Files) != 0 {
		t.Errorf("unexpected %+v", c)
	}
	t.Setenv(EnvConfig, filepath.Join(dir, "named.yaml"))
	if _, err := Load(UserPath(), "", nil); err == nil {
		t.Error("a file named by RDSGATE_CONFIG that does not exist must be an error")
	}
	if _, err := Load("", filepath.Join(dir, "gone", ProjectFileName), nil); err == nil {
		t.Error("a named project file that does not exist must be an error")
	}
}

func TestEmptyFile(t *testing.T) {
	f, err := Parse("e.yaml", []byte("# nothing yet\n"))
	if err != nil || len(f.Targets) != 0 {
		t.Fatalf("%+v, %v", f, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("targets:\n  a: &x\n    user: b\n  c: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse("fuzz.yaml", data) // must not panic
	})
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
