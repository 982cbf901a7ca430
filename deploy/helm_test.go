package deploy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/portcullis/portcullis/config"
)

// The Helm chart (helm/portcullis): rendered here with text/template and
// the few Sprig functions its templates use, since CI has no helm, then
// held to the checks that kubernetes_test.go applies to the kustomize
// manifests. Where helm is on PATH, TestHelmLintAndTemplate also runs the
// real thing.

const chartDir = "helm/portcullis"

// helmFuncs are the template functions the chart may use: Helm's include,
// toYaml and required, and the Sprig functions below, with Sprig's
// argument order (the piped value comes last). A template that uses any
// other fails to parse here, which keeps the chart within what this test
// can render.
func helmFuncs(include func(string, any) (string, error)) template.FuncMap {
	return template.FuncMap{
		"include": include,
		"toYaml": func(v any) (string, error) {
			var b bytes.Buffer
			enc := yaml.NewEncoder(&b)
			enc.SetIndent(2)
			if err := enc.Encode(v); err != nil {
				return "", err
			}
			return strings.TrimSuffix(b.String(), "\n"), nil
		},
		"required": func(msg string, v any) (any, error) {
			if empty(v) {
				return nil, errors.New(msg)
			}
			return v, nil
		},
		"default": func(def any, given ...any) any {
			if len(given) == 0 || empty(given[0]) {
				return def
			}
			return given[0]
		},
		"quote": func(vs ...any) string {
			out := make([]string, 0, len(vs))
			for _, v := range vs {
				if v != nil {
					out = append(out, strconv.Quote(fmt.Sprint(v)))
				}
			}
			return strings.Join(out, " ")
		},
		"nindent": func(n int, s string) string { return "\n" + indent(n, s) },
		"indent":  indent,
		"sha256sum": func(s string) string {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		},
		"trunc": func(n int, s string) string {
			if len(s) > n {
				return s[:n]
			}
			return s
		},
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"hasPrefix":  func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
		"fail":       func(msg string) (string, error) { return "", errors.New(msg) },
		"contains":   func(substr, s string) bool { return strings.Contains(s, substr) },
		"replace":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"printf":     fmt.Sprintf,
		"splitList":  func(sep, s string) []string { return strings.Split(s, sep) },
		"last": func(list []string) string {
			if len(list) == 0 {
				return ""
			}
			return list[len(list)-1]
		},
	}
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// empty is Sprig's notion of an empty value, which default and required
// act on.
func empty(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		return r.Len() == 0
	case reflect.Bool:
		return !r.Bool()
	case reflect.Int, reflect.Int64, reflect.Float64:
		return r.IsZero()
	case reflect.Pointer, reflect.Interface:
		return r.IsNil()
	}
	return false
}

// mergeValues returns base with override laid over it as Helm does:
// mappings merge key by key, anything else is replaced whole.
func mergeValues(base, override map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// rendered is the chart's output for one set of values.
type rendered struct {
	docs  map[string][]*yaml.Node // kind -> documents
	notes string
	files map[string]string // template file -> its output
}

// renderChart renders every template of the chart with values.yaml under
// overrides (YAML text), as `helm template gw chart` would. The error is
// a template's failure (a required value missing); anything else wrong
// fails the test.
func renderChart(t *testing.T, overrides string) (rendered, error) {
	t.Helper()
	var chart struct {
		Name       string `yaml:"name"`
		Version    string `yaml:"version"`
		AppVersion string `yaml:"appVersion"`
		APIVersion string `yaml:"apiVersion"`
	}
	if err := yaml.Unmarshal(readFile(t, filepath.Join(chartDir, "Chart.yaml")), &chart); err != nil {
		t.Fatal(err)
	}
	if chart.APIVersion != "v2" || chart.Name == "" || chart.Version == "" || chart.AppVersion == "" {
		t.Fatalf("Chart.yaml: want apiVersion v2, name, version and appVersion; read %+v", chart)
	}
	var values, over map[string]any
	if err := yaml.Unmarshal(readFile(t, filepath.Join(chartDir, "values.yaml")), &values); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(overrides), &over); err != nil {
		t.Fatal(err)
	}
	data := map[string]any{
		"Values":  mergeValues(values, over),
		"Chart":   map[string]any{"Name": chart.Name, "Version": chart.Version, "AppVersion": chart.AppVersion},
		"Release": map[string]any{"Name": "gw", "Namespace": "gateway", "Service": "Helm"},
	}

	var tmpl *template.Template
	include := func(name string, data any) (string, error) {
		var b strings.Builder
		err := tmpl.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	// missingkey=zero and "<no value>" removed below: Helm's behaviour
	// for a key that values do not have.
	tmpl = template.New("chart").Option("missingkey=zero").Funcs(helmFuncs(include))
	paths, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no templates in %s (%v)", chartDir, err)
	}
	for _, p := range paths {
		if _, err := tmpl.New(filepath.Base(p)).Parse(string(readFile(t, p))); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}

	r := rendered{docs: map[string][]*yaml.Node{}, files: map[string]string{}}
	for _, p := range paths {
		name := filepath.Base(p)
		if strings.HasPrefix(name, "_") {
			continue
		}
		out, err := include(name, data)
		if err != nil {
			return r, fmt.Errorf("rendering %s: %w", name, err)
		}
		out = strings.ReplaceAll(out, "<no value>", "")
		r.files[name] = out
		if name == "NOTES.txt" {
			r.notes = out
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(out))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s does not render to YAML: %v\n%s", name, err, numbered(out))
			}
			if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
				continue // a document that is only comments: helm drops it too
			}
			var head struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			}
			if err := doc.Decode(&head); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if head.APIVersion == "" || head.Kind == "" || head.Metadata.Name == "" {
				t.Fatalf("%s renders a document without apiVersion, kind or metadata.name:\n%s", name, numbered(out))
			}
			r.docs[head.Kind] = append(r.docs[head.Kind], &doc)
		}
	}
	return r, nil
}

// numbered prefixes each line with its number, for messages about
// rendered YAML.
func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}

// one decodes the single object of kind into v, failing unless there is
// exactly one.
func (r rendered) one(t *testing.T, kind string, v any) {
	t.Helper()
	if n := len(r.docs[kind]); n != 1 {
		t.Fatalf("the chart renders %d objects of kind %s, want 1", n, kind)
	}
	if err := r.docs[kind][0].Decode(v); err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
}

// helmDeployment is what the chart sets and the kustomize manifests do
// not.
type helmDeployment struct {
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Template struct {
			Spec struct {
				ServiceAccountName string `yaml:"serviceAccountName"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type helmService struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		ClusterIP string            `yaml:"clusterIP"`
		Selector  map[string]string `yaml:"selector"`
		Ports     []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

// helmCase is one set of values the chart is rendered with.
type helmCase struct {
	name      string
	overrides string
	// What the overrides turn on.
	decision, grpcDecision, autoscaling, serviceMonitor bool
}

var helmCases = []helmCase{
	{name: "default values"},
	{
		name: "decision listeners, autoscaling and a ServiceMonitor",
		overrides: `
autoscaling: {enabled: true}
metrics:
  serviceMonitor: {enabled: true, labels: {release: prometheus}}
terminationGracePeriodSeconds: 50
config:
  server:
    shutdown_grace: 40s
  decision:
    listen: "0.0.0.0:8181"
    grpc_listen: ":9191"
`,
		decision: true, grpcDecision: true, autoscaling: true, serviceMonitor: true,
	},
}

func TestHelmChart(t *testing.T) {
	t.Parallel()
	docker := readDockerfile(t)
	checksums := map[string]string{}
	for _, hc := range helmCases {
		t.Run(hc.name, func(t *testing.T) {
			r, err := renderChart(t, hc.overrides)
			if err != nil {
				t.Fatal(err)
			}
			var dep struct {
				deployment deployment
				helmDeployment
			}
			r.one(t, "Deployment", &dep.deployment)
			r.one(t, "Deployment", &dep.helmDeployment)
			var cm configMap
			r.one(t, "ConfigMap", &cm)
			var sa struct {
				Metadata                     objectMeta `yaml:"metadata"`
				AutomountServiceAccountToken *bool      `yaml:"automountServiceAccountToken"`
			}
			r.one(t, "ServiceAccount", &sa)
			var pdb struct {
				Spec struct {
					Selector selector `yaml:"selector"`
				} `yaml:"spec"`
			}
			r.one(t, "PodDisruptionBudget", &pdb)

			var svc, metricsSvc helmService
			for _, d := range r.docs["Service"] {
				var s helmService
				if err := d.Decode(&s); err != nil {
					t.Fatal(err)
				}
				if s.Metadata.Labels["app.kubernetes.io/component"] == "metrics" {
					metricsSvc = s
				} else {
					svc = s
				}
			}
			if want := 1 + btoi(hc.serviceMonitor); len(r.docs["Service"]) != want {
				t.Fatalf("the chart renders %d Services, want %d", len(r.docs["Service"]), want)
			}
			if got, want := len(r.docs["HorizontalPodAutoscaler"]), btoi(hc.autoscaling); got != want {
				t.Errorf("the chart renders %d HorizontalPodAutoscalers, want %d", got, want)
			}
			if got, want := len(r.docs["ServiceMonitor"]), btoi(hc.serviceMonitor); got != want {
				t.Errorf("the chart renders %d ServiceMonitors, want %d", got, want)
			}
			if n := len(dep.deployment.Spec.Template.Spec.Containers); n != 1 {
				t.Fatalf("the Deployment has %d containers, want 1", n)
			}

			const configKey = "config.yaml"
			cfgText, ok := cm.Data[configKey]
			if !ok {
				t.Fatalf("the ConfigMap has no %s key", configKey)
			}
			cfg, err := config.Parse([]byte(cfgText), "helm ConfigMap data."+configKey)
			if err != nil {
				t.Fatalf("the chart's configuration does not pass config.Parse (portcullis validate):\n%v\n%s", err, numbered(cfgText))
			}

			pod := dep.deployment.Spec.Template
			c := pod.Spec.Containers[0]
			proxyPort, adminPort := portOf(t, cfg.Server.Listen), portOf(t, cfg.Server.AdminListen)
			checksum := pod.Metadata.Annotations["checksum/config"]
			checksums[hc.name] = checksum
			k := &kubernetes{deployment: dep.deployment, configMap: cm}

			checks := append(hardeningChecks(dep.deployment, docker), []podCheck{
				{"no service account token is mounted", isFalse(pod.Spec.AutomountServiceAccountToken) && isFalse(sa.AutomountServiceAccountToken),
					"automountServiceAccountToken: false on the pod and its ServiceAccount"},
				{"the pod runs as the chart's ServiceAccount", dep.Spec.Template.Spec.ServiceAccountName == sa.Metadata.Name,
					fmt.Sprintf("serviceAccountName %q", sa.Metadata.Name)},
				{"the image's own command runs", len(c.Command) == 0 && len(c.Args) == 0, "no command or args"},
				{"the image is the chart's appVersion", strings.HasSuffix(c.Image, ":v0.1.0"), "image tag v0.1.0 (Chart.yaml appVersion)"},
				{"cpu and memory requests are set", c.Resources.Requests["cpu"] != "" && c.Resources.Requests["memory"] != "", "resources.requests.cpu and .memory"},
				{"a memory limit is set", c.Resources.Limits["memory"] != "", "resources.limits.memory"},
				{"GOMEMLIMIT is below the memory limit", goMemLimitBelow(t, c), "GOMEMLIMIT set, and below limits.memory"},
				{"liveness is /healthz on the admin port",
					c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path == "/healthz" && c.port(c.LivenessProbe.HTTPGet.Port) == adminPort,
					fmt.Sprintf("livenessProbe.httpGet /healthz on port %d (admin_listen %q)", adminPort, cfg.Server.AdminListen)},
				{"readiness is /readyz on the admin port",
					c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path == "/readyz" && c.port(c.ReadinessProbe.HTTPGet.Port) == adminPort,
					fmt.Sprintf("readinessProbe.httpGet /readyz on port %d", adminPort)},
				{"the admin port listens on the pod's address", !strings.HasPrefix(cfg.Server.AdminListen, "127.") && !strings.HasPrefix(cfg.Server.AdminListen, "localhost") && !strings.HasPrefix(cfg.Server.AdminListen, "[::1]"),
					fmt.Sprintf("admin_listen %q: the kubelet and Prometheus cannot reach loopback", cfg.Server.AdminListen)},
				{"the container ports are the configured ones", c.port("http") == proxyPort && c.port("admin") == adminPort,
					fmt.Sprintf("ports http=%d and admin=%d, from listen %q and admin_listen %q", proxyPort, adminPort, cfg.Server.Listen, cfg.Server.AdminListen)},
				{"the container ports are the ones the image exposes",
					slices.Contains(docker.expose, c.port("http")) && slices.Contains(docker.expose, c.port("admin")),
					fmt.Sprintf("the Dockerfile EXPOSEs %v", docker.expose)},
				{"the decision port is there exactly when decision.listen is set", decisionPort(t, c, svc, "decision", cfg.Decision.Listen, hc.decision),
					fmt.Sprintf("decision.listen %q: a container port and a Service port named decision on its port, or neither", cfg.Decision.Listen)},
				{"the gRPC decision port is there exactly when decision.grpc_listen is set", decisionPort(t, c, svc, "grpc-decision", cfg.Decision.GRPCListen, hc.grpcDecision),
					fmt.Sprintf("decision.grpc_listen %q: a container port and a Service port named grpc-decision on its port, or neither", cfg.Decision.GRPCListen)},
				{"no Service of clients reaches the admin port", !serviceReaches(svc, c, adminPort),
					fmt.Sprintf("no port of Service %s targets %d", svc.Metadata.Name, adminPort)},
				{"the Service's http port targets the proxy port", servicePortTargets(svc, c, "http", proxyPort),
					fmt.Sprintf("Service port http targets %d", proxyPort)},
				{"Prometheus is told the admin port and path",
					pod.Metadata.Annotations["prometheus.io/scrape"] == "true" && pod.Metadata.Annotations["prometheus.io/port"] == strconv.Itoa(adminPort) && pod.Metadata.Annotations["prometheus.io/path"] == "/metrics",
					fmt.Sprintf(`pod annotations prometheus.io/scrape "true", prometheus.io/port %q, prometheus.io/path "/metrics"`, strconv.Itoa(adminPort))},
				{"the configuration is mounted where the image reads it", mountsConfig(k, c, docker.configPath, configKey),
					fmt.Sprintf("the ConfigMap %s mounted read-only without subPath at %s", cm.Metadata.Name, filepath.Dir(docker.configPath))},
				{"a change of configuration rolls the pods", len(checksum) == 64,
					"pod annotation checksum/config: the SHA-256 of the configuration"},
				{"the selectors match the pods", subset(dep.deployment.Spec.Selector.MatchLabels, pod.Metadata.Labels) && subset(svc.Spec.Selector, pod.Metadata.Labels) && subset(pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels),
					"the Deployment's, the Service's and the PodDisruptionBudget's selectors are subsets of the pod's labels"},
				{"the pods are named portcullis for Prometheus's job label", pod.Metadata.Labels["app.kubernetes.io/name"] == "portcullis",
					`pod label app.kubernetes.io/name: portcullis (the job name prometheus.example.yml and the ServiceMonitor derive)`},
				{"replicas are left to the autoscaler when it is on", (dep.Spec.Replicas == nil) == hc.autoscaling && (hc.autoscaling || *dep.Spec.Replicas >= 2),
					"no spec.replicas with autoscaling (the HPA owns it), at least 2 without"},
				{"NOTES.txt names the decision endpoint when it is on", strings.Contains(r.notes, ":8181") == hc.decision && strings.Contains(r.notes, ":9191") == hc.grpcDecision,
					"NOTES.txt mentions the decision ports that are on, and only those"},
			}...)
			runChecks(t, checks)

			t.Run("termination grace outlasts the preStop sleep plus shutdown_grace", func(t *testing.T) {
				checkTerminationGrace(t, pod.Spec.TerminationGracePeriodSeconds, c, cfg.Server.DrainDelay.D(), cfg.Server.ShutdownGrace.D())
			})

			if hc.autoscaling {
				t.Run("the autoscaler scales this Deployment with at least two replicas", func(t *testing.T) {
					var hpa struct {
						Spec struct {
							ScaleTargetRef struct {
								Kind string `yaml:"kind"`
								Name string `yaml:"name"`
							} `yaml:"scaleTargetRef"`
							MinReplicas int `yaml:"minReplicas"`
						} `yaml:"spec"`
					}
					r.one(t, "HorizontalPodAutoscaler", &hpa)
					if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != dep.deployment.Metadata.Name || hpa.Spec.MinReplicas < 2 {
						t.Errorf("scaleTargetRef %+v, minReplicas %d; want the Deployment %s and at least 2", hpa.Spec.ScaleTargetRef, hpa.Spec.MinReplicas, dep.deployment.Metadata.Name)
					}
				})
			}
			if hc.serviceMonitor {
				t.Run("the ServiceMonitor scrapes the admin port through a Service of its own", func(t *testing.T) {
					var sm struct {
						Metadata objectMeta `yaml:"metadata"`
						Spec     struct {
							JobLabel  string   `yaml:"jobLabel"`
							Selector  selector `yaml:"selector"`
							Endpoints []struct {
								Port string `yaml:"port"`
								Path string `yaml:"path"`
							} `yaml:"endpoints"`
						} `yaml:"spec"`
					}
					r.one(t, "ServiceMonitor", &sm)
					if !subset(sm.Spec.Selector.MatchLabels, metricsSvc.Metadata.Labels) || subset(sm.Spec.Selector.MatchLabels, svc.Metadata.Labels) {
						t.Errorf("the ServiceMonitor selects %v: want the metrics Service (labels %v) and not the gateway's (labels %v)", sm.Spec.Selector.MatchLabels, metricsSvc.Metadata.Labels, svc.Metadata.Labels)
					}
					if metricsSvc.Spec.ClusterIP != "None" || !subset(metricsSvc.Spec.Selector, pod.Metadata.Labels) || !servicePortTargets(metricsSvc, c, "admin", adminPort) {
						t.Errorf("the metrics Service: want headless, selecting the pods, with port admin targeting %d; got %+v", adminPort, metricsSvc.Spec)
					}
					if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
						t.Errorf("endpoints %+v, want port admin, path /metrics", sm.Spec.Endpoints)
					}
					if sm.Spec.JobLabel != "app.kubernetes.io/name" || sm.Metadata.Labels["release"] != "prometheus" {
						t.Errorf("jobLabel %q and labels %v: want app.kubernetes.io/name (job=portcullis) and the values' labels", sm.Spec.JobLabel, sm.Metadata.Labels)
					}
				})
			}
		})
	}
	if len(checksums) == 2 && checksums[helmCases[0].name] == checksums[helmCases[1].name] {
		t.Error("two different configurations give the same checksum/config: a configuration change would not roll the pods")
	}
}

func TestHelmChartRefusesALoopbackAdminListener(t *testing.T) {
	t.Parallel()
	// admin_listen left to the gateway's default (loopback) would make
	// every probe fail: the chart insists it is written, and not as a
	// loopback address (config.example.yaml's, pasted in).
	_, err := renderChart(t, `config: {server: {admin_listen: ""}}`)
	if err == nil || !strings.Contains(err.Error(), "admin_listen must be set") {
		t.Errorf("rendering with admin_listen empty: %v, want the chart's required message", err)
	}
	for _, addr := range []string{"127.0.0.1:9090", "localhost:9090", "[::1]:9090", "127.0.0.2:9091"} {
		_, err := renderChart(t, `config: {server: {admin_listen: "`+addr+`"}}`)
		if err == nil || !strings.Contains(err.Error(), "is a loopback address") {
			t.Errorf("rendering with admin_listen %s: %v, want the chart's loopback refusal", addr, err)
		}
	}
	if _, err := renderChart(t, `config: {server: {admin_listen: "0.0.0.0:9090"}}`); err != nil {
		t.Errorf("rendering with admin_listen 0.0.0.0:9090: %v", err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func goMemLimitBelow(t *testing.T, c container) bool {
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			return mebibytes(t, e.Value) < mebibytes(t, c.Resources.Limits["memory"])
		}
	}
	return false
}

// decisionPort reports whether the container and the Service have a port
// named name on the port of addr exactly when on is true (and addr set).
func decisionPort(t *testing.T, c container, s helmService, name, addr string, on bool) bool {
	if !on {
		for _, p := range s.Spec.Ports {
			if p.Name == name {
				return false
			}
		}
		return addr == "" && c.port(name) == 0
	}
	if addr == "" {
		return false
	}
	want := portOf(t, addr)
	return c.port(name) == want && servicePortTargets(s, c, name, want)
}

// servicePortTargets reports whether the Service's port named name
// targets the container port number want.
func servicePortTargets(s helmService, c container, name string, want int) bool {
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return c.port(p.TargetPort) == want
		}
	}
	return false
}

// serviceReaches reports whether any port of the Service targets port.
func serviceReaches(s helmService, c container, port int) bool {
	for _, p := range s.Spec.Ports {
		if c.port(p.TargetPort) == port {
			return true
		}
	}
	return false
}

// TestHelmLintAndTemplate runs helm itself where it is installed (it is
// not packaged for Debian, so CI renders the chart in TestHelmChart only).
func TestHelmLintAndTemplate(t *testing.T) {
	t.Parallel()
	helm, err := exec.LookPath("helm")
	if err != nil {
		t.Skip("helm is not on PATH: TestHelmChart renders the chart without it; install helm to also run helm lint and helm template")
	}
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, helm, args...)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("lint", "--strict", chartDir)
	for _, hc := range helmCases {
		values := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(values, []byte(hc.overrides+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out := run("template", "gw", chartDir, "--namespace", "gateway", "-f", values)
		if !strings.Contains(out, "kind: Deployment") {
			t.Errorf("helm template (%s) renders no Deployment:\n%s", hc.name, out)
		}
	}
}

// TestHelmChartMountsSecretsAndEnv: secretMounts become read-only Secret
// volumes mounted where the configuration reads its secret files, and env
// is added beside GOMEMLIMIT; the default values mount none.
func TestHelmChartMountsSecretsAndEnv(t *testing.T) {
	t.Parallel()
	type pod struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct {
							Name  string `yaml:"name"`
							Value string `yaml:"value"`
						} `yaml:"env"`
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
							ReadOnly  bool   `yaml:"readOnly"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
					Volumes []struct {
						Name   string `yaml:"name"`
						Secret *struct {
							SecretName  string `yaml:"secretName"`
							DefaultMode int    `yaml:"defaultMode"`
						} `yaml:"secret"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	render := func(overrides string) (pod, *config.Config) {
		t.Helper()
		r, err := renderChart(t, overrides)
		if err != nil {
			t.Fatal(err)
		}
		var p pod
		r.one(t, "Deployment", &p)
		var cm configMap
		r.one(t, "ConfigMap", &cm)
		cfg, err := config.Parse([]byte(cm.Data["config.yaml"]), "helm ConfigMap")
		if err != nil {
			t.Fatalf("the chart's configuration does not parse: %v", err)
		}
		return p, cfg
	}

	p, _ := render("")
	if n := len(p.Spec.Template.Spec.Volumes); n != 1 {
		t.Errorf("default values: %d volumes, want only the configuration's", n)
	}

	p, cfg := render(`
secretMounts:
  - {name: redis, secretName: portcullis-redis, mountPath: /var/run/secrets/portcullis/redis}
env:
  - {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://otel-collector:4317"}
config:
  rate_limit_store:
    url: "redis://redis.platform.svc.cluster.local:6379/0"
    password_file: /var/run/secrets/portcullis/redis/password
`)
	spec := p.Spec.Template.Spec
	var secret string
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			if v.Secret.SecretName != "portcullis-redis" || v.Secret.DefaultMode != 0o440 {
				t.Errorf("secret volume %s: %+v, want secretName portcullis-redis, defaultMode 0440", v.Name, *v.Secret)
			}
			secret = v.Name
		}
	}
	if secret == "" {
		t.Fatalf("no Secret volume rendered: %+v", spec.Volumes)
	}
	c := spec.Containers[0]
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.Name == secret {
			mounted = true
			if !m.ReadOnly || !strings.HasPrefix(cfg.RateLimitStore.PasswordFile, m.MountPath+"/") {
				t.Errorf("the Secret is mounted at %s (read-only %v); password_file %s must lie inside, read-only",
					m.MountPath, m.ReadOnly, cfg.RateLimitStore.PasswordFile)
			}
		}
	}
	if !mounted {
		t.Errorf("the Secret volume %s is not mounted: %+v", secret, c.VolumeMounts)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://otel-collector:4317" || env["GOMEMLIMIT"] == "" {
		t.Errorf("env %v: want OTEL_EXPORTER_OTLP_ENDPOINT from values and GOMEMLIMIT kept", env)
	}
}
