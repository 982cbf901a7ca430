package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// requiredEnv makes a missing Chromium a failure rather than a skip.
const requiredEnv = "PORTCULLIS_CHROMIUM_REQUIRED"

// browserTimeout bounds one run of Chromium, start to DOM dump.
const browserTimeout = 60 * time.Second

// needChromium returns the path of a Chromium binary. Without one it
// skips the test, or fails it when PORTCULLIS_CHROMIUM_REQUIRED=1.
func needChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PORTCULLIS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium not found in PATH: install it with `apt-get install chromium` (Debian), " +
		"or set PORTCULLIS_CHROMIUM to a Chromium or Chrome binary"
	if os.Getenv(requiredEnv) == "1" {
		t.Fatal(msg + "; " + requiredEnv + "=1 makes this a failure")
	}
	t.Skip(msg)
	return ""
}

// page is the script the browser runs: four cross-origin calls, each with
// an Authorization header (so each is preflighted), and what the page
// could read of each written into #out as JSON.
const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>portcullis cors</title></head>
<body><pre id="out">pending</pre>
<script>
const gw = %q;
async function call(path, token) {
  try {
    const r = await fetch(gw + path, {headers: {"Authorization": "Bearer " + token}});
    return {status: r.status, body: await r.text(),
            www: r.headers.get("WWW-Authenticate"), rid: r.headers.get("X-Request-Id")};
  } catch (e) {
    return {error: String(e)};
  }
}
(async () => {
  const out = {};
  out.ok = await call("/orders/1", %q);
  out.unauthorized = await call("/orders/1", "not-a-token.x.y");
  out.forbidden = await call("/orders/1", %q);
  out.blocked = await call("/elsewhere/1", %q);
  document.getElementById("out").textContent = "RESULT " + JSON.stringify(out);
})();
</script></body></html>`

type answer struct {
	Status int     `json:"status"`
	Body   string  `json:"body"`
	WWW    *string `json:"www"`
	RID    *string `json:"rid"`
	Error  string  `json:"error"`
}

func TestBrowserReadsAnswersAcrossOrigins(t *testing.T) {
	chromium := needChromium(t)

	// The page's origin: one loopback port.
	var body atomic.Pointer[string] // written once the gateway's address is known
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if b := body.Load(); b != nil {
			_, _ = w.Write([]byte(*b))
		}
	}))
	t.Cleanup(app.Close)

	// The gateway's: another.
	key := tokentest.RSA("rsa-1", 2048)
	iss := tokentest.NewIssuer(key)
	t.Cleanup(iss.Close)
	up := gatewaytest.NewUpstream(t)
	gw := gatewaytest.Options{Server: true}.StartYAML(t, fmt.Sprintf(`
issuers:
  - {name: corp, issuer: %q, jwks_uri: %q, audiences: [orders-api], algorithms: [RS256]}
routes:
  - name: orders
    match: {path_prefix: /orders, methods: [GET]}
    upstream: %q
    auth: {scopes: {all_of: ["orders:read"]}}
    cors: {allowed_origins: [%q]}
  - name: elsewhere
    match: {path_prefix: /elsewhere}
    upstream: %q
    cors: {allowed_origins: ["https://someone-else.example"]}
`, iss.URL(), iss.JWKSURL(), up.URL, app.URL, up.URL))

	good := key.Sign(tokentest.Standard(iss.URL(), "orders-api", "alice", "orders:read", 5*time.Minute))
	weak := key.Sign(tokentest.Standard(iss.URL(), "orders-api", "alice", "profile", 5*time.Minute))
	doc := fmt.Sprintf(page, gw.Server.URL, good, weak, good)
	body.Store(&doc)

	dom := runChromium(t, chromium, app.URL+"/")
	m := regexp.MustCompile(`RESULT (\{.*\})`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the page wrote no result; dumped DOM:\n%s", dom)
	}
	var got map[string]answer
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &got); err != nil {
		t.Fatalf("%v: %s", err, m[1])
	}
	t.Logf("the page read statuses ok=%d unauthorized=%d forbidden=%d, blocked: %q", got["ok"].Status, got["unauthorized"].Status, got["forbidden"].Status, got["blocked"].Error)

	if a := got["ok"]; a.Status != 200 || !strings.Contains(a.Body, `"path":"/orders/1"`) || a.RID == nil {
		t.Errorf("a 200: the page read %+v, want the upstream's body and an exposed X-Request-Id", a)
	}
	if a := got["unauthorized"]; a.Status != 401 || a.WWW == nil || !strings.Contains(*a.WWW, `error="invalid_token"`) {
		t.Errorf("a 401: the page read %+v, want its WWW-Authenticate (exposed)", a)
	}
	if a := got["forbidden"]; a.Status != 403 || !strings.Contains(a.Body, "insufficient_scope") {
		t.Errorf("a 403: the page read %+v", a)
	}
	if a := got["blocked"]; a.Error == "" || a.Status != 0 {
		t.Errorf("a route that does not allow the page's origin: the page read %+v, want a network error", a)
	}
	for _, r := range up.Requests() {
		if r.Method == http.MethodOptions {
			t.Errorf("a preflight reached the upstream: %s %s", r.Method, r.URL.Path)
		}
		if r.URL.Path == "/elsewhere/1" {
			t.Error("the call from an origin that its route does not allow was sent: its preflight should have failed")
		}
	}
	if n := up.Count(); n != 1 {
		t.Errorf("the upstream got %d requests, want the one allowed GET", n)
	}
}

// runChromium loads url in headless Chromium and returns the DOM once the
// page's work is done: virtual time does not advance while fetches are
// pending, so the budget passes only after they have all settled.
func runChromium(t *testing.T, chromium, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=20000",
		"--dump-dom", url)
	// Its own process group, so that its helpers (zygote, renderer, GPU)
	// end with it, and only they: the group is ended by its id.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // any helper left behind
	}
	if err != nil {
		t.Fatalf("chromium: %v (deadline %v)\nstderr:\n%s\nstdout:\n%s", err, browserTimeout, tail(stderr.String()), stdout.String())
	}
	return stdout.String()
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}
