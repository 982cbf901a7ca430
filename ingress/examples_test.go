package ingress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestExamplePortcullisValidates runs `portcullis validate` on
// examples/forward-auth/portcullis.yaml, as an operator would, and checks
// that it configures the decision service that the ingress examples call.
func TestExamplePortcullisValidates(t *testing.T) {
	path := filepath.Join(examplesDir, "portcullis.yaml")
	out, err := exec.Command(portcullisBin, "validate", "-config", path).CombinedOutput()
	if err != nil {
		t.Fatalf("portcullis validate -config %s: %v\n%s", path, err, out)
	}
	cfg := loadExample(t)
	if len(cfg.Warnings) != 0 {
		t.Errorf("the example loads with warnings: %v", cfg.Warnings)
	}
	if cfg.Decision.Listen == "" || cfg.Decision.GRPCListen == "" || len(cfg.Server.TrustedProxies) == 0 {
		t.Errorf("decision.listen %q, decision.grpc_listen %q, server.trusted_proxies %q: the examples need all three",
			cfg.Decision.Listen, cfg.Decision.GRPCListen, cfg.Server.TrustedProxies)
	}
}

// TestExampleNginxConfPassesNginxT runs `nginx -t` on
// examples/forward-auth/nginx.conf as it is, with a temporary prefix for
// the files it names relative to it.
func TestExampleNginxConfPassesNginxT(t *testing.T) {
	bin := needNginx(t)
	conf, err := filepath.Abs(filepath.Join(examplesDir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-e", "stderr", "-p", t.TempDir(), "-c", conf).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("test is successful")) {
		t.Fatalf("nginx -t -c %s: %v\n%s", conf, err, out)
	}
}

// TestExamplesAreYAML parses every document of every YAML example.
func TestExamplesAreYAML(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no YAML example in %s: %v", examplesDir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if docs := yamlDocs(t, filepath.Base(f)); len(docs) == 0 {
				t.Fatal("no document")
			}
		})
	}
}

// TestExamplesNameEveryClaimHeader holds every ingress example to the claim
// headers of examples/forward-auth/portcullis.yaml (and to its decision
// ports and path prefix): a claim header that an ingress does not copy
// never reaches the service, and, for most of them, lets a client's own
// copy through instead.
func TestExamplesNameEveryClaimHeader(t *testing.T) {
	cfg := loadExample(t)
	want := claimHeaders(t)
	_, httpPort, _ := net.SplitHostPort(cfg.Decision.Listen)
	_, grpcPort, _ := net.SplitHostPort(cfg.Decision.GRPCListen)
	prefix := cfg.Decision.EnvoyPathPrefix

	t.Run("nginx.conf sets each from auth_request_set, and nothing else sets them", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(examplesDir, "nginx.conf"))
		if err != nil {
			t.Fatal(err)
		}
		conf := string(raw)
		for _, name := range want {
			set := regexp.MustCompile(`(?m)^\s*proxy_set_header\s+`+regexp.QuoteMeta(name)+`\s+\$(\w+);`).FindAllStringSubmatch(conf, -1)
			if len(set) != 1 {
				t.Errorf("proxy_set_header %s $...; is written %d times, want once", name, len(set))
				continue
			}
			upstreamVar := "$upstream_http_" + strings.ReplaceAll(strings.ToLower(name), "-", "_")
			from := regexp.MustCompile(`(?m)^\s*auth_request_set\s+\$` + set[0][1] + `\s+` + regexp.QuoteMeta(upstreamVar) + `;`)
			if !from.MatchString(conf) {
				t.Errorf("$%s, which sets %s, is not auth_request_set from %s", set[0][1], name, upstreamVar)
			}
		}
		for _, h := range []string{cfg.Decision.Nginx.MethodHeader, cfg.Decision.Nginx.URIHeader, cfg.Decision.Nginx.HostHeader} {
			if !regexp.MustCompile(`(?m)^\s*proxy_set_header\s+` + regexp.QuoteMeta(h) + `\s`).MatchString(conf) {
				t.Errorf("the decision location does not set %s (decision.nginx)", h)
			}
		}
		if !strings.Contains(conf, nginxDecision) || !strings.Contains(conf, ":"+httpPort+";") {
			t.Errorf("the decision upstream is not decision.listen's port %s", httpPort)
		}
	})

	t.Run("traefik.yaml copies each with authResponseHeaders", func(t *testing.T) {
		docs := yamlDocs(t, "traefik.yaml")
		fa, _ := lookup(docs[0], "http", "middlewares", "portcullis", "forwardAuth").(map[string]any)
		if fa == nil {
			t.Fatal("no http.middlewares.portcullis.forwardAuth")
		}
		checkNames(t, "authResponseHeaders", fa["authResponseHeaders"], want)
		if addr, _ := fa["address"].(string); !strings.HasSuffix(addr, ":"+httpPort+"/traefik") {
			t.Errorf("address %q, want decision.listen's port %s and /traefik", addr, httpPort)
		}
		if fa["trustForwardHeader"] != false {
			t.Errorf("trustForwardHeader = %v, want false: a client's X-Forwarded-Uri must not describe the request", fa["trustForwardHeader"])
		}
	})

	t.Run("envoy-http.yaml copies each with allowed_upstream_headers", func(t *testing.T) {
		docs := yamlDocs(t, "envoy-http.yaml")
		checkNames(t, "allowed_upstream_headers", exacts(find(docs, "allowed_upstream_headers")), want)
		if got := find(docs, "path_prefix"); len(got) != 1 || got[0] != prefix {
			t.Errorf("path_prefix %v, want [%s] (decision.envoy_path_prefix)", got, prefix)
		}
		if got := exacts(find(docs, "allowed_client_headers")); !slices.Contains(got, "www-authenticate") {
			t.Errorf("allowed_client_headers %v lacks www-authenticate", got)
		}
		if got := exacts(find(docs, "allowed_headers")); !slices.Contains(got, "authorization") {
			t.Errorf("allowed_headers %v lacks authorization", got)
		}
		checkFailClosed(t, docs)
		checkPort(t, docs, httpPort)
	})

	t.Run("envoy-grpc.yaml needs no list: it calls decision.grpc_listen, fails closed and sends no body", func(t *testing.T) {
		docs := yamlDocs(t, "envoy-grpc.yaml")
		if got := find(docs, "transport_api_version"); len(got) != 1 || got[0] != "V3" {
			t.Errorf("transport_api_version %v, want V3", got)
		}
		if got := find(docs, "with_request_body"); len(got) != 0 {
			t.Errorf("with_request_body %v, want none", got)
		}
		checkFailClosed(t, docs)
		checkPort(t, docs, grpcPort)
	})

	t.Run("gateway-api-httproute.yaml copies each with allowedResponseHeaders", func(t *testing.T) {
		docs := yamlDocs(t, "gateway-api-httproute.yaml")
		checkNames(t, "allowedResponseHeaders", flatten(find(docs, "allowedResponseHeaders")), want)
		if got := find(docs, "path"); !slices.Contains(got, any(prefix)) {
			t.Errorf("externalAuth.http.path %v, want %s (decision.envoy_path_prefix)", got, prefix)
		}
		if got := find(docs, "type"); !slices.Contains(got, any("ExternalAuth")) {
			t.Errorf("no filter of type ExternalAuth: %v", got)
		}
	})

	t.Run("istio-authorizationpolicy.yaml copies each with headersToUpstreamOnAllow", func(t *testing.T) {
		docs := yamlDocs(t, "istio-authorizationpolicy.yaml")
		checkNames(t, "headersToUpstreamOnAllow", flatten(find(docs, "headersToUpstreamOnAllow")), want)
		if got := find(docs, "pathPrefix"); len(got) != 1 || got[0] != prefix {
			t.Errorf("pathPrefix %v, want [%s]", got, prefix)
		}
		if got := flatten(find(docs, "headersToDownstreamOnDeny")); !slices.Contains(got, "www-authenticate") {
			t.Errorf("headersToDownstreamOnDeny %v lacks www-authenticate", got)
		}
		if got := find(docs, "action"); len(got) != 1 || got[0] != "CUSTOM" {
			t.Errorf("action %v, want CUSTOM", got)
		}
		for _, port := range []string{httpPort, grpcPort} {
			if !slices.ContainsFunc(find(docs, "port"), func(v any) bool { return fmt.Sprint(v) == port }) {
				t.Errorf("no provider on port %s", port)
			}
		}
	})
}

// yamlDocs decodes every document of the example file.
func yamlDocs(t *testing.T, file string) []any {
	t.Helper()
	f, err := os.Open(filepath.Join(examplesDir, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []any
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		docs = append(docs, doc)
	}
}

// lookup follows keys through nested maps; nil when one is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// find returns the value of every key named key, at any depth.
func find(v any, key string) []any {
	var out []any
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == key {
				out = append(out, x)
			}
			out = append(out, find(x, key)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, find(x, key)...)
		}
	}
	return out
}

// exacts returns the exact strings of Envoy string matcher lists
// ({patterns: [{exact: ...}]}), lower case.
func exacts(lists []any) []string {
	var out []string
	for _, v := range find(lists, "exact") {
		if s, ok := v.(string); ok {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

// flatten returns the strings of the lists given, lower case.
func flatten(lists []any) []string {
	var out []string
	for _, l := range lists {
		items, _ := l.([]any)
		for _, v := range items {
			if s, ok := v.(string); ok {
				out = append(out, strings.ToLower(s))
			}
		}
	}
	return out
}

// checkNames checks that list (a YAML list, or names already read) names
// every claim header, compared without case, and no other header.
func checkNames(t *testing.T, field string, list any, want []string) {
	t.Helper()
	var got []string
	switch l := list.(type) {
	case []string:
		got = l
	case []any:
		got = flatten([]any{l})
	}
	norm := func(names []string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = strings.ToLower(n)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if g, w := norm(got), norm(want); !slices.Equal(g, w) {
		t.Errorf("%s names %v, want the claim headers of portcullis.yaml: %v", field, g, w)
	}
}

// checkFailClosed checks that Envoy refuses when portcullis cannot answer.
func checkFailClosed(t *testing.T, docs []any) {
	t.Helper()
	if got := find(docs, "failure_mode_allow"); len(got) != 1 || got[0] != false {
		t.Errorf("failure_mode_allow %v, want [false]", got)
	}
}

// checkPort checks that an Envoy cluster reaches portcullis on port.
func checkPort(t *testing.T, docs []any, port string) {
	t.Helper()
	if !slices.ContainsFunc(find(docs, "port_value"), func(v any) bool { return fmt.Sprint(v) == port }) {
		t.Errorf("no cluster endpoint on port %s (portcullis.yaml's decision port)", port)
	}
}
