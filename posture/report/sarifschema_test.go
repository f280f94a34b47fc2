package report

import (
	"fmt"
	"slices"
)

// subsetSchema is a tiny JSON-schema-like description: per definition,
// the required properties, enumerations and the definitions of child
// properties (objects, or arrays of objects).
type subsetSchema struct {
	Root        string                `json:"root"`
	Definitions map[string]definition `json:"definitions"`
}

type definition struct {
	Required   []string            `json:"required"`
	Enums      map[string][]string `json:"enums"`
	Const      map[string]string   `json:"const"`
	Properties map[string]string   `json:"properties"` // property → definition name
	MinItems   map[string]int      `json:"minItems"`
}

func (s subsetSchema) validate(doc any) []string {
	var errs []string
	s.check(doc, s.Root, "$", &errs)
	return errs
}

func (s subsetSchema) check(v any, def, path string, errs *[]string) {
	d, ok := s.Definitions[def]
	if !ok {
		*errs = append(*errs, fmt.Sprintf("schema: no definition %q", def))
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		*errs = append(*errs, fmt.Sprintf("%s: want an object (%s)", path, def))
		return
	}
	for _, r := range d.Required {
		if _, ok := obj[r]; !ok {
			*errs = append(*errs, fmt.Sprintf("%s: missing required %q (%s)", path, r, def))
		}
	}
	for p, allowed := range d.Enums {
		if x, ok := obj[p]; ok {
			if str, _ := x.(string); !slices.Contains(allowed, str) {
				*errs = append(*errs, fmt.Sprintf("%s.%s: %v not in %v", path, p, x, allowed))
			}
		}
	}
	for p, want := range d.Const {
		if x, ok := obj[p]; ok && x != want {
			*errs = append(*errs, fmt.Sprintf("%s.%s: %v, want %q", path, p, x, want))
		}
	}
	for p, n := range d.MinItems {
		if arr, ok := obj[p].([]any); ok && len(arr) < n {
			*errs = append(*errs, fmt.Sprintf("%s.%s: %d items, want at least %d", path, p, len(arr), n))
		}
	}
	for p, child := range d.Properties {
		x, ok := obj[p]
		if !ok {
			continue
		}
		if arr, isArr := x.([]any); isArr {
			for i, e := range arr {
				s.check(e, child, fmt.Sprintf("%s.%s[%d]", path, p, i), errs)
			}
			continue
		}
		s.check(x, child, path+"."+p, errs)
	}
}
