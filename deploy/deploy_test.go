package deploy_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// requiredEnv, set to 1 in CI, turns a missing promtool from a skip into a
// failure, so that CI can never pass by not running these checks.
const requiredEnv = "PORTCULLIS_PROMETHEUS_REQUIRED"

// requireTool returns the path of a Prometheus program. When it is not on
// PATH the test is skipped, or fails if requiredEnv is 1.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv(requiredEnv) == "1" {
		t.Fatalf("%s is not on PATH and %s=1: install it (Debian: apt-get install prometheus)", name, requiredEnv)
	}
	t.Skipf("%s is not on PATH: install it (Debian: apt-get install prometheus) to run this test, or set %s=1 to make its absence a failure", name, requiredEnv)
	return ""
}

// promtool runs promtool with args in dir, bounded to 30s, and returns its
// exit code and combined output.
func promtool(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	bin := requireTool(t, "promtool")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// ---------------------------------------------------------------------------
// Alerting rules

func TestAlertRulesPassPromtool(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string // in promtool's output on success
	}{
		{"promtool check rules accepts alerts.yaml", []string{"check", "rules", "alerts.yaml"}, "SUCCESS"},
		{"every unit test in alerts_test.yaml passes", []string{"test", "rules", "alerts_test.yaml"}, "SUCCESS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out := promtool(t, "prometheus", tc.args...)
			if code != 0 || !strings.Contains(out, tc.want) {
				t.Errorf("promtool %s: exit code %d, want 0 and %q:\n%s", strings.Join(tc.args, " "), code, tc.want, out)
			}
		})
	}
}

// ruleFile is the part of a Prometheus rule file these tests read.
type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert  string
			Record string
			Expr   string
			Labels map[string]string
		}
	}
}

func TestAlertsCoverTheIssue(t *testing.T) {
	t.Parallel()
	var rules ruleFile
	if err := yaml.Unmarshal(readFile(t, "prometheus/alerts.yaml"), &rules); err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			byName[r.Alert] = r.Expr
			if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
				t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, sev)
			}
		}
	}
	for _, tc := range []struct {
		name, alert string
		mentions    []string // substrings its expression must hold
	}{
		{"keys stale beyond several refresh intervals", "PortcullisJWKSStale", []string{"portcullis_jwks_last_success_timestamp_seconds", `result="error"`}},
		{"an issuer without usable keys", "PortcullisJWKSNoKeys", []string{"portcullis_jwks_keys"}},
		{"a spike of bad_signature failures", "PortcullisBadSignatureSpike", []string{`reason="bad_signature"`}},
		{"a spike of unknown_key failures", "PortcullisUnknownKeySpike", []string{`reason="unknown_key"`}},
		{"5xx answers on a route", "PortcullisUpstream5xx", []string{`code=~"5.."`}},
		{"a failed configuration reload", "PortcullisConfigReloadFailed", []string{"portcullis_config_reloads_total", `result="error"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expr, ok := byName[tc.alert]
			if !ok {
				t.Fatalf("no alert %s in alerts.yaml", tc.alert)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(expr, m) {
					t.Errorf("alert %s: expression does not mention %s:\n%s", tc.alert, m, expr)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Prometheus scrape configuration example

// scrapeConfig is the part of prometheus.example.yml these tests read.
type scrapeConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string           `yaml:"job_name"`
		StaticConfigs []map[string]any `yaml:"static_configs"`
		KubernetesSD  []map[string]any `yaml:"kubernetes_sd_configs"`
		Relabel       []struct {
			SourceLabels []string `yaml:"source_labels"`
			TargetLabel  string   `yaml:"target_label"`
		} `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

func TestPrometheusExampleConfig(t *testing.T) {
	t.Parallel()
	raw := readFile(t, "prometheus/prometheus.example.yml")
	var cfg scrapeConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	k := loadKubernetes(t)
	pod := k.deployment.Spec.Template

	t.Run("it loads alerts.yaml", func(t *testing.T) {
		if !slices.Contains(cfg.RuleFiles, "alerts.yaml") {
			t.Errorf("rule_files = %q, want alerts.yaml", cfg.RuleFiles)
		}
	})
	t.Run("the static job is called portcullis, as PortcullisDown expects", func(t *testing.T) {
		found := false
		for _, j := range cfg.ScrapeConfigs {
			found = found || j.JobName == "portcullis" && len(j.StaticConfigs) > 0
		}
		if !found {
			t.Error("no job_name: portcullis with static_configs")
		}
	})
	t.Run("the Kubernetes job reads the Deployment's annotations and names the job portcullis", func(t *testing.T) {
		var sources []string
		jobFromName := false
		for _, j := range cfg.ScrapeConfigs {
			if len(j.KubernetesSD) == 0 {
				continue
			}
			for _, r := range j.Relabel {
				sources = append(sources, r.SourceLabels...)
				if r.TargetLabel == "job" && slices.Equal(r.SourceLabels, []string{"__meta_kubernetes_pod_label_app_kubernetes_io_name"}) {
					jobFromName = true
				}
			}
		}
		for key := range pod.Metadata.Annotations {
			if !strings.HasPrefix(key, "prometheus.io/") {
				continue
			}
			meta := "__meta_kubernetes_pod_annotation_" + regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(key, "_")
			if !slices.Contains(sources, meta) {
				t.Errorf("the pod annotation %s is not read by any relabel rule (%s)", key, meta)
			}
		}
		if !jobFromName || pod.Metadata.Labels["app.kubernetes.io/name"] != "portcullis" {
			t.Errorf("want job set from the pod label app.kubernetes.io/name, which must be portcullis (it is %q)", pod.Metadata.Labels["app.kubernetes.io/name"])
		}
	})
	t.Run("promtool check config accepts it", func(t *testing.T) {
		dir := t.TempDir()
		for name, data := range map[string][]byte{"prometheus.yml": raw, "alerts.yaml": readFile(t, "prometheus/alerts.yaml")} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		code, out := promtool(t, dir, "check", "config", "prometheus.yml")
		if code != 0 && strings.Contains(out, "field kubernetes_sd_configs not found") {
			// Debian builds Prometheus without Kubernetes discovery: check
			// everything else, and say so.
			t.Logf("this promtool has no Kubernetes service discovery (%s); checking the file without its kubernetes_sd_configs jobs", strings.TrimSpace(out))
			var doc map[string]any
			if err := yaml.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			jobs, _ := doc["scrape_configs"].([]any)
			doc["scrape_configs"] = slices.DeleteFunc(jobs, func(j any) bool {
				_, k8s := j.(map[string]any)["kubernetes_sd_configs"]
				return k8s
			})
			stripped, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), stripped, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out = promtool(t, dir, "check", "config", "prometheus.yml")
		}
		if code != 0 {
			t.Errorf("promtool check config: exit code %d:\n%s", code, out)
		}
	})
}
