package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/portcullis/portcullis/config"
)

// The Kubernetes manifests: their security properties, and their agreement
// with the configuration they mount and the image the Dockerfile builds.
// yaml.v3 reads only the fields checked here; anything else is left to
// the API server.

type objectMeta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type selector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"` // a number or a container port's name
	} `yaml:"httpGet"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Privileged               *bool `yaml:"privileged"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Lifecycle      struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

// port resolves a probe's or a Service's port (a number or a name) to a
// container port number, 0 if it names none.
func (c container) port(p string) int {
	if n, err := strconv.Atoi(p); err == nil {
		return n
	}
	for _, cp := range c.Ports {
		if cp.Name == p {
			return cp.ContainerPort
		}
	}
	return 0
}

type deployment struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Selector selector `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     struct {
				AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
				SecurityContext              struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
					RunAsUser    *int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
				Containers                    []container `yaml:"containers"`
				Volumes                       []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type configMap struct {
	Metadata objectMeta        `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

// kubernetes is every object of deploy/kubernetes, by kind.
type kubernetes struct {
	files      []string // the .yaml files, by base name
	kustomize  []string // kustomization.yaml's resources
	deployment deployment
	service    service
	configMap  configMap
	pdb        struct {
		Spec struct {
			Selector selector `yaml:"selector"`
		} `yaml:"spec"`
	}
	hpa struct {
		Spec struct {
			ScaleTargetRef struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicas int `yaml:"minReplicas"`
		} `yaml:"spec"`
	}
	kinds map[string]int // how many objects of each kind
}

func loadKubernetes(t *testing.T) *kubernetes {
	t.Helper()
	paths, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no kubernetes/*.yaml (%v)", err)
	}
	k := &kubernetes{kinds: map[string]int{}}
	targets := map[string]any{
		"Deployment":              &k.deployment,
		"Service":                 &k.service,
		"ConfigMap":               &k.configMap,
		"PodDisruptionBudget":     &k.pdb,
		"HorizontalPodAutoscaler": &k.hpa,
	}
	for _, path := range paths {
		k.files = append(k.files, filepath.Base(path))
		dec := yaml.NewDecoder(bytes.NewReader(readFile(t, path)))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var head struct {
				APIVersion string   `yaml:"apiVersion"`
				Kind       string   `yaml:"kind"`
				Resources  []string `yaml:"resources"`
			}
			if err := doc.Decode(&head); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if head.APIVersion == "" || head.Kind == "" {
				t.Fatalf("%s: a document without apiVersion and kind", path)
			}
			k.kinds[head.Kind]++
			if head.Kind == "Kustomization" {
				k.kustomize = head.Resources
				continue
			}
			target, ok := targets[head.Kind]
			if !ok {
				continue
			}
			if err := doc.Decode(target); err != nil {
				t.Fatalf("%s: %s: %v", path, head.Kind, err)
			}
		}
	}
	for kind := range targets {
		if k.kinds[kind] != 1 {
			t.Fatalf("kubernetes/: %d objects of kind %s, want exactly 1", k.kinds[kind], kind)
		}
	}
	if n := len(k.deployment.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", n)
	}
	return k
}

// dockerfile is what the repository's Dockerfile says about the image the
// manifests run.
type dockerfile struct {
	user       int
	expose     []int
	configPath string // the -config of the default command
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	var d dockerfile
	for line := range strings.Lines(string(readFile(t, "../Dockerfile"))) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "USER":
			u, _, _ := strings.Cut(f[1], ":")
			n, err := strconv.Atoi(u)
			if err != nil {
				t.Fatalf("Dockerfile: USER %s is not numeric (Kubernetes can check runAsNonRoot only on a number)", f[1])
			}
			d.user = n
		case "EXPOSE":
			d.expose = nil
			for _, p := range f[1:] {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					t.Fatalf("Dockerfile: EXPOSE %s", p)
				}
				d.expose = append(d.expose, n)
			}
		case "CMD":
			var args []string
			if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "CMD"))), &args); err != nil {
				t.Fatalf("Dockerfile: CMD is not in exec form: %v", err)
			}
			if i := slices.Index(args, "-config"); i >= 0 && i+1 < len(args) {
				d.configPath = args[i+1]
			}
		}
	}
	if d.user == 0 || len(d.expose) == 0 || d.configPath == "" {
		t.Fatalf("Dockerfile: want a numeric non-root USER, EXPOSE and a CMD with -config; read %+v", d)
	}
	return d
}

// portOf returns the port number of a listen address such as ":9090".
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	return n
}

// mebibytes reads a Kubernetes memory quantity or a GOMEMLIMIT value in
// the binary units these manifests use (Mi/MiB, Gi/GiB).
func mebibytes(t *testing.T, q string) int {
	t.Helper()
	units := map[string]int{"Mi": 1, "MiB": 1, "Gi": 1024, "GiB": 1024}
	i := strings.IndexFunc(q, func(r rune) bool { return r < '0' || r > '9' })
	n, err := strconv.Atoi(q[:max(i, 0)])
	mul, ok := units[q[max(i, 0):]]
	if i <= 0 || err != nil || !ok {
		t.Fatalf("memory quantity %q: want a whole number of Mi, MiB, Gi or GiB", q)
	}
	return n * mul
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// podCheck is one property the manifests must have: ok is whether they
// have it, why what it takes.
type podCheck struct {
	name string
	ok   bool
	why  string
}

// hardeningChecks are the container's hardening, which the kustomize
// manifests and the Helm chart must both meet.
func hardeningChecks(d deployment, docker dockerfile) []podCheck {
	pod := d.Spec.Template
	c := pod.Spec.Containers[0]
	return []podCheck{
		{"the pod runs as non-root", isTrue(pod.Spec.SecurityContext.RunAsNonRoot) && isTrue(c.SecurityContext.RunAsNonRoot),
			"runAsNonRoot: true on the pod and the container"},
		{"the pod runs as the image's user", pod.Spec.SecurityContext.RunAsUser != nil && *pod.Spec.SecurityContext.RunAsUser == docker.user,
			fmt.Sprintf("runAsUser %d, the Dockerfile's USER", docker.user)},
		{"the root filesystem is read-only", isTrue(c.SecurityContext.ReadOnlyRootFilesystem), "readOnlyRootFilesystem: true"},
		{"privilege escalation is off", isFalse(c.SecurityContext.AllowPrivilegeEscalation), "allowPrivilegeEscalation: false"},
		{"the container is not privileged", !isTrue(c.SecurityContext.Privileged), "privileged: false or absent"},
		{"every capability is dropped and none added", slices.Equal(c.SecurityContext.Capabilities.Drop, []string{"ALL"}) && len(c.SecurityContext.Capabilities.Add) == 0,
			`capabilities: {drop: ["ALL"]}`},
	}
}

// runChecks runs each check as a subtest named after it.
func runChecks(t *testing.T, checks []podCheck) {
	t.Helper()
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			if !ch.ok {
				t.Errorf("want %s", ch.why)
			}
		})
	}
}

// checkTerminationGrace holds a pod's terminationGracePeriodSeconds above
// its container's preStop sleep plus drain_delay plus shutdown_grace (after
// SIGTERM the gateway serves drain_delay before shutdown_grace begins), so
// that SIGKILL never cuts a request the gateway lets finish, and requires
// the sleep: without it endpoints may still send to a pod that stopped
// accepting.
func checkTerminationGrace(t *testing.T, graceSeconds *int, c container, drainDelay, shutdownGrace time.Duration) {
	t.Helper()
	if graceSeconds == nil {
		t.Fatal("terminationGracePeriodSeconds is not set (the default 30s is not derived from shutdown_grace)")
	}
	grace := time.Duration(*graceSeconds) * time.Second
	var preStop time.Duration
	if ps := c.Lifecycle.PreStop; ps != nil && ps.Sleep != nil {
		preStop = time.Duration(ps.Sleep.Seconds) * time.Second
	}
	if preStop == 0 {
		t.Error("no preStop sleep: endpoints may still send to a pod that stopped accepting")
	}
	if need := preStop + drainDelay + shutdownGrace; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %v <= preStop sleep %v + drain_delay %v + shutdown_grace %v: SIGKILL would cut requests the gateway lets finish", grace, preStop, drainDelay, shutdownGrace)
	}
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	k := loadKubernetes(t)
	docker := readDockerfile(t)
	pod := k.deployment.Spec.Template
	c := pod.Spec.Containers[0]

	const configKey = "config.yaml"
	cfgText, ok := k.configMap.Data[configKey]
	if !ok {
		t.Fatalf("the ConfigMap has no %s key", configKey)
	}
	cfg, err := config.Parse([]byte(cfgText), "kubernetes/configmap.yaml:data."+configKey)
	if err != nil {
		t.Fatalf("the ConfigMap's configuration does not pass config.Parse (portcullis validate):\n%v", err)
	}

	checks := append(hardeningChecks(k.deployment, docker), []podCheck{
		{"no service account token is mounted", isFalse(pod.Spec.AutomountServiceAccountToken), "automountServiceAccountToken: false (the gateway never calls the API)"},
		{"the image's own command runs", len(c.Command) == 0 && len(c.Args) == 0, "no command or args: the Dockerfile's CMD reads the mounted file"},
		{"cpu and memory requests are set", c.Resources.Requests["cpu"] != "" && c.Resources.Requests["memory"] != "", "resources.requests.cpu and .memory"},
		{"a memory limit is set", c.Resources.Limits["memory"] != "", "resources.limits.memory"},
		{"liveness is /healthz on the admin port",
			c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path == "/healthz" && c.port(c.LivenessProbe.HTTPGet.Port) == portOf(t, cfg.Server.AdminListen),
			fmt.Sprintf("livenessProbe.httpGet /healthz on port %d (admin_listen %q)", portOf(t, cfg.Server.AdminListen), cfg.Server.AdminListen)},
		{"readiness is /readyz on the admin port",
			c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path == "/readyz" && c.port(c.ReadinessProbe.HTTPGet.Port) == portOf(t, cfg.Server.AdminListen),
			fmt.Sprintf("readinessProbe.httpGet /readyz on port %d", portOf(t, cfg.Server.AdminListen))},
		{"the admin port listens on the pod's address", !strings.HasPrefix(cfg.Server.AdminListen, "127.") && !strings.HasPrefix(cfg.Server.AdminListen, "localhost") && !strings.HasPrefix(cfg.Server.AdminListen, "[::1]"),
			fmt.Sprintf("admin_listen %q: the kubelet and Prometheus cannot reach loopback", cfg.Server.AdminListen)},
		{"the container ports are the configured ones",
			c.port("http") == portOf(t, cfg.Server.Listen) && c.port("admin") == portOf(t, cfg.Server.AdminListen),
			fmt.Sprintf("ports http=%d (listen %q) and admin=%d (admin_listen %q)", portOf(t, cfg.Server.Listen), cfg.Server.Listen, portOf(t, cfg.Server.AdminListen), cfg.Server.AdminListen)},
		{"the container ports are the ones the image exposes",
			slices.Contains(docker.expose, c.port("http")) && slices.Contains(docker.expose, c.port("admin")),
			fmt.Sprintf("the Dockerfile EXPOSEs %v", docker.expose)},
		{"the Service sends to the proxy port, never the admin port", serviceTargets(k.service, c, portOf(t, cfg.Server.Listen)),
			fmt.Sprintf("every Service port targets %d", portOf(t, cfg.Server.Listen))},
		{"Prometheus is told the admin port and path",
			pod.Metadata.Annotations["prometheus.io/scrape"] == "true" && pod.Metadata.Annotations["prometheus.io/port"] == strconv.Itoa(portOf(t, cfg.Server.AdminListen)) && pod.Metadata.Annotations["prometheus.io/path"] == "/metrics",
			fmt.Sprintf(`pod annotations prometheus.io/scrape "true", prometheus.io/port %q, prometheus.io/path "/metrics"`, strconv.Itoa(portOf(t, cfg.Server.AdminListen)))},
		{"the configuration is mounted where the image reads it", mountsConfig(k, c, docker.configPath, configKey),
			fmt.Sprintf("the ConfigMap %s mounted read-only, without subPath (so edits reach the pod), so that %s is its %s key", k.configMap.Metadata.Name, docker.configPath, configKey)},
		{"the selectors match the pods", subset(k.deployment.Spec.Selector.MatchLabels, pod.Metadata.Labels) && subset(k.service.Spec.Selector, pod.Metadata.Labels) && subset(k.pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels),
			"the Deployment's, the Service's and the PodDisruptionBudget's selectors are subsets of the pod's labels"},
		{"the autoscaler scales this Deployment with at least two replicas", k.hpa.Spec.ScaleTargetRef.Kind == "Deployment" && k.hpa.Spec.ScaleTargetRef.Name == k.deployment.Metadata.Name && k.hpa.Spec.MinReplicas >= 2,
			"scaleTargetRef: the Deployment; minReplicas >= 2"},
		{"kustomization.yaml lists every manifest", kustomizeListsAll(k), fmt.Sprintf("resources %q, files %q", k.kustomize, k.files)},
	}...)
	runChecks(t, checks)

	t.Run("termination grace outlasts the preStop sleep plus shutdown_grace", func(t *testing.T) {
		checkTerminationGrace(t, pod.Spec.TerminationGracePeriodSeconds, c, cfg.Server.DrainDelay.D(), cfg.Server.ShutdownGrace.D())
	})
	t.Run("GOMEMLIMIT is below the memory limit", func(t *testing.T) {
		for _, e := range c.Env {
			if e.Name == "GOMEMLIMIT" {
				if soft, hard := mebibytes(t, e.Value), mebibytes(t, c.Resources.Limits["memory"]); soft >= hard {
					t.Errorf("GOMEMLIMIT %s >= limits.memory %s: the GC would not act before the OOM killer", e.Value, c.Resources.Limits["memory"])
				}
				return
			}
		}
		t.Error("GOMEMLIMIT is not set")
	})
}

// serviceTargets reports whether every port of the Service targets the
// container's proxy port.
func serviceTargets(s service, c container, proxyPort int) bool {
	if len(s.Spec.Ports) == 0 {
		return false
	}
	for _, p := range s.Spec.Ports {
		if c.port(p.TargetPort) != proxyPort {
			return false
		}
	}
	return true
}

// mountsConfig reports whether the ConfigMap is mounted read-only as a
// directory (no subPath) at the directory of path, holding key as path's
// file name.
func mountsConfig(k *kubernetes, c container, path, key string) bool {
	if filepath.Base(path) != key {
		return false
	}
	for _, v := range k.deployment.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil || v.ConfigMap.Name != k.configMap.Metadata.Name {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && m.MountPath == filepath.Dir(path) && m.SubPath == "" && m.ReadOnly {
				return true
			}
		}
	}
	return false
}

func kustomizeListsAll(k *kubernetes) bool {
	want := slices.DeleteFunc(slices.Clone(k.files), func(f string) bool { return f == "kustomization.yaml" })
	got := slices.Clone(k.kustomize)
	slices.Sort(want)
	slices.Sort(got)
	return len(want) > 0 && slices.Equal(want, got)
}
