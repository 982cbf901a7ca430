package ingress

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// The addresses that examples/forward-auth/nginx.conf is written with,
// which the test replaces: nothing else of the file is changed.
const (
	nginxDecision = "server 127.0.0.1:8181;"
	nginxApp      = "server 127.0.0.1:8080;"
	nginxListen   = "listen 8000;"
)

// nginxProcess is a running nginx master process (and its workers) with
// examples/forward-auth/nginx.conf.
type nginxProcess struct {
	*gatewaytest.Process
	addr string // host:port it listens on
	up   *gatewaytest.Upstream
}

// startNginx runs nginx in the foreground with examples/forward-auth/nginx.conf,
// its three addresses replaced by decision (portcullis's decision.listen),
// up's and a free loopback port, and its prefix (pid, temporary files) in
// a temporary directory; the error log goes to stderr, the access log to
// stdout. It waits (at most 10s) until nginx answers, and ends it by its
// PID when the test ends: SIGTERM to the master, which stops its workers
// (a SIGKILL would leave them serving). A port taken meanwhile by another
// process is retried with a new one, twice.
func startNginx(t *testing.T, bin, decision string, up *gatewaytest.Upstream) *nginxProcess {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(examplesDir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		addr := gatewaytest.FreeAddr(t)
		conf := string(raw)
		for _, r := range [][2]string{
			{nginxDecision, "server " + decision + ";"},
			{nginxApp, "server " + strings.TrimPrefix(up.URL, "http://") + ";"},
			{nginxListen, "listen " + addr + ";"},
		} {
			conf = replaceOnce(t, "examples/forward-auth/nginx.conf", conf, r[0], r[1])
		}
		prefix := t.TempDir()
		path := filepath.Join(prefix, "nginx.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		global := "daemon off;"
		if os.Geteuid() == 0 {
			// A master running as root starts its workers as nobody, who
			// cannot enter the test's temporary directory (mode 0700) where
			// the temporary files are: run them as the directory's owner.
			global += " user root;"
		}
		cmd := exec.Command(bin, "-e", "stderr", "-p", prefix, "-c", path, "-g", global)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		n := &nginxProcess{Process: gatewaytest.StartProcess(t, "nginx", cmd), addr: addr, up: up}
		t.Cleanup(func() {
			if !n.Stop(t, 5*time.Second) {
				t.Errorf("nginx (pid %d) did not stop within 5s of SIGTERM", n.PID())
			}
		})
		// /_portcullis is internal: a client asking for it gets 404 from
		// nginx itself, without a decision, once nginx serves.
		if n.waitStatus(t, http.StatusNotFound, "/_portcullis", 10*time.Second) {
			return n
		}
		if !strings.Contains(n.Stderr(), "Address already in use") || attempt == 3 {
			t.Fatalf("nginx exited with code %d before serving\nstderr:\n%s", n.ExitCode(), gatewaytest.Tail(n.Stderr(), 30))
		}
	}
}

// waitStatus polls path until nginx answers want, and reports false if
// nginx exited first; it fails the test at the deadline.
func (n *nginxProcess) waitStatus(t *testing.T, want int, path string, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for !n.Exited() {
		res, err := client.Get("http://" + n.addr + path)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == want {
				return true
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx: no %d from %s within %v; last answer: %s", want, path, within, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}

// seen is what a client saw of one request through nginx, and what the
// upstream received of it.
type seen struct {
	status     int
	challenges []string    // every WWW-Authenticate the client got
	upstream   http.Header // headers at the upstream; nil when nothing was forwarded
	body       string
}

// do sends one request through nginx with a bearer token ("" for none)
// and extra headers given as name, value pairs, set under exactly the name
// given (an underscore spelling included). It fails the test if the
// request reached the upstream more than once, or reached it and was
// answered other than 200.
func (n *nginxProcess) do(t *testing.T, method, path, tok string, headers ...string) seen {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+n.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", tokentest.Bearer(tok))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1])
	}
	before := n.up.Count()
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	s := seen{status: res.StatusCode, challenges: res.Header.Values("WWW-Authenticate"), body: string(body)}
	switch d := n.up.Count() - before; {
	case d == 1:
		s.upstream = n.up.Last().Header
	case d != 0:
		t.Fatalf("%s %s reached the upstream %d times", method, path, d)
	}
	if s.status != http.StatusOK && s.upstream != nil {
		t.Errorf("%s %s: status %d, but the request reached the upstream", method, path, s.status)
	}
	return s
}

// TestNginxAuthRequest runs a real nginx with examples/forward-auth/nginx.conf
// in front of a recording upstream, with the built portcullis and
// examples/forward-auth/portcullis.yaml as its decision service, and
// checks what a client and the upstream see.
func TestNginxAuthRequest(t *testing.T) {
	bin := needNginx(t)
	pc := startPortcullis(t)
	up := gatewaytest.NewUpstream(t)
	ngx := startNginx(t, bin, pc.Decision, up)

	reader := pc.token("alice", "orders:read")

	t.Run("a token with the route's scope is forwarded with X-User-Id from sub, and the client's X-User-Id and X-Tenant are gone", func(t *testing.T) {
		s := ngx.do(t, http.MethodGet, "/orders/7?x=1", reader, "X-User-Id", "mallory", "X-Tenant", "evil-corp")
		if s.status != http.StatusOK || s.upstream == nil {
			t.Fatalf("status %d, forwarded %v: %s", s.status, s.upstream != nil, s.body)
		}
		if got := s.upstream.Values("X-User-Id"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("X-User-Id at the upstream = %q, want [alice]", got)
		}
		// The token has no tenant claim: no X-Tenant at all, not the client's.
		if got, ok := s.upstream["X-Tenant"]; ok {
			t.Errorf("X-Tenant at the upstream = %q, want none: the token has no tenant claim", got)
		}
		if last := up.Last(); last.URL.Path != "/orders/7" || last.URL.RawQuery != "x=1" || last.Method != http.MethodGet {
			t.Errorf("the upstream got %s %s?%s, want GET /orders/7?x=1", last.Method, last.URL.Path, last.URL.RawQuery)
		}
		if len(s.challenges) != 0 {
			t.Errorf("an allowed request's answer carries WWW-Authenticate %q", s.challenges)
		}
	})

	t.Run("every claim header the token sets reaches the upstream through auth_request_set", func(t *testing.T) {
		s := ngx.do(t, http.MethodGet, "/orders/7", pc.token("bob", "orders:read", "tenant", "acme"), "X-Tenant", "evil-corp")
		if s.status != http.StatusOK || s.upstream == nil {
			t.Fatalf("status %d, forwarded %v: %s", s.status, s.upstream != nil, s.body)
		}
		for name, want := range map[string]string{"X-User-Id": "bob", "X-Tenant": "acme"} {
			if got := s.upstream.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("%s at the upstream = %q, want [%s]", name, got, want)
			}
		}
	})

	t.Run("a claim header spelt with underscores (X_User_Id) never reaches the upstream", func(t *testing.T) {
		s := ngx.do(t, http.MethodGet, "/orders/7", reader, "X_User_Id", "mallory", "X_Tenant", "evil-corp")
		if s.status != http.StatusOK || s.upstream == nil {
			t.Fatalf("status %d, forwarded %v: %s", s.status, s.upstream != nil, s.body)
		}
		for name, vals := range s.upstream {
			if strings.Contains(name, "_") {
				t.Errorf("the upstream got %s: %q; nginx drops headers with '_' by default (underscores_in_headers off)", name, vals)
			}
		}
		if got := s.upstream.Values("X-User-Id"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("X-User-Id at the upstream = %q, want [alice]", got)
		}
	})

	t.Run("no token: 401 with portcullis's challenge, once, and nothing forwarded", func(t *testing.T) {
		s := ngx.do(t, http.MethodGet, "/orders/7", "", "X-User-Id", "mallory")
		if s.status != http.StatusUnauthorized {
			t.Fatalf("status %d: %s", s.status, s.body)
		}
		if len(s.challenges) != 1 || s.challenges[0] != `Bearer realm="portcullis"` {
			t.Errorf("WWW-Authenticate = %q, want exactly [Bearer realm=\"portcullis\"]", s.challenges)
		}
	})

	t.Run("a token signed by another key: 401 invalid_token, and nothing forwarded", func(t *testing.T) {
		forged := tokentest.RSA("k1", 2048).Sign(tokentest.Standard(exampleIssuer, exampleAudience, "alice", "orders:read", time.Hour))
		s := ngx.do(t, http.MethodGet, "/orders/7", forged)
		if s.status != http.StatusUnauthorized || len(s.challenges) != 1 || !strings.Contains(s.challenges[0], `error="invalid_token"`) {
			t.Fatalf("status %d, WWW-Authenticate %q, want 401 with one invalid_token challenge", s.status, s.challenges)
		}
	})

	t.Run("a token without the route's scope: 403 with the insufficient_scope challenge, once, and nothing forwarded", func(t *testing.T) {
		s := ngx.do(t, http.MethodPost, "/orders", reader)
		if s.status != http.StatusForbidden {
			t.Fatalf("status %d: %s", s.status, s.body)
		}
		if len(s.challenges) != 1 || !strings.Contains(s.challenges[0], `error="insufficient_scope"`) ||
			!strings.Contains(s.challenges[0], `scope="orders:write"`) {
			t.Errorf("WWW-Authenticate = %q, want one insufficient_scope challenge naming orders:write", s.challenges)
		}
	})

	t.Run("a public route is forwarded without a token and without the client's claim headers", func(t *testing.T) {
		s := ngx.do(t, http.MethodGet, "/docs/intro", "", "X-User-Id", "mallory", "X-Tenant", "evil-corp")
		if s.status != http.StatusOK || s.upstream == nil {
			t.Fatalf("status %d, forwarded %v: %s", s.status, s.upstream != nil, s.body)
		}
		for _, name := range claimHeaders(t) {
			if got, ok := s.upstream[name]; ok {
				t.Errorf("%s at the upstream = %q, want none", name, got)
			}
		}
	})

	t.Run("a client's own X-Original-URI does not change the request that is decided", func(t *testing.T) {
		s := ngx.do(t, http.MethodGet, "/orders/7", "",
			"X-Original-URI", "/docs/intro", "X-Original-Method", "GET", "X-Original-Host", "docs.example.com")
		if s.status != http.StatusUnauthorized {
			t.Fatalf("status %d: the client's description was believed", s.status)
		}
	})

	// nginx forwards every client header it is not told to replace, and
	// IIS, Symfony and Zend serve the path X-Original-URL or
	// X-Rewrite-URL names in place of the request line's: a public
	// route's decision must not carry such a request to a protected path.
	t.Run("a public path with the client's X-Original-URL is not forwarded", func(t *testing.T) {
		for _, name := range []string{"X-Original-URL", "X-Rewrite-URL"} {
			s := ngx.do(t, http.MethodGet, "/docs/intro", "", name, "/orders/7")
			if s.upstream != nil {
				t.Errorf("%s: forwarded with %s %q, decided as the public /docs/intro", name, name, s.upstream.Values(name))
			}
		}
	})

	t.Run("a path no route matches is not forwarded (portcullis's 404 is auth_request's 500)", func(t *testing.T) {
		if s := ngx.do(t, http.MethodGet, "/nowhere", reader); s.status != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500: nginx's answer to an auth subrequest that is neither 2xx, 401 nor 403", s.status)
		}
	})

	t.Run("the decision subrequest's location is not reachable from outside", func(t *testing.T) {
		if s := ngx.do(t, http.MethodGet, "/_portcullis", reader); s.status != http.StatusNotFound {
			t.Fatalf("status %d, want 404", s.status)
		}
	})

	t.Run("portcullis counts each decision with via=decision", func(t *testing.T) {
		for _, series := range []string{
			`portcullis_requests_total{code="200",method="GET",route="orders-read",via="decision"}`,
			`portcullis_requests_total{code="401",method="GET",route="orders-read",via="decision"}`,
			`portcullis_requests_total{code="403",method="POST",route="orders-write",via="decision"}`,
		} {
			if n, ok := pc.metric(t, series); !ok || n < 1 {
				t.Errorf("%s = %v (present %v), want at least 1", series, n, ok)
			}
		}
		if n, ok := pc.metric(t, `portcullis_requests_total{code="200",method="GET",route="orders-read",via="proxy"}`); ok {
			t.Errorf("portcullis proxied %v requests itself: every request went through nginx", n)
		}
	})

	if pc.Exited() || ngx.Exited() {
		t.Fatalf("a process exited during the test: portcullis %v, nginx %v", pc.Exited(), ngx.Exited())
	}
}

// TestNginxClientIPLimitIgnoresTheClientsForwardedFor: examples/forward-
// auth/nginx.conf in front of examples/forward-auth/portcullis.yaml, with
// one change: the public docs route gets a client_ip limit of 1 request a
// minute. One client (always 127.0.0.1) is refused after its first request
// (nginx turns the 429 into 500), whatever X-Forwarded-For it writes: the
// example replaces the header on the decision's subrequest.
func TestNginxClientIPLimitIgnoresTheClientsForwardedFor(t *testing.T) {
	bin := needNginx(t)
	p := startPortcullis(t, [2]string{"      mode: public\n", "      mode: public\n    rate_limit:\n      - {key: client_ip, rate: 1/m, burst: 1}\n"})
	up := gatewaytest.NewUpstream(t)
	ngx := startNginx(t, bin, p.Decision, up)

	if first := ngx.do(t, "GET", "/docs/a", "").status; first != http.StatusOK {
		t.Fatalf("the first request: %d, want 200", first)
	}
	var spoofed []int
	for i := 1; i <= 5; i++ {
		spoofed = append(spoofed, ngx.do(t, "GET", "/docs/a", "", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i)).status)
	}
	for _, s := range spoofed {
		if s == http.StatusOK {
			t.Fatalf("statuses %v with an X-Forwarded-For of the client's own each time: the client_ip limit counted what the client wrote", spoofed)
		}
	}
}
