package e2e

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// gateway is a running `portcullis serve` in front of up, the only
// upstream its configuration names.
type gateway struct {
	*gatewaytest.GatewayProcess
	up *gatewaytest.Upstream
}

// startGateway writes the configuration render returns for two free
// loopback ports, starts the built binary with it and waits (at most 10s)
// for /healthz. A port taken meanwhile by another process is retried.
func startGateway(t *testing.T, up *gatewaytest.Upstream, render func(listen, admin string) string) *gateway {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GORACE=exitcode=66"}
	return &gateway{gatewaytest.StartGatewayProcess(t, portcullisBin, env, render), up}
}

// waitReady waits for /readyz 200: every issuer's keys loaded.
func (g *gateway) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	gatewaytest.WaitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, within)
}

// result is what a client saw, and what the echo upstream received.
type result struct {
	status    int
	challenge string      // WWW-Authenticate
	seen      http.Header // headers at the upstream; nil when not forwarded
	body      string
}

// do sends one request through the gateway with a bearer token ("" for
// none) and extra headers given as name, value pairs. The upstream always
// answers 200, so any other status is the gateway's refusal: do fails the
// test if such a request reached the upstream all the same.
func (g *gateway) do(t *testing.T, method, path, tok string, headers ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, g.URL(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	before := g.up.Count()
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	r := result{status: res.StatusCode, challenge: res.Header.Get("WWW-Authenticate"), body: string(body)}
	if n := g.up.Count() - before; n == 1 {
		r.seen = g.up.Last().Header
	} else if n != 0 {
		t.Fatalf("%s %s reached the upstream %d times", method, path, n)
	}
	if r.status != http.StatusOK && r.seen != nil {
		t.Errorf("%s %s: status %d, but the request reached the upstream", method, path, r.status)
	}
	return r
}

// metric returns the value of the sample whose name and labels (as written
// in the text format, e.g. `portcullis_jwks_keys{issuer="hydra"}`) match,
// and false when there is none.
func (g *gateway) metric(t *testing.T, series string) (float64, bool) {
	t.Helper()
	res, err := client.Get(g.AdminURL("/metrics"))
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
