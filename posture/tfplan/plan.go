// Package tfplan reads the JSON form of a Terraform plan (`terraform show
// -json PLANFILE`) into a [posture.Snapshot] of the planned databases and
// what surrounds them, so that an audit runs before the plan is applied.
// Values known only after apply, and things a plan does not hold, make the
// checks that read them unknown, never passing.
package tfplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rdsgate/rdsgate/posture"
)

// MaxPlanSize bounds the plan JSON read (a plan of thousands of resources
// is tens of megabytes).
const MaxPlanSize = 512 << 20

// ErrNotPlan is returned for JSON that is not a plan (a state file, or
// some other document).
var ErrNotPlan = errors.New("not the JSON form of a Terraform plan")

// Load reads the plan JSON at path (the output of `terraform show -json
// PLANFILE`). Resources are recorded as defined in path, since the plan
// does not name the .tf files.
func Load(path string) (*posture.Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tfplan: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads plan JSON from r; name is the file the findings point at.
func Read(r io.Reader, name string) (*posture.Snapshot, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPlanSize+1))
	if err != nil {
		return nil, fmt.Errorf("tfplan: read %s: %w", name, err)
	}
	if len(data) > MaxPlanSize {
		return nil, fmt.Errorf("tfplan: read %s: larger than %d MiB", name, MaxPlanSize>>20)
	}
	return Parse(data, name)
}

// Parse builds a snapshot from plan JSON.
func Parse(data []byte, name string) (*posture.Snapshot, error) {
	var p plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("tfplan: %s: %w", name, err)
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("tfplan: %s: %w", name, err)
	}
	b := newBuilder(&p, data, name)
	return b.snapshot(), nil
}

// plan is the part of the plan representation rdsgate reads (format 1.x;
// see Terraform's "JSON Output Format").
type plan struct {
	FormatVersion    string `json:"format_version"`
	TerraformVersion string `json:"terraform_version"`
	Timestamp        string `json:"timestamp"`
	Variables        map[string]struct {
		Value any `json:"value"`
	} `json:"variables"`
	PlannedValues   *valuesRoot     `json:"planned_values"`
	ResourceChanges []change        `json:"resource_changes"`
	Configuration   configuration   `json:"configuration"`
	Values          json.RawMessage `json:"values"` // set in a state, not a plan
}

type valuesRoot struct {
	RootModule valuesModule `json:"root_module"`
}

type valuesModule struct {
	Address      string          `json:"address"`
	Resources    []valueResource `json:"resources"`
	ChildModules []valuesModule  `json:"child_modules"`
}

type valueResource struct {
	Address string         `json:"address"`
	Mode    string         `json:"mode"`
	Type    string         `json:"type"`
	Name    string         `json:"name"`
	Values  map[string]any `json:"values"`
}

type change struct {
	Address       string `json:"address"`
	ModuleAddress string `json:"module_address"`
	Mode          string `json:"mode"`
	Type          string `json:"type"`
	Change        struct {
		Actions      []string `json:"actions"`
		AfterUnknown any      `json:"after_unknown"`
	} `json:"change"`
}

type configuration struct {
	ProviderConfig map[string]providerConfig `json:"provider_config"`
	RootModule     configModule              `json:"root_module"`
}

type providerConfig struct {
	Name        string                     `json:"name"`
	Expressions map[string]json.RawMessage `json:"expressions"`
}

type configModule struct {
	Resources   []configResource      `json:"resources"`
	ModuleCalls map[string]moduleCall `json:"module_calls"`
	Outputs     map[string]struct {
		Expression expression `json:"expression"`
	} `json:"outputs"`
}

type moduleCall struct {
	Source      string                     `json:"source"`
	Expressions map[string]json.RawMessage `json:"expressions"`
	Module      configModule               `json:"module"`
}

type configResource struct {
	Address           string                     `json:"address"`
	Mode              string                     `json:"mode"`
	ProviderConfigKey string                     `json:"provider_config_key"`
	Expressions       map[string]json.RawMessage `json:"expressions"`
}

// expression is an unevaluated expression of the configuration: a
// constant, or the references it makes.
type expression struct {
	ConstantValue any      `json:"constant_value"`
	References    []string `json:"references"`
}

// parseExpression decodes raw as one expression; a nested block (a list
// of objects of expressions) gives ok false.
func parseExpression(raw json.RawMessage) (expression, bool) {
	var e expression
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return e, false
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, false
	}
	return e, true
}

// check rejects JSON that is not a plan of a format this reader knows.
func (p *plan) check() error {
	major, _, _ := strings.Cut(p.FormatVersion, ".")
	switch {
	case p.FormatVersion == "":
		return fmt.Errorf("%w: no format_version (give the output of `terraform show -json PLANFILE`)", ErrNotPlan)
	case major != "0" && major != "1":
		return fmt.Errorf("plan format %s is not supported (this rdsgate reads 0.x and 1.x)", p.FormatVersion)
	case p.PlannedValues == nil && p.Values != nil:
		return fmt.Errorf("%w: this is a state; give the output of `terraform show -json PLANFILE` for a saved plan", ErrNotPlan)
	case p.PlannedValues == nil && p.ResourceChanges == nil:
		return fmt.Errorf("%w: no planned_values or resource_changes", ErrNotPlan)
	}
	return nil
}

// time is the plan's timestamp (Terraform 1.5 and later), else now.
func (p *plan) time() time.Time {
	if t, err := time.Parse(time.RFC3339, p.Timestamp); err == nil {
		return t.UTC()
	}
	return time.Now().UTC()
}
