package setting

import (
	"fmt"
	"strings"
)

// Text is a message that may name settings: literal text, setting
// references and errors (which may name settings themselves), spelled when
// the Text is rendered. The zero Text is empty.
type Text struct {
	parts []part
}

// part is one piece of a Text: literal text, a setting, or an error.
type part struct {
	lit   string
	ref   Ref
	err   error
	isRef bool
}

// Plain is s as a Text that names no setting.
func Plain(s string) Text {
	var t Text
	t.lit(s)
	return t
}

// Textf formats a Text as fmt.Errorf formats its message, except for the
// arguments of a %s, %v or %w verb without flags or width: a Name or a Ref
// becomes a reference to the setting, a Text is embedded as it is, and an
// error is kept so that the settings it names are spelled with the Text's.
// Arguments are used in order: explicit indexes ([n]) and * widths are not
// supported.
func Textf(format string, args ...any) Text {
	t, _ := textf(format, args)
	return t
}

// textf is Textf, also returning the arguments of its %w verbs.
func textf(format string, args []any) (Text, []error) {
	var (
		t       Text
		wrapped []error
		lit     strings.Builder
		next    int
	)
	flush := func() {
		t.lit(lit.String())
		lit.Reset()
	}
	for i := 0; i < len(format); {
		if format[i] != '%' {
			j := strings.IndexByte(format[i:], '%')
			if j < 0 {
				j = len(format) - i
			}
			lit.WriteString(format[i : i+j])
			i += j
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("+-# 0123456789.", format[j]) >= 0 {
			j++
		}
		if j == len(format) {
			lit.WriteString("%!(NOVERB)") // as fmt
			break
		}
		spec, verb := format[i:j+1], format[j]
		i = j + 1
		if verb == '%' {
			lit.WriteByte('%')
			continue
		}
		if next >= len(args) {
			lit.WriteString("%!" + string(rune(verb)) + "(MISSING)") // as fmt
			continue
		}
		arg := args[next]
		next++
		if verb == 'w' {
			if err, ok := arg.(error); ok {
				wrapped = append(wrapped, err)
			}
		}
		if len(spec) != 2 || (verb != 's' && verb != 'v' && verb != 'w') {
			lit.WriteString(sprint(spec, verb, arg))
			continue
		}
		switch x := arg.(type) {
		case Name:
			flush()
			t.parts = append(t.parts, part{ref: Ref{Name: x}, isRef: true})
		case Ref:
			flush()
			t.parts = append(t.parts, part{ref: x, isRef: true})
		case Text:
			flush()
			t.parts = append(t.parts, x.parts...)
		case error:
			flush()
			t.parts = append(t.parts, part{err: x})
		default:
			lit.WriteString(sprint(spec, verb, arg))
		}
	}
	flush()
	if next < len(args) {
		extra := make([]string, 0, len(args)-next)
		for _, a := range args[next:] {
			if a == nil {
				extra = append(extra, "<nil>")
			} else {
				extra = append(extra, fmt.Sprintf("%T=%v", a, a))
			}
		}
		t.lit("%!(EXTRA " + strings.Join(extra, ", ") + ")") // as fmt
	}
	return t, wrapped
}

// sprint formats one argument as fmt.Errorf does (fmt.Sprintf knows no %w).
func sprint(spec string, verb byte, arg any) string {
	if verb == 'w' {
		return fmt.Errorf(spec, arg).Error()
	}
	return fmt.Sprintf(spec, arg)
}

// lit appends literal text.
func (t *Text) lit(s string) {
	if s == "" {
		return
	}
	if n := len(t.parts); n > 0 && !t.parts[n-1].isRef && t.parts[n-1].err == nil {
		t.parts[n-1].lit += s
		return
	}
	t.parts = append(t.parts, part{lit: s})
}

// IsZero reports whether t is empty.
func (t Text) IsZero() bool { return len(t.parts) == 0 }

// String is t spelled neutrally (the zero Style).
func (t Text) String() string { return t.Render(Style{}) }

// Render spells t's settings, and those of the errors in it, in s.
func (t Text) Render(s Style) string {
	var b strings.Builder
	for _, p := range t.parts {
		switch {
		case p.isRef:
			b.WriteString(s.Spell(p.ref))
		case p.err != nil:
			b.WriteString(Render(p.err, s))
		default:
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

// MarshalText is t spelled neutrally, so that a Text in JSON is a string.
func (t Text) MarshalText() ([]byte, error) { return []byte(t.String()), nil }
