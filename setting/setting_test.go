package setting

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

// flags is a Style like the command line's.
var flags = Style{Assign: " ", Names: map[Name]string{CABundle: "--ca-bundle", User: "--user", Via: "--via", Bastion: "--bastion"}}

func TestText(t *testing.T) {
	inner := Errorf("pass %s or set X", CABundle.Is("FILE"))
	tests := []struct {
		desc          string
		text          Text
		neutral, flag string
	}{
		{"plain", Plain("no settings here"), "no settings here", "no settings here"},
		{"zero", Text{}, "", ""},
		{"bare name", Textf("pass %s", User), "pass user", "pass --user"},
		{"name with a value", Textf("pass %v FILE", CABundle), "pass ca_bundle FILE", "pass --ca-bundle FILE"},
		{"ref", Textf("use %s with a bastion", Via.Is("ssm")), "use route.via=ssm with a bastion", "use --via ssm with a bastion"},
		{"two refs and other args", Textf("%s: pass %s or %s (%d)", "x", Bastion.Is("i-..."), Via, 3),
			"x: pass route.bastion=i-... or route.via (3)", "x: pass --bastion i-... or --via (3)"},
		{"a setting the style lacks keeps its name", Textf("with %s", SSHAcceptNew), "with ssh_accept_new", "with ssh_accept_new"},
		{"embedded text", Textf("[%s] %s", Textf("pass %s", User), "end"), "[pass user] end", "[pass --user] end"},
		{"error argument", Textf("failed: %v", inner), "failed: pass ca_bundle=FILE or set X", "failed: pass --ca-bundle FILE or set X"},
		{"wrapped error argument", Textf("failed: %v", fmt.Errorf("load: %w", inner)), "failed: load: pass ca_bundle=FILE or set X", "failed: load: pass --ca-bundle FILE or set X"},
		{"quoted name is literal", Textf("%q", User), `"user"`, `"user"`},
		{"width makes it literal", Textf("[%6s]", User), "[  user]", "[  user]"},
		{"percent", Textf("100%% %s", User), "100% user", "100% --user"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := tc.text.String(); got != tc.neutral {
				t.Errorf("String() = %q, want %q", got, tc.neutral)
			}
			if got := tc.text.Render(flags); got != tc.flag {
				t.Errorf("Render(flags) = %q, want %q", got, tc.flag)
			}
			if got, _ := tc.text.MarshalText(); string(got) != tc.neutral {
				t.Errorf("MarshalText() = %q, want %q", got, tc.neutral)
			}
			if tc.text.IsZero() != (tc.neutral == "") {
				t.Errorf("IsZero() = %v for %q", tc.text.IsZero(), tc.neutral)
			}
		})
	}
}

// Without settings among the arguments, Textf formats as fmt.Errorf.
func TestTextfIsSprintf(t *testing.T) {
	err := errors.New("boom")
	tests := []struct {
		format string
		args   []any
	}{
		{"plain", nil},
		{"%s and %v and %d", []any{"a", 1.5, 7}},
		{"%q %x %5.2f %-4s|", []any{"q", 255, 3.14159, "ab"}},
		{"%v", []any{err}},
		{"%w", []any{err}},
		{"%w", []any{"not an error"}},
		{"%s %s", []any{"one"}},
		{"%s", []any{"one", "two"}},
		{"trailing %", nil},
		{"%% %+v %#v", []any{struct{ A int }{1}, []int{1}}},
	}
	for _, tc := range tests {
		want := fmt.Errorf(tc.format, tc.args...).Error()
		if got := Textf(tc.format, tc.args...).String(); got != want {
			t.Errorf("Textf(%q, %v) = %q, want %q as fmt.Errorf", tc.format, tc.args, got, want)
		}
		if got := Errorf(tc.format, tc.args...).Error(); got != want {
			t.Errorf("Errorf(%q, %v) = %q, want %q as fmt.Errorf", tc.format, tc.args, got, want)
		}
	}
}

func TestError(t *testing.T) {
	err := Errorf("rdsca: bundle %s: %w; pass %s", "/x", fs.ErrNotExist, CABundle.Is("FILE"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is does not find the %w argument")
	}
	want := "rdsca: bundle /x: file does not exist; pass ca_bundle=FILE"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	var se *Error
	if !errors.As(fmt.Errorf("outer: %w", err), &se) || se.Text().String() != want {
		t.Errorf("errors.As: %v", se)
	}
	two := Errorf("%w and %w", fs.ErrNotExist, fs.ErrPermission)
	if !errors.Is(two, fs.ErrNotExist) || !errors.Is(two, fs.ErrPermission) {
		t.Error("two %w verbs: not both found")
	}
}

func TestRender(t *testing.T) {
	a := Errorf("pass %s", User)
	b := Errorf("use %s", Via.Is("ssm"))
	tests := []struct {
		desc string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("plain --user"), "plain --user"},
		{"itself", a, "pass --user"},
		{"wrapped by fmt", fmt.Errorf("connect: %w", a), "connect: pass --user"},
		{"wrapped twice", fmt.Errorf("x: %w", fmt.Errorf("y: %w", b)), "x: y: use --via ssm"},
		{"joined", errors.Join(a, b), "pass --user\nuse --via ssm"},
		{"the same error twice", errors.Join(a, a), "pass --user\npass --user"},
		{"wrapping an Error", Errorf("outer %s: %w", Bastion, b), "outer --bastion: use --via ssm"},
		{"a custom Renderer", fmt.Errorf("w: %w", custom{}), "w: custom --user"},
		{"%v does not wrap", fmt.Errorf("v: %v", a), "v: pass user"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := Render(tc.err, flags); got != tc.want {
				t.Errorf("Render = %q, want %q", got, tc.want)
			}
			if tc.err != nil {
				if got := Render(tc.err, Style{}); got != tc.err.Error() {
					t.Errorf("Render(zero Style) = %q, want Error() %q", got, tc.err.Error())
				}
			}
		})
	}
}

type custom struct{}

func (custom) Error() string         { return custom{}.Render(Style{}) }
func (custom) Render(s Style) string { return "custom " + s.Spell(Ref{Name: User}) }

func TestRegistry(t *testing.T) {
	seen := map[Name]bool{}
	for _, n := range All() {
		if seen[n] {
			t.Errorf("%s listed twice", n)
		}
		seen[n] = true
	}
	for _, tc := range []struct {
		n   Name
		key string
	}{{CABundle, "ca_bundle"}, {Bastion, "route.bastion"}, {SSHAcceptNew, ""}, {MaxConnections, ""}} {
		if got := tc.n.Key(); got != tc.key {
			t.Errorf("%s.Key() = %q, want %q", tc.n, got, tc.key)
		}
	}
}
