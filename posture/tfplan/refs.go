package tfplan

import (
	"strings"
)

// Addresses and references. A resource address is a module path
// (module.NAME[KEY]. ... ) followed by TYPE.NAME[KEY]; the configuration
// names resources within their module (TYPE.NAME) and refers to other
// values by references such as "aws_security_group.db.id",
// "var.security_group_ids" or "module.net.db_sg_id".

// maxRefDepth bounds how far references are followed (through module
// variables and outputs).
const maxRefDepth = 16

// modSeg is one module step of an address: its name and the step as
// written ("module.db[0]").
type modSeg struct{ name, text string }

// splitModule parses a module instance address ("" for the root); ok is
// false when it is not one.
func splitModule(addr string) (segs []modSeg, ok bool) {
	for rest := addr; rest != ""; {
		if !strings.HasPrefix(rest, "module.") {
			return nil, false
		}
		i := len("module.")
		for i < len(rest) && rest[i] != '.' && rest[i] != '[' {
			i++
		}
		name := rest[len("module."):i]
		if name == "" {
			return nil, false
		}
		if i < len(rest) && rest[i] == '[' {
			end := closeBracket(rest, i)
			if end < 0 {
				return nil, false
			}
			i = end + 1
		}
		segs = append(segs, modSeg{name: name, text: rest[:i]})
		rest = rest[i:]
		if rest != "" {
			if rest[0] != '.' {
				return nil, false
			}
			rest = rest[1:]
		}
	}
	return segs, true
}

// closeBracket returns the index of the ']' that closes the '[' at open,
// skipping quoted strings; -1 when there is none.
func closeBracket(s string, open int) int {
	quoted := false
	for i := open + 1; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ']':
			return i
		}
	}
	return -1
}

func joinModule(segs []modSeg) string {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = s.text
	}
	return strings.Join(parts, ".")
}

// inModule prefixes a module-relative address with the module instance.
func inModule(module, rel string) string {
	if module == "" {
		return rel
	}
	return module + "." + rel
}

// stripIndex removes a trailing instance key: aws_x.y[0] → aws_x.y.
func stripIndex(addr string) string {
	if strings.HasSuffix(addr, "]") {
		// The key is the last bracket that opens after the last module step.
		depth := 0
		for i := len(addr) - 1; i >= 0; i-- {
			switch addr[i] {
			case ']':
				depth++
			case '[':
				depth--
				if depth == 0 {
					return addr[:i]
				}
			}
		}
	}
	return addr
}

// resolved is what a set of references comes to: the planned resources it
// names and the constant strings it passes along (module arguments).
type resolved struct {
	targets   []*resource
	constants []string
}

// resolve follows the references of an expression written in module (a
// module instance address). ok is false when one of them leads to
// something the plan does not hold (a data source, a local value, a
// resource not in the plan): the value cannot be told.
func (b *builder) resolve(module string, refs []string, depth int) (out resolved, ok bool) {
	if depth > maxRefDepth {
		return out, false
	}
	seen := map[*resource]bool{}
	add := func(r resolved) {
		for _, t := range r.targets {
			if !seen[t] {
				seen[t] = true
				out.targets = append(out.targets, t)
			}
		}
		out.constants = append(out.constants, r.constants...)
	}
	for _, ref := range refs {
		head, rest, _ := strings.Cut(ref, ".")
		switch head {
		case "count", "each", "self", "path", "terraform":
			continue
		case "data", "local":
			return out, false
		case "var":
			name, _, _ := strings.Cut(rest, ".")
			name, _, _ = strings.Cut(name, "[")
			r, ok := b.resolveVar(module, name, depth)
			if !ok {
				return out, false
			}
			add(r)
		case "module":
			r, ok, skip := b.resolveOutput(module, rest, depth)
			if skip {
				continue
			}
			if !ok {
				return out, false
			}
			add(r)
		default:
			name, _, _ := strings.Cut(rest, ".")
			name = stripIndex(name)
			targets := b.byBase[inModule(module, head+"."+name)]
			if len(targets) == 0 {
				return out, false
			}
			add(resolved{targets: targets})
		}
	}
	return out, true
}

// resolveVar follows var.NAME of module to the argument its caller passes
// (or, in the root module, the variable's value in the plan).
func (b *builder) resolveVar(module, name string, depth int) (resolved, bool) {
	segs, ok := splitModule(module)
	if !ok {
		return resolved{}, false
	}
	if len(segs) == 0 {
		v, ok := b.plan.Variables[name]
		if !ok {
			return resolved{}, false
		}
		return constantStrings(v.Value)
	}
	parent := segs[:len(segs)-1]
	call := b.moduleCall(parent, segs[len(segs)-1].name)
	if call == nil {
		return resolved{}, false
	}
	raw, ok := call.Expressions[name]
	if !ok {
		return resolved{}, true // not passed: the variable's default, a constant
	}
	e, ok := parseExpression(raw)
	if !ok {
		return resolved{}, false
	}
	if len(e.References) == 0 {
		return constantStrings(e.ConstantValue)
	}
	return b.resolve(joinModule(parent), e.References, depth+1)
}

// resolveOutput follows module.NAME[KEY].OUTPUT (rest is what follows
// "module.") to the output's expression in the child. skip is true for a
// bare module reference (Terraform lists it next to the output one).
func (b *builder) resolveOutput(module, rest string, depth int) (r resolved, ok, skip bool) {
	if _, bare := splitModule("module." + rest); bare {
		return r, false, true // "module.db" alone, or a module path
	}
	i := strings.IndexAny(rest, ".[")
	if i <= 0 {
		return r, false, false
	}
	name, tail := rest[:i], rest[i:]
	key := ""
	if tail[0] == '[' {
		end := closeBracket(tail, 0)
		if end < 0 {
			return r, false, false
		}
		key, tail = tail[:end+1], tail[end+1:]
	}
	output, _, _ := strings.Cut(strings.TrimPrefix(tail, "."), ".")
	output, _, _ = strings.Cut(output, "[")
	parentSegs, pok := splitModule(module)
	if !pok || output == "" {
		return r, false, false
	}
	child := b.configModule(append(parentSegs[:len(parentSegs):len(parentSegs)], modSeg{name: name}))
	if child == nil {
		return r, false, false
	}
	out, found := child.Outputs[output]
	if !found {
		return r, false, false
	}
	if len(out.Expression.References) == 0 {
		r, ok = constantStrings(out.Expression.ConstantValue)
		return r, ok, false
	}
	// Every instance of the child (one, unless it has count or for_each
	// and the reference names no key).
	var all resolved
	for _, inst := range b.moduleInstances(inModule(module, "module."+name), key) {
		got, ok := b.resolve(inst, out.Expression.References, depth+1)
		if !ok {
			return r, false, false
		}
		all.targets = append(all.targets, got.targets...)
		all.constants = append(all.constants, got.constants...)
	}
	return all, true, false
}

// moduleInstances are the planned instances of the module call at prefix
// (module.a.module.b), narrowed to key when one is given.
func (b *builder) moduleInstances(prefix, key string) []string {
	if key != "" {
		return []string{prefix + key}
	}
	var out []string
	for m := range b.modules {
		if m == prefix || strings.HasPrefix(m, prefix+"[") && !strings.Contains(m[len(prefix):], ".") {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		out = append(out, prefix)
	}
	return out
}

// constantStrings turns a constant (a string, or a list of them) into
// values; other constants are not references to follow and pass nothing.
func constantStrings(v any) (resolved, bool) {
	switch x := v.(type) {
	case nil:
		return resolved{}, true
	case string:
		return resolved{constants: []string{x}}, true
	case []any:
		var r resolved
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return resolved{}, false
			}
			r.constants = append(r.constants, s)
		}
		return r, true
	}
	return resolved{}, false
}

// configModule is the configuration of the module at path (names only).
func (b *builder) configModule(path []modSeg) *configModule {
	m := &b.plan.Configuration.RootModule
	for _, s := range path {
		call, ok := m.ModuleCalls[s.name]
		if !ok {
			return nil
		}
		m = &call.Module
	}
	return m
}

// moduleCall is the call of module name from the module at parent.
func (b *builder) moduleCall(parent []modSeg, name string) *moduleCall {
	m := b.configModule(parent)
	if m == nil {
		return nil
	}
	call, ok := m.ModuleCalls[name]
	if !ok {
		return nil
	}
	return &call
}
