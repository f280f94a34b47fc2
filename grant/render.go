package grant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Formats of a rendered policy.
const (
	FormatJSON               = "json"
	FormatTerraform          = "terraform"
	FormatCloudFormation     = "cloudformation" // YAML
	FormatCloudFormationJSON = "cloudformation-json"
)

// Formats lists the formats Render accepts.
var Formats = []string{FormatJSON, FormatTerraform, FormatCloudFormation, FormatCloudFormationJSON}

// field and object keep keys in the order IAM documents are read in;
// values are string, []any or object.
type field struct {
	key string
	val any
}
type object []field

func strOrList(vs []string, list bool) any {
	if len(vs) == 1 && !list {
		return vs[0]
	}
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

func (d Document) tree() object {
	stmts := make([]any, 0, len(d.Statement))
	for _, s := range d.Statement {
		o := object{}
		if s.Sid != "" {
			o = append(o, field{"Sid", s.Sid})
		}
		o = append(o, field{"Effect", s.Effect}, field{"Action", strOrList(s.Action, false)}, field{"Resource", strOrList(s.Resource, false)})
		if len(s.Condition) > 0 {
			var cond object
			for _, c := range s.Condition {
				kv := field{c.Key, strOrList(c.Values, c.List)}
				found := false
				for i := range cond {
					if cond[i].key == c.Operator {
						cond[i].val = append(cond[i].val.(object), kv)
						found = true
					}
				}
				if !found {
					cond = append(cond, field{c.Operator, object{kv}})
				}
			}
			o = append(o, field{"Condition", cond})
		}
		stmts = append(stmts, o)
	}
	return object{{"Version", d.Version}, {"Statement", stmts}}
}

// JSON returns the document as indented JSON, keys in IAM's usual order.
func (d Document) JSON() string {
	var b bytes.Buffer
	writeJSON(&b, d.tree(), "")
	b.WriteByte('\n')
	return b.String()
}

// CompactJSON returns the document on one line (for command lines).
func (d Document) CompactJSON() string {
	var b bytes.Buffer
	writeJSONCompact(&b, d.tree())
	return b.String()
}

func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func writeJSON(b *bytes.Buffer, v any, ind string) {
	switch x := v.(type) {
	case string:
		b.WriteString(jsonString(x))
	case []any:
		b.WriteString("[\n")
		for i, e := range x {
			b.WriteString(ind + "  ")
			writeJSON(b, e, ind+"  ")
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(ind + "]")
	case object:
		b.WriteString("{\n")
		for i, f := range x {
			b.WriteString(ind + "  " + jsonString(f.key) + ": ")
			writeJSON(b, f.val, ind+"  ")
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(ind + "}")
	}
}

func writeJSONCompact(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case string:
		b.WriteString(jsonString(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONCompact(b, e)
		}
		b.WriteByte(']')
	case object:
		b.WriteByte('{')
		for i, f := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonString(f.key) + ":")
			writeJSONCompact(b, f.val)
		}
		b.WriteByte('}')
	}
}

// Named is a document with the name and description it is deployed under.
type Named struct {
	// Name is the IAM policy name, e.g. rdsgate-orders-prod-jane.
	Name        string
	Description string
	Doc         Document
}

var (
	notPolicyName = regexp.MustCompile(`[^A-Za-z0-9+=,.@_-]+`)
	notTFName     = regexp.MustCompile(`[^a-z0-9_]+`)
	notCFNID      = regexp.MustCompile(`[^A-Za-z0-9]+`)
)

// PolicyName builds an IAM policy name from parts: rdsgate-PART-PART,
// with characters IAM does not allow replaced by "-", at most 128.
func PolicyName(parts ...string) string {
	n := notPolicyName.ReplaceAllString(strings.Join(append([]string{"rdsgate"}, parts...), "-"), "-")
	if len(n) > 128 {
		n = n[:128]
	}
	return n
}

// Render returns n in format.
func (n Named) Render(format string) (string, error) {
	switch format {
	case FormatJSON, "":
		return n.Doc.JSON(), nil
	case FormatTerraform:
		return n.terraform(), nil
	case FormatCloudFormation:
		return n.cfnYAML()
	case FormatCloudFormationJSON:
		var b bytes.Buffer
		writeJSON(&b, n.cfnTree(), "")
		b.WriteByte('\n')
		return b.String(), nil
	}
	return "", fmt.Errorf("unknown format %q: use %s", format, strings.Join(Formats, ", "))
}

func (n Named) cfnLogicalID() string {
	var b strings.Builder
	for _, p := range notCFNID.Split(n.Name, -1) {
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	b.WriteString("Policy")
	return b.String()
}

func (n Named) cfnTree() object {
	props := object{{"ManagedPolicyName", n.Name}}
	if n.Description != "" {
		props = append(props, field{"Description", n.Description})
	}
	props = append(props, field{"PolicyDocument", n.Doc.tree()})
	return object{
		{"AWSTemplateFormatVersion", "2010-09-09"},
		{"Description", first(n.Description, n.Name)},
		{"Resources", object{{n.cfnLogicalID(), object{{"Type", "AWS::IAM::ManagedPolicy"}, {"Properties", props}}}}},
	}
}

func yamlNode(v any) *yaml.Node {
	switch x := v.(type) {
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: x}
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range x {
			n.Content = append(n.Content, yamlNode(e))
		}
		return n
	case object:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range x {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.key}, yamlNode(f.val))
		}
		return n
	}
	return nil
}

func (n Named) cfnYAML() (string, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(yamlNode(n.cfnTree())); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// terraform renders an aws_iam_policy resource with the document in
// jsonencode, laid out as `terraform fmt` does: two-space indents, the "="
// of consecutive one-line attributes aligned, one element per line with a
// trailing comma in multi-line lists.
func (n Named) terraform() string {
	res := notTFName.ReplaceAllString(strings.ToLower(n.Name), "_")
	var b strings.Builder
	fmt.Fprintf(&b, "resource \"aws_iam_policy\" %s {\n", hclString(res))
	writeHCLBody(&b, object{{"name", n.Name}, {"description", n.Description}, {"policy", hclRaw{"jsonencode(", n.Doc.tree(), ")"}}}, "  ")
	b.WriteString("}\n")
	return b.String()
}

// hclRaw wraps a value in a function call.
type hclRaw struct {
	pre  string
	val  any
	post string
}

var hclIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

func hclKey(k string) string {
	if hclIdent.MatchString(k) {
		return k
	}
	return hclString(k)
}

// hclString quotes s as an HCL string: template sequences ${ and %{ are
// escaped so that IAM variables such as ${aws:userid} reach IAM as written.
func hclString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}

func hclOneLine(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return hclString(x), true
	case []any:
		if len(x) == 1 {
			if s, ok := x[0].(string); ok {
				return "[" + hclString(s) + "]", true
			}
		}
	}
	return "", false
}

// writeHCLBody writes the attributes of a block or object at ind.
func writeHCLBody(b *strings.Builder, o object, ind string) {
	for i := 0; i < len(o); {
		// A run of one-line attributes is aligned on "=".
		j, width := i, 0
		for ; j < len(o); j++ {
			if _, ok := hclOneLine(o[j].val); !ok {
				break
			}
			width = max(width, len(hclKey(o[j].key)))
		}
		for k := i; k < j; k++ {
			v, _ := hclOneLine(o[k].val)
			fmt.Fprintf(b, "%s%-*s = %s\n", ind, width, hclKey(o[k].key), v)
		}
		if j == len(o) {
			break
		}
		f := o[j]
		b.WriteString(ind + hclKey(f.key) + " = ")
		writeHCLValue(b, f.val, ind)
		b.WriteByte('\n')
		i = j + 1
	}
}

func writeHCLValue(b *strings.Builder, v any, ind string) {
	if s, ok := hclOneLine(v); ok {
		b.WriteString(s)
		return
	}
	switch x := v.(type) {
	case hclRaw:
		b.WriteString(x.pre)
		writeHCLValue(b, x.val, ind)
		b.WriteString(x.post)
	case []any:
		b.WriteString("[\n")
		for _, e := range x {
			b.WriteString(ind + "  ")
			writeHCLValue(b, e, ind+"  ")
			b.WriteString(",\n")
		}
		b.WriteString(ind + "]")
	case object:
		b.WriteString("{\n")
		writeHCLBody(b, x, ind+"  ")
		b.WriteString(ind + "}")
	}
}

// AttachCommand returns the AWS CLI command that puts doc inline on
// principal ("role/NAME", "user/NAME" or "group/NAME") as policy name.
func AttachCommand(who, name string, doc Document) (string, error) {
	kind, n, err := principal(who)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("aws iam put-%s-policy --%s-name %s --policy-name %s --policy-document %s\n",
		kind, kind, shellQuote(n), shellQuote(name), shellQuote(doc.CompactJSON())), nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && regexp.MustCompile(`^[A-Za-z0-9@%+=:,./_-]+$`).MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
