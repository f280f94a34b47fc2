package tfplan

import (
	"math"
	"slices"
)

// attrs are a planned resource's attribute values (the plan's "after")
// with which of them are unknown until apply ("after_unknown": true for an
// unknown value, or an object or list of the same shape as the value).
type attrs struct {
	v map[string]any
	u map[string]any
}

func newAttrs(values map[string]any, afterUnknown any) attrs {
	a := attrs{v: values}
	if m, ok := afterUnknown.(map[string]any); ok {
		a.u = m
	}
	return a
}

// unknown reports whether the value of key, or any part of it, is known
// only after apply.
func (a attrs) unknown(key string) bool {
	return anyTrue(a.u[key], 0)
}

// anyTrue reports whether an after_unknown value marks anything unknown.
func anyTrue(u any, depth int) bool {
	if depth > 32 {
		return true // deeper than any schema: do not vouch for it
	}
	switch x := u.(type) {
	case bool:
		return x
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return anyTrue(e, depth+1) })
	case map[string]any:
		for _, e := range x {
			if anyTrue(e, depth+1) {
				return true
			}
		}
	}
	return false
}

// present reports whether key has a known value that is neither null nor
// the empty string.
func (a attrs) present(key string) bool {
	return !a.unknown(key) && a.v[key] != nil && a.v[key] != ""
}

// str is a string attribute; "" when null. known is false when the value
// is unknown until apply or not a string.
func (a attrs) str(key string) (s string, known bool) {
	if a.unknown(key) {
		return "", false
	}
	switch x := a.v[key].(type) {
	case nil:
		return "", true
	case string:
		return x, true
	}
	return "", false
}

// boolean is a bool attribute; false when null.
func (a attrs) boolean(key string) (b, known bool) {
	if a.unknown(key) {
		return false, false
	}
	switch x := a.v[key].(type) {
	case nil:
		return false, true
	case bool:
		return x, true
	}
	return false, false
}

// integer is a whole-number attribute; 0 when null.
func (a attrs) integer(key string) (n int, known bool) {
	if a.unknown(key) {
		return 0, false
	}
	switch x := a.v[key].(type) {
	case nil:
		return 0, true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<31 {
			return 0, false
		}
		return int(x), true
	}
	return 0, false
}

// strs is a list or set of strings; nil when null.
func (a attrs) strs(key string) (out []string, known bool) {
	if a.unknown(key) {
		return nil, false
	}
	switch x := a.v[key].(type) {
	case nil:
		return nil, true
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// tags is a map of strings; nil when null.
func (a attrs) tags(key string) (map[string]string, bool) {
	if a.unknown(key) {
		return nil, false
	}
	switch x := a.v[key].(type) {
	case nil:
		return nil, true
	case map[string]any:
		out := make(map[string]string, len(x))
		for k, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[k] = s
		}
		return out, true
	}
	return nil, false
}

// blocks is a list or set of nested blocks (objects), each with its own
// unknown marks; known is false when the list itself is unknown.
func (a attrs) blocks(key string) (out []attrs, known bool) {
	if u, ok := a.u[key].(bool); ok && u {
		return nil, false
	}
	list, ok := a.v[key].([]any)
	if !ok {
		return nil, a.v[key] == nil
	}
	ulist, _ := a.u[key].([]any)
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		var um any
		if i < len(ulist) {
			um = ulist[i]
		}
		out = append(out, newAttrs(m, um))
	}
	return out, true
}
