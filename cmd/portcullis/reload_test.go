package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/metrics"
)

// publicRoute is a route to append to a gatewayConfig file.
func publicRoute(name, prefix, upstream string) string {
	return fmt.Sprintf("  - name: %s\n    match: {path_prefix: %s}\n    upstream: %q\n    auth: {mode: public}\n", name, prefix, upstream)
}

// replaceFile writes content beside path and renames it over path, as
// editors that save atomically do: the file's inode changes.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitCounter polls /metrics until the series reaches want.
func waitCounter(t *testing.T, g *gatewaytest.GatewayProcess, name, lbls string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := series(scrape(t, g), name)[lbls]
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s} = %v, want %v within 10s", name, lbls, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReloadOnFileChangeAndSIGHUP(t *testing.T) {
	t.Parallel()
	idp, _ := newIssuer(t, "k1")
	up := gatewaytest.NewUpstream(t)
	render := gatewayConfig([]testIssuer{{name: "corp", idp: idp, source: viaJWKSURI}}, up.URL, "2s")
	var base string
	g := startGateway(t, func(listen, admin string) string {
		base = render(listen, admin)
		return base
	})
	if res := do(t, http.MethodGet, g.URL("/v2/x"), nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("before reload: %d", res.StatusCode)
	}

	// An editor's atomic save (write + rename) is picked up.
	replaceFile(t, g.Config, base+publicRoute("v2", "/v2", up.URL))
	waitStatus(t, g.Process, g.URL("/v2/x"), http.StatusOK, 10*time.Second)
	waitCounter(t, g, "portcullis_config_reloads_total", labels("result", "success"), 1)

	// A file with a mistake changes nothing, and says where the mistake is.
	broken := base + publicRoute("v2", "/v2", up.URL) + "    bogus_key: 1\n"
	if err := os.WriteFile(g.Config, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, g, "portcullis_config_reloads_total", labels("result", "error"), 1)
	line := strings.Count(broken, "\n")
	if want := fmt.Sprintf("%s:%d", g.Config, line); !strings.Contains(g.Stderr(), want) {
		t.Errorf("the refused reload's log does not name %s:\n%s", want, gatewaytest.Tail(g.Stderr(), 10))
	}
	if res := do(t, http.MethodGet, g.URL("/v2/x"), nil); res.StatusCode != http.StatusOK {
		t.Errorf("after a refused reload the running routes changed: %d", res.StatusCode)
	}

	// SIGHUP reloads whatever the file holds now, fixed.
	if err := os.WriteFile(g.Config, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	g.Signal(t, syscall.SIGHUP)
	waitStatus(t, g.Process, g.URL("/v2/x"), http.StatusNotFound, 10*time.Second)
	if g.Exited() {
		t.Fatal("SIGHUP ended the process")
	}
}

// TestWatchSeesAChangeMadeWhileStarting: a file changed after it was read
// at start, but before the directory was watched, raises no event. The
// watch's first look compares it with what was loaded and reloads it.
func TestWatchSeesAChangeMadeWhileStarting(t *testing.T) {
	up, path, base, loaded, cfg := v1File(t)
	g := gatewaytest.Start(t, cfg)
	// The change lands before the watch starts.
	if err := os.WriteFile(path, []byte(base+publicRoute("v2", "/v2", up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchConfig(ctx, g.Gateway, path, loaded, config.TLS{}, nil, make(chan os.Signal), zap.NewNop())
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitV2(t, g.Handler())
}

// TestReloadOnConfigMapSymlinkSwap: Kubernetes mounts a ConfigMap as
// config.yaml -> ..data/config.yaml with ..data -> ..<timestamp>, and
// updates it by pointing ..data at a new directory.
func TestReloadOnConfigMapSymlinkSwap(t *testing.T) {
	t.Parallel()
	idp, _ := newIssuer(t, "k1")
	up := gatewaytest.NewUpstream(t)
	render := gatewayConfig([]testIssuer{{name: "corp", idp: idp, source: viaJWKSURI}}, up.URL, "2s")
	listen, admin := gatewaytest.FreeAddr(t), gatewaytest.FreeAddr(t)
	base := render(listen, admin)

	dir := t.TempDir()
	version := func(name, content string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "config.yaml"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	version("..v1", base)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("..v1", filepath.Join(dir, "..data")))
	must(os.Symlink("..data/config.yaml", filepath.Join(dir, "config.yaml")))

	p := startProcess(t, nil, "serve", "-config", filepath.Join(dir, "config.yaml"))
	g := &gatewaytest.GatewayProcess{Process: p, Listen: listen, Admin: admin, Config: filepath.Join(dir, "config.yaml")}
	waitStatus(t, p, g.AdminURL("/readyz"), http.StatusOK, 10*time.Second)

	version("..v2", base+publicRoute("v2", "/v2", up.URL))
	must(os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	must(os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	waitStatus(t, p, g.URL("/v2/x"), http.StatusOK, 10*time.Second)
}

// TestDrainDelay: after SIGTERM, with drain_delay set, /readyz answers 503
// while new requests are still served, so load balancers can stop sending
// before the listener closes.
func TestDrainDelay(t *testing.T) {
	t.Parallel()
	idp, _ := newIssuer(t, "k1")
	up := gatewaytest.NewUpstream(t)
	render := gatewayConfig([]testIssuer{{name: "corp", idp: idp, source: viaJWKSURI}}, up.URL, "2s")
	g := startGateway(t, func(listen, admin string) string {
		return strings.Replace(render(listen, admin), "  shutdown_grace: 2s\n", "  shutdown_grace: 2s\n  drain_delay: 1500ms\n", 1) +
			publicRoute("v2", "/v2", up.URL)
	})
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 10*time.Second)
	g.Signal(t, syscall.SIGTERM)
	waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusServiceUnavailable, time.Second)
	if res := do(t, http.MethodGet, g.URL("/v2/x"), nil); res.StatusCode != http.StatusOK {
		t.Errorf("a new request during the drain delay: %d, want 200", res.StatusCode)
	}
	if code := g.Wait(t, 6*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestWatchWaitsForTheGatewayToStart: serveCommand starts the watch before
// Serve, and Serve starts the gateway (its key sets) only once it has
// opened the listeners and loaded the certificate; a reload before then is
// refused ("reload before start"). A change the watch's first look sees in
// that window (or a SIGHUP that came early) must still be loaded, not
// dropped as a failed reload whose file is never looked at again.
func TestWatchWaitsForTheGatewayToStart(t *testing.T) {
	up, path, base, loaded, cfg := v1File(t)
	// As serveCommand has it when the watch starts: built, not started.
	g, err := gateway.New(cfg, zap.NewNop(), metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(base+publicRoute("v2", "/v2", up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchConfig(ctx, g, path, loaded, config.TLS{}, nil, make(chan os.Signal), zap.NewNop())
	}()
	t.Cleanup(func() { cancel(); <-done })
	// Serve binding its listeners and reading the certificate: the first
	// look happens meanwhile.
	time.Sleep(300 * time.Millisecond)
	g.Start(ctx)
	waitV2(t, g.Handler())
}

// v1File writes a configuration of one public route, v1 on /v1, in front
// of a new upstream, and returns its path, its text, the hash the watch
// compares with and the configuration loaded from it, as serveCommand
// holds them when the watch starts.
func v1File(t *testing.T) (up *gatewaytest.Upstream, path, base string, loaded []byte, cfg *config.Config) {
	t.Helper()
	up = gatewaytest.NewUpstream(t)
	path = filepath.Join(t.TempDir(), "portcullis.yaml")
	base = "routes:\n" + publicRoute("v1", "/v1", up.URL)
	if err := os.WriteFile(path, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded = fileHash(path)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return up, path, base, loaded, cfg
}

// waitV2 waits up to 5s for h to serve GET /v2/x with 200: the route the
// changed file adds to v1File's.
func waitV2(t *testing.T, h http.Handler) {
	t.Helper()
	status := func() int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://gw/v2/x", nil))
		return w.Code
	}
	for deadline := time.Now().Add(5 * time.Second); status() != http.StatusOK; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("GET /v2/x: %d after 5s, want 200 from the route the changed file adds", status())
		}
	}
}
