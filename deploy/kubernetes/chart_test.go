package kubernetes_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// The helm binary is not at hand here, so the chart is rendered the way
// Helm's engine does it: text/template with the sprig functions, Helm's
// include and toYaml, every template of the chart parsed into one set
// (named "rdsgate/templates/FILE"), and the values, .Release and .Chart as
// Helm passes them. Missing values are errors (helm lint --strict).
func renderChart(t *testing.T, dir, release string, overrides map[string]any) map[string][]byte {
	t.Helper()
	var chart map[string]any
	readYAML(t, filepath.Join(dir, "Chart.yaml"), &chart)
	var values map[string]any
	readYAML(t, filepath.Join(dir, "values.yaml"), &values)
	for k, v := range overrides {
		values[k] = v
	}
	name := chart["name"].(string)
	root := template.New("chart").Option("missingkey=error")
	funcs := sprig.TxtFuncMap()
	funcs["include"] = func(name string, data any) (string, error) {
		var b bytes.Buffer
		err := root.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	funcs["toYaml"] = func(v any) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	root.Funcs(funcs)
	files, err := filepath.Glob(filepath.Join(dir, "templates", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in %s", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := root.New(name + "/templates/" + filepath.Base(f)).Parse(string(b)); err != nil {
			t.Fatal(err)
		}
	}
	top := map[string]any{
		"Values":       values,
		"Release":      map[string]any{"Name": release, "Namespace": "default", "Service": "Helm", "IsInstall": true},
		"Chart":        map[string]any{"Name": name, "Version": chart["version"], "AppVersion": chart["appVersion"]},
		"Capabilities": map[string]any{},
	}
	out := map[string][]byte{}
	for _, f := range files {
		base := filepath.Base(f)
		if strings.HasPrefix(base, "_") || !strings.HasSuffix(base, ".yaml") {
			continue
		}
		tn := name + "/templates/" + base
		data := map[string]any{"Template": map[string]any{"Name": tn, "BasePath": name + "/templates"}}
		for k, v := range top {
			data[k] = v
		}
		var b bytes.Buffer
		if err := root.ExecuteTemplate(&b, tn, data); err != nil {
			t.Fatalf("render %s: %v", tn, err)
		}
		out[tn] = b.Bytes()
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func renderedObjects(t *testing.T, rendered map[string][]byte) []object {
	t.Helper()
	var names []string
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []object
	for _, n := range names {
		o, err := decodeStrict(n, rendered[n])
		if err != nil {
			t.Fatalf("%v\n%s", err, rendered[n])
		}
		objs = append(objs, o...)
	}
	return objs
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// byKindName indexes objects, without the chart's config checksum
// annotation (the plain manifests have no Helm to compute it).
func byKindName(t *testing.T, objs []object) map[string]any {
	t.Helper()
	m := map[string]any{}
	for _, o := range objs {
		if d, ok := o.obj.(*appsv1.Deployment); ok {
			if sum, ok := d.Spec.Template.Annotations["checksum/config"]; ok {
				if !sha256Hex.MatchString(sum) {
					t.Errorf("%s: checksum/config = %q", o.where, sum)
				}
				delete(d.Spec.Template.Annotations, "checksum/config")
				if len(d.Spec.Template.Annotations) == 0 {
					d.Spec.Template.Annotations = nil
				}
			}
		}
		key := o.kind + "/" + o.name
		if _, dup := m[key]; dup {
			t.Errorf("%s: second %s", o.where, key)
		}
		m[key] = o.obj
	}
	return m
}

// TestChartRendersSharedManifests: with its default values and the release
// name rdsgate, the chart renders exactly the objects of shared/.
func TestChartRendersSharedManifests(t *testing.T) {
	rendered := renderedObjects(t, renderChart(t, "chart/rdsgate", "rdsgate", nil))
	checkObjects(t, rendered, proxyHelp(t))
	want := byKindName(t, loadManifests(t, "shared"))
	got := byKindName(t, rendered)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chart (+) differs from shared/rdsgate.yaml (-):\n%s", diff)
	}
}

// TestChartValues: other values still render valid objects, and the grace
// period follows the drain.
func TestChartValues(t *testing.T) {
	rendered := renderedObjects(t, renderChart(t, "chart/rdsgate", "payments", map[string]any{
		"drainTimeoutSeconds": 120,
		"targets":             []any{map[string]any{"name": "ledger", "identifier": "ledger-prod", "database": "ledger", "port": 5432}},
		"serviceAccount":      map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/x"}},
	}))
	checkObjects(t, rendered, proxyHelp(t))
	objs := byKindName(t, rendered)
	d, ok := objs["Deployment/payments-rdsgate"].(*appsv1.Deployment)
	if !ok {
		t.Fatalf("no Deployment payments-rdsgate among %v", keys(objs))
	}
	if g := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != 135 {
		t.Errorf("terminationGracePeriodSeconds = %d, want 5 + 120 + 10", g)
	}
	if args := fmt.Sprint(d.Spec.Template.Spec.Containers[0].Args); !strings.Contains(args, "proxy ledger --config") || !strings.Contains(args, "--drain-timeout=120s") {
		t.Errorf("args = %s", args)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
