package cmdline

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rdsgate/rdsgate/setting"
	"github.com/rdsgate/rdsgate/stage"
)

func TestIsUsage(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{Usagef("--port %d: too big", 70000), true},
		{fmt.Errorf("connect: %w", UsageError{Err: errors.New("x")}), true},
		{setting.Invalidf("%s and %s: give one", setting.Until, setting.For), true},
		{fmt.Errorf("policy: %w", setting.Invalidf("%s: bad", setting.Until)), true},
		{setting.Errorf("%s is not reachable", setting.Bastion), false},
		{errors.New(`unknown flag: --nope`), true},
		{errors.New(`accepts 1 arg(s), received 2`), true},
		{errors.New("dial tcp 127.0.0.1:5432: connection refused"), false},
	} {
		if got := IsUsage(tc.err); got != tc.want {
			t.Errorf("IsUsage(%q) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{"X_CA_BUNDLE": "/env.pem", "X_PORT": "99", "X_VIA": "ssm"}
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    map[string]string
		wantErr bool
	}{
		{"env fills unset flags", nil, env, map[string]string{"ca-bundle": "/env.pem", "port": "99", "via": "ssm"}, false},
		{"a flag given wins", []string{"--via", "direct"}, env, map[string]string{"via": "direct", "port": "99"}, false},
		{"a bad value names the variable", nil, map[string]string{"X_PORT": "many"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			fs.String("ca-bundle", "", "")
			fs.Int("port", 0, "")
			fs.String("via", "", "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := ApplyEnv(fs, "X_", func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !IsUsage(err) {
					t.Errorf("%v is not a usage error", err)
				}
				return
			}
			for k, v := range tc.want {
				if got := fs.Lookup(k).Value.String(); got != v {
					t.Errorf("--%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestCheckOutput(t *testing.T) {
	root := &cobra.Command{Use: "tool"}
	ls := &cobra.Command{Use: "ls"}
	root.AddCommand(ls)
	outputs := map[string][]string{"tool ls": {"json"}}
	for _, tc := range []struct {
		output string
		ok     bool
	}{{"text", true}, {"json", true}, {"csv", false}} {
		err := CheckOutput(ls, tc.output, outputs)
		if (err == nil) != tc.ok {
			t.Errorf("CheckOutput(ls, %s) = %v, want ok %v", tc.output, err, tc.ok)
		}
		if err != nil && err.Error() != "--output csv: tool ls prints text or json" {
			t.Errorf("message %q", err)
		}
	}
}

func TestAddHelpAndCompleteValues(t *testing.T) {
	root := &cobra.Command{Use: "tool"}
	sub := &cobra.Command{Use: "sub", Run: func(*cobra.Command, []string) {}}
	sub.Flags().String("format", "", "")
	root.AddCommand(sub)
	AddHelp(root, func(path string) (string, string) {
		if path == "tool sub" {
			return "long text", "tool sub --format json"
		}
		return "", ""
	})
	if sub.Long != "long text" || sub.Example != "tool sub --format json" || root.Long != "" {
		t.Errorf("help: sub %q/%q, root %q", sub.Long, sub.Example, root.Long)
	}
	CompleteValues(root, map[string][]string{"format": {"json", "yaml"}})
	f, ok := sub.GetFlagCompletionFunc("format")
	if !ok {
		t.Fatal("no completion for --format")
	}
	got, _ := f(sub, nil, "")
	if fmt.Sprint(got) != "[json yaml]" {
		t.Errorf("completions %v", got)
	}
}

func TestReport(t *testing.T) {
	hidden := stage.Hide("the credentials were refused", errors.New("operation error STS: GetCallerIdentity, RequestID: 1234"))
	for _, tc := range []struct {
		err     error
		verbose bool
		want    string
		usage   bool
	}{
		{errors.New("boom"), false, "tool: boom\n", false},
		{Usagef("--via %q: no such route", "sssm"), false, "tool: --via \"sssm\": no such route\nRun 'tool --help' (or COMMAND --help) for usage.\n", true},
		{errors.New(`unknown command "conect" for "tool"; ; Did you mean this?; connect;`), false,
			"tool: unknown command \"conect\" for \"tool\": did you mean connect?\nRun 'tool --help' (or COMMAND --help) for usage.\n", true},
		{hidden, false, "tool: the credentials were refused\n", false},
		{hidden, true, "tool: the credentials were refused\n  cause: operation error STS: GetCallerIdentity, RequestID: 1234\n", false},
		{Spell(setting.Errorf("pass %s", setting.CABundle.Is("FILE")), Flags()), false, "tool: pass --ca-bundle FILE\n", false},
	} {
		var b strings.Builder
		if usage := Report(&b, "tool", tc.err, tc.verbose); usage != tc.usage || b.String() != tc.want {
			t.Errorf("Report(%q, verbose %v):\n%q (usage %v)\nwant\n%q (usage %v)", tc.err, tc.verbose, b.String(), usage, tc.want, tc.usage)
		}
	}
}
