package ingress

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// portcullisBin is the gateway binary built by TestMain (with -race when the
// tests run with it: see gatewaytest.BuildBinary).
var portcullisBin string

// examplesDir holds the configurations that operators copy.
const examplesDir = "../examples/forward-auth"

// requiredEnv makes a missing nginx a failure rather than a skip.
const requiredEnv = "PORTCULLIS_NGINX_REQUIRED"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin, remove, err := gatewaytest.BuildBinary("../cmd/portcullis", "portcullis")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingress:", err)
		return 1
	}
	defer remove()
	portcullisBin = bin
	return m.Run()
}

// needNginx returns the path of the nginx binary. Without one it skips
// the test, or fails it when PORTCULLIS_NGINX_REQUIRED=1.
func needNginx(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err == nil {
		return path
	}
	msg := "nginx not found in PATH (" + err.Error() + "). Install it with `apt-get install nginx` " +
		"(Debian and Ubuntu; any nginx built with http_auth_request_module will do)"
	if os.Getenv(requiredEnv) == "1" {
		t.Fatal(msg + "; " + requiredEnv + "=1 makes this a failure")
	}
	t.Skip(msg)
	return ""
}

// The addresses and names that examples/forward-auth/portcullis.yaml is
// written with, which the tests replace.
const (
	exampleListen   = `listen: "0.0.0.0:8080"`
	exampleAdmin    = `admin_listen: "0.0.0.0:9090"`
	exampleDecision = `listen: "0.0.0.0:8181"`
	exampleGRPC     = `grpc_listen: "0.0.0.0:9191"`
	exampleTrusted  = `trusted_proxies: ["10.0.0.0/8"]`
	exampleJWKS     = `jwks_uri: "https://login.example.com/.well-known/jwks.json"`
	exampleIssuer   = "https://login.example.com/"
	exampleAudience = "orders-api"
)

// portcullis is the built binary, run with examples/forward-auth/portcullis.yaml.
type portcullis struct {
	*gatewaytest.GatewayProcess
	Decision string // host:port of decision.listen
	key      *tokentest.Key
}

// startPortcullis runs the built binary with examples/forward-auth/portcullis.yaml,
// rewritten only where it listens (free loopback ports), whom it trusts
// (127.0.0.1, where the ingress under test runs) and where it fetches keys
// (a loopback issuer of test keys), and waits until its keys are loaded.
// Everything else, routes and claim headers included, is the example's,
// but for the changes (old text, new text) given.
func startPortcullis(t *testing.T, changes ...[2]string) *portcullis {
	t.Helper()
	key := tokentest.RSA("k1", 2048)
	idp := tokentest.NewIssuer(key)
	t.Cleanup(idp.Close)
	raw, err := os.ReadFile(filepath.Join(examplesDir, "portcullis.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := &portcullis{key: key}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GORACE=exitcode=66"}
	p.GatewayProcess = gatewaytest.StartGatewayProcess(t, portcullisBin, env, func(listen, admin string) string {
		p.Decision = gatewaytest.FreeAddr(t)
		text := string(raw)
		for _, r := range [][2]string{
			{exampleListen, fmt.Sprintf("listen: %q", listen)},
			{exampleAdmin, fmt.Sprintf("admin_listen: %q", admin)},
			{exampleDecision, fmt.Sprintf("listen: %q", p.Decision)},
			{exampleGRPC, fmt.Sprintf("grpc_listen: %q", gatewaytest.FreeAddr(t))},
			{exampleTrusted, `trusted_proxies: ["127.0.0.1/32"]`},
			{exampleJWKS, fmt.Sprintf("jwks_uri: %q", idp.JWKSURL())},
		} {
			text = replaceOnce(t, "examples/forward-auth/portcullis.yaml", text, r[0], r[1])
		}
		for _, r := range changes {
			text = replaceOnce(t, "examples/forward-auth/portcullis.yaml", text, r[0], r[1])
		}
		return text
	})
	gatewaytest.WaitStatus(t, p.Process, p.AdminURL("/readyz"), http.StatusOK, 10*time.Second)
	return p
}

// token signs a token of the example's issuer and audience for sub, with
// scope and the extra claims given as name, value pairs.
func (p *portcullis) token(sub, scope string, claims ...any) string {
	return p.key.Sign(tokentest.Standard(exampleIssuer, exampleAudience, sub, scope, time.Hour).With(claims...))
}

// metric returns the value of the sample written exactly as series in the
// text format (labels in name order, as the registry writes them), and
// false when there is none.
func (p *portcullis) metric(t *testing.T, series string) (float64, bool) {
	t.Helper()
	res, err := client.Get(p.AdminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " "); ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", series, value)
			}
			return v, true
		}
	}
	return 0, false
}

// replaceOnce replaces old with new in text, and fails the test unless
// old is written there exactly once: the file would then not be what the
// test exercises.
func replaceOnce(t testing.TB, file, text, old, new string) string {
	t.Helper()
	if n := strings.Count(text, old); n != 1 {
		t.Fatalf("%s: %q is written %d times, want once: the test substitutes it", file, old, n)
	}
	return strings.Replace(text, old, new, 1)
}

// claimHeaders are the names of every claim header that the example's
// routes set (forward.claims_to_headers), as written there.
func claimHeaders(t testing.TB) []string {
	t.Helper()
	cfg := loadExample(t)
	seen := map[string]bool{}
	var names []string
	for _, r := range cfg.Routes {
		for name := range r.Forward.ClaimsToHeaders {
			if !seen[http.CanonicalHeaderKey(name)] {
				seen[http.CanonicalHeaderKey(name)] = true
				names = append(names, http.CanonicalHeaderKey(name))
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("examples/forward-auth/portcullis.yaml sets no claim header")
	}
	slices.Sort(names)
	return names
}

// loadExample loads examples/forward-auth/portcullis.yaml as the binary does.
func loadExample(t testing.TB) *config.Config {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(examplesDir, "portcullis.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return gatewaytest.ParseConfig(t, "examples/forward-auth/portcullis.yaml", string(raw))
}

// client is bounded, takes no proxy from the environment and does not
// follow redirects: what a test sees is what was answered.
var client = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
