package kubernetes_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/rdsgate/rdsgate/internal/cli"
)

// object is one decoded manifest document.
type object struct {
	where string // file#index, for messages
	kind  string
	name  string
	obj   any // a pointer to a k8s.io/api type
}

// newObject is the typed value for apiVersion and kind; every kind the
// manifests may use is listed, and any other is an error.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "batch/v1/Job":
		return &batchv1.Job{}, nil
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: not a kind these manifests use", apiVersion, kind)
}

// splitDocuments cuts a YAML stream at its "---" lines and drops documents
// that hold only comments and blank lines.
func splitDocuments(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		for _, line := range strings.Split(cur.String(), "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				docs = append(docs, bytes.Clone(cur.Bytes()))
				break
			}
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.TrimRight(line, "\r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

// decodeStrict decodes every document of a YAML stream into its k8s.io/api
// type, refusing unknown and duplicate fields.
func decodeStrict(name string, b []byte) ([]object, error) {
	var out []object
	for i, doc := range splitDocuments(b) {
		where := fmt.Sprintf("%s#%d", name, i)
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		obj, err := newObject(tm.APIVersion, tm.Kind)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", where, tm.Kind, err)
		}
		meta := obj.(metav1.Object)
		if meta.GetName() == "" {
			return nil, fmt.Errorf("%s: %s has no metadata.name", where, tm.Kind)
		}
		out = append(out, object{where: where, kind: tm.Kind, name: meta.GetName(), obj: obj})
	}
	return out, nil
}

func loadManifests(t *testing.T, dir string) []object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}
	var all []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeStrict(f, b)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, objs...)
	}
	return all
}

func TestDecodeStrictRefusesUnknownFields(t *testing.T) {
	for _, tc := range []struct{ desc, doc string }{
		{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  lables: {a: b}\n"},
		{"unknown nested field", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: b\n          readinessProbe:\n            httpGet:\n              pth: /readiness\n"},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n"},
		{"unknown kind", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n"},
		{"bad quantity", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          resources:\n            requests:\n              memory: lots\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := decodeStrict("t.yaml", []byte(tc.doc)); err == nil {
				t.Errorf("decoded without error:\n%s", tc.doc)
			}
		})
	}
}

// proxyHelp is `rdsgate proxy --help`, run in-process.
func proxyHelp(t *testing.T) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := cli.Main(context.Background(), []string{"proxy", "--help"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("rdsgate proxy --help: exit %d\n%s", code, stderr.String())
	}
	return stdout.String() + stderr.String()
}

var helpFlag = regexp.MustCompile(`(?m)^\s+(?:-[a-z], )?--([a-z0-9-]+)`)

// helpFlags are the long flags --help lists.
func helpFlags(help string) map[string]bool {
	flags := map[string]bool{}
	for _, m := range helpFlag.FindAllStringSubmatch(help, -1) {
		flags[m[1]] = true
	}
	return flags
}

// proxyArgs parses a container's args as `rdsgate proxy` would see them:
// the flags (--name=value or --name value for the ones that take one).
func proxyArgs(args []string) (map[string]string, error) {
	if len(args) == 0 || args[0] != "proxy" {
		return nil, fmt.Errorf("args %q do not start with proxy", args)
	}
	flags := map[string]string{}
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "--") {
			continue // a target
		}
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			value = "true"
		}
		flags[name] = value
	}
	return flags, nil
}

// checkProxyContainer checks one rdsgate container of a pod against the
// help text: flags, probe paths and ports, the loopback rule and the drain.
func checkProxyContainer(spec corev1.PodSpec, c corev1.Container, help string) error {
	known := helpFlags(help)
	flags, err := proxyArgs(c.Args)
	if err != nil {
		return err
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	var names []string
	for name := range flags {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !known[name] {
			fail("--%s is not a flag of rdsgate proxy", name)
		}
	}
	nonLoopback := func(hostport string) bool {
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			host = hostport
		}
		ip := net.ParseIP(host)
		return host != "localhost" && (ip == nil || !ip.IsLoopback())
	}
	if l, ok := flags["listen"]; ok && nonLoopback(l) && flags["allow-non-loopback"] != "true" {
		fail("--listen=%s without --allow-non-loopback: rdsgate refuses to start", l)
	}
	httpAddr := flags["http-address"]
	if httpAddr != "" && nonLoopback(httpAddr) && flags["quitquitquit"] == "true" && flags["allow-non-loopback"] != "true" {
		fail("--http-address=%s with --quitquitquit without --allow-non-loopback: rdsgate refuses to start", httpAddr)
	}
	if flags["quitquitquit"] == "true" && (!strings.Contains(help, "/quitquitquit") || !strings.Contains(help, "X-Rdsgate-Quit")) {
		fail("--quitquitquit, but --help names no /quitquitquit with X-Rdsgate-Quit")
	}
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
	}{{"startup", c.StartupProbe}, {"readiness", c.ReadinessProbe}, {"liveness", c.LivenessProbe}} {
		if p.probe == nil {
			continue
		}
		g := p.probe.HTTPGet
		if g == nil {
			fail("%s probe is not an httpGet on --http-address", p.kind)
			continue
		}
		if !strings.Contains(help, g.Path) || !strings.HasPrefix(g.Path, "/") {
			fail("%s probe path %q is not one --help names", p.kind, g.Path)
		}
		if httpAddr == "" {
			fail("%s probe, but no --http-address", p.kind)
			continue
		}
		_, want, _ := net.SplitHostPort(httpAddr)
		port := g.Port.String()
		for _, cp := range c.Ports {
			if cp.Name == g.Port.StrVal && g.Port.StrVal != "" {
				port = fmt.Sprint(cp.ContainerPort)
			}
		}
		if port != want {
			fail("%s probe on port %s, --http-address listens on %s", p.kind, g.Port.String(), want)
		}
	}
	// A pod must outlive the drain it asks for.
	drain := 30 * time.Second // the flag's default
	if d, ok := flags["drain-timeout"]; ok {
		if drain, err = time.ParseDuration(d); err != nil {
			fail("--drain-timeout=%s: %v", d, err)
		}
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	grace := 30 * time.Second // Kubernetes' default
	if spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	}
	if preStop+drain >= grace {
		fail("preStop %s + --drain-timeout %s ≥ terminationGracePeriodSeconds %s: the kubelet kills a draining proxy", preStop, drain, grace)
	}
	if len(errs) > 0 {
		return fmt.Errorf("container %s: %s", c.Name, strings.Join(errs, "; "))
	}
	return nil
}

// podSpecs are the pod templates of the workloads among objs.
func podSpecs(objs []object) map[string]*corev1.PodTemplateSpec {
	pods := map[string]*corev1.PodTemplateSpec{}
	for _, o := range objs {
		switch w := o.obj.(type) {
		case *appsv1.Deployment:
			pods[o.where+" Deployment "+o.name] = &w.Spec.Template
		case *batchv1.Job:
			pods[o.where+" Job "+o.name] = &w.Spec.Template
		}
	}
	return pods
}

// checkObjects runs every check on one set of manifests: each rdsgate
// container against --help, and each selector against the pods it is for.
func checkObjects(t *testing.T, objs []object, help string) {
	t.Helper()
	pods := podSpecs(objs)
	proxies := 0
	for where, pod := range pods {
		for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
			if !strings.Contains(c.Image, "rdsgate") {
				continue
			}
			proxies++
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Errorf("%s: container %s: root filesystem not read-only", where, c.Name)
			}
			if pod.Spec.SecurityContext == nil || pod.Spec.SecurityContext.RunAsNonRoot == nil || !*pod.Spec.SecurityContext.RunAsNonRoot {
				t.Errorf("%s: pod does not insist on a non-root user", where)
			}
			if err := checkProxyContainer(pod.Spec, c, help); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
	}
	if proxies == 0 {
		t.Errorf("no rdsgate container among %d pods", len(pods))
	}
	// Every selector must pick a pod of these manifests.
	matches := func(sel *metav1.LabelSelector) bool {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() {
			return false
		}
		for _, pod := range pods {
			if s.Matches(labels.Set(pod.Labels)) {
				return true
			}
		}
		return false
	}
	for _, o := range objs {
		var sel *metav1.LabelSelector
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			sel = v.Spec.Selector
			if s, err := metav1.LabelSelectorAsSelector(sel); err != nil || !s.Matches(labels.Set(v.Spec.Template.Labels)) {
				t.Errorf("%s: Deployment %s: selector does not match its own pods", o.where, o.name)
			}
		case *corev1.Service:
			sel = &metav1.LabelSelector{MatchLabels: v.Spec.Selector}
		case *networkingv1.NetworkPolicy:
			sel = &v.Spec.PodSelector
		case *policyv1.PodDisruptionBudget:
			sel = v.Spec.Selector
		default:
			continue
		}
		if !matches(sel) {
			t.Errorf("%s: %s %s: selector matches no pod here", o.where, o.kind, o.name)
		}
	}
}

func TestCheckProxyContainerCatchesDrift(t *testing.T) {
	help := proxyHelp(t)
	grace := int64(45)
	spec := corev1.PodSpec{TerminationGracePeriodSeconds: &grace}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readiness"}}}
	probe.HTTPGet.Port.StrVal, probe.HTTPGet.Port.Type = "health", 1
	ports := []corev1.ContainerPort{{Name: "health", ContainerPort: 9090}}
	good := []string{"proxy", "db", "--http-address=127.0.0.1:9090", "--drain-timeout=30s"}
	if err := checkProxyContainer(spec, corev1.Container{Name: "ok", Args: good, Ports: ports, ReadinessProbe: probe}, help); err != nil {
		t.Fatalf("a good container fails: %v", err)
	}
	for _, tc := range []struct {
		desc  string
		args  []string
		path  string
		port  int32
		grace int64
	}{
		{desc: "renamed flag", args: []string{"proxy", "db", "--http-address=127.0.0.1:9090", "--drain-timeout-seconds=30"}},
		{desc: "probe path --help does not name", args: good, path: "/healthz"},
		{desc: "probe on another port", args: good, port: 8080},
		{desc: "quit on non-loopback without --allow-non-loopback", args: []string{"proxy", "db", "--http-address=0.0.0.0:9090", "--quitquitquit"}},
		{desc: "drain longer than the grace period", args: []string{"proxy", "db", "--http-address=127.0.0.1:9090", "--drain-timeout=60s"}},
		{desc: "default drain with a short grace period", args: []string{"proxy", "db", "--http-address=127.0.0.1:9090"}, grace: 20},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := probe.DeepCopy()
			if tc.path != "" {
				p.HTTPGet.Path = tc.path
			}
			ps := append([]corev1.ContainerPort(nil), ports...)
			if tc.port != 0 {
				ps[0].ContainerPort = tc.port
			}
			s := spec
			if tc.grace != 0 {
				s.TerminationGracePeriodSeconds = &tc.grace
			}
			if err := checkProxyContainer(s, corev1.Container{Name: "bad", Args: tc.args, Ports: ps, ReadinessProbe: p}, help); err == nil {
				t.Errorf("no error for %q", tc.args)
			}
		})
	}
}

func TestSidecarManifests(t *testing.T) {
	objs := loadManifests(t, "sidecar")
	checkObjects(t, objs, proxyHelp(t))
	// The sidecar's own contract: it starts before the app (native
	// sidecar), logs in first, and exits 0 on SIGTERM.
	var sawDeployment, sawJob bool
	for where, pod := range podSpecs(objs) {
		all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
		for _, c := range all {
			if !strings.Contains(c.Image, "rdsgate") {
				continue
			}
			flags, _ := proxyArgs(c.Args)
			for _, want := range []string{"run-connection-test", "exit-zero-on-sigterm", "http-address"} {
				if _, ok := flags[want]; !ok {
					t.Errorf("%s: sidecar without --%s", where, want)
				}
			}
			if strings.Contains(where, "Job") {
				sawJob = true
				if flags["quitquitquit"] != "true" {
					t.Errorf("%s: a Job's sidecar needs --quitquitquit", where)
				}
			} else {
				sawDeployment = true
				if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways || c.StartupProbe == nil {
					t.Errorf("%s: not a native sidecar with a startup probe", where)
				}
				if flags["listen"] != "" {
					t.Errorf("%s: the sidecar's database listener must stay on loopback", where)
				}
			}
		}
	}
	if !sawDeployment || !sawJob {
		t.Errorf("want a Deployment and a Job example (got %v, %v)", sawDeployment, sawJob)
	}
}

func TestSharedManifests(t *testing.T) {
	checkObjects(t, loadManifests(t, "shared"), proxyHelp(t))
}

func TestHelpFlagsParsesHelp(t *testing.T) {
	flags := helpFlags(proxyHelp(t))
	for _, f := range []string{"http-address", "drain-timeout", "allow-non-loopback", "config", "output", "user"} {
		if !flags[f] {
			t.Errorf("--%s not found in proxy --help: the parser is broken", f)
		}
	}
	if flags["no-such-flag"] {
		t.Error("parser invents flags")
	}
}
