package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gateway is a running `portcullis serve`.
type gateway struct {
	*process
	listen, admin string // base URLs
}

// startGateway writes the configuration render returns for two free
// loopback ports, starts the built binary with it and waits (at most 10s)
// for /healthz. A port taken meanwhile by another process is retried.
func startGateway(t *testing.T, render func(listen, admin string) string) *gateway {
	t.Helper()
	for attempt := 1; ; attempt++ {
		listen, admin := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
		path := writeFile(t, "portcullis.yaml", render(listen, admin))
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GORACE=exitcode=66"}
		g := &gateway{
			process: start(t, "portcullis", env, portcullisBin, "serve", "-config", path),
			listen:  "http://" + listen,
			admin:   "http://" + admin,
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if res, err := client.Get(g.admin + "/healthz"); err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					return g
				}
			}
			if g.exited() {
				if strings.Contains(g.output.String(), "address already in use") && attempt < 3 {
					break
				}
				t.Fatalf("portcullis exited before serving:\n%s", tail(g.output.String(), 30))
			}
			if time.Now().After(deadline) {
				t.Fatalf("portcullis: no /healthz within 10s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitReady waits for /readyz 200: every issuer's keys loaded.
func (g *gateway) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		res, err := client.Get(g.admin + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz: %d %s after %v", res.StatusCode, body, within)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("/readyz: %v after %v", err, within)
		}
		if g.exited() {
			t.Fatal("portcullis exited while waiting for /readyz")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// result is what a client saw, and what the echo upstream received.
type result struct {
	status    int
	challenge string      // WWW-Authenticate
	seen      http.Header // headers at the upstream; nil when not forwarded
	body      string
}

// do sends one request through the gateway with a bearer token ("" for
// none) and extra headers given as name, value pairs.
func (g *gateway) do(t *testing.T, method, path, tok string, headers ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, g.listen+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	r := result{status: res.StatusCode, challenge: res.Header.Get("WWW-Authenticate"), body: string(body)}
	if res.Header.Get("X-Echo") == "1" {
		if err := json.Unmarshal(body, &r.seen); err != nil {
			t.Fatalf("echo body: %v", err)
		}
	}
	return r
}

// metric returns the value of the sample whose name and labels (as written
// in the text format, e.g. `portcullis_jwks_keys{issuer="hydra"}`) match,
// and false when there is none.
func (g *gateway) metric(t *testing.T, series string) (float64, bool) {
	t.Helper()
	res, err := client.Get(g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, value, ok := strings.Cut(line, " "); ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", series, value)
			}
			return v, true
		}
	}
	return 0, false
}

// newEcho starts an upstream that answers with the headers it received.
func newEcho(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo", "1")
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(srv.Close)
	return srv
}
