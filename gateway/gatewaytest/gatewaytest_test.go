package gatewaytest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

func TestUpstreamRecordsAndEchoes(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	if last := up.Last(); up.Count() != 0 || last.URL.Path != "" || len(last.Header) != 0 {
		t.Fatalf("a new upstream has a last request: %d %+v", up.Count(), last)
	}
	req, _ := http.NewRequest(http.MethodPost, up.URL+"/orders/7?x=1", strings.NewReader("hello"))
	req.Header.Set("X-User-Id", "alice")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var echo gatewaytest.Echo
	if err := json.NewDecoder(res.Body).Decode(&echo); err != nil {
		t.Fatal(err)
	}
	if res.Header.Get(gatewaytest.EchoHeader) != "1" || echo.Method != "POST" || echo.Path != "/orders/7" ||
		echo.Query != "x=1" || echo.Header.Get("X-User-Id") != "alice" {
		t.Errorf("echo: %s %+v", res.Header, echo)
	}
	got := up.Last()
	if up.Count() != 1 || got.Method != "POST" || got.URL.Path != "/orders/7" || got.URL.RawQuery != "x=1" ||
		got.Header.Get("X-User-Id") != "alice" || got.BodyLen != 5 {
		t.Errorf("recorded: %d %+v", up.Count(), got)
	}
}

func TestUpstreamSetHandlerAnswersAndStillRecords(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	up.SetHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, want := range []int{http.StatusTeapot, http.StatusOK} {
		res, err := http.Get(up.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("status %d, want %d", res.StatusCode, want)
		}
		up.SetHandler(nil)
	}
	if n := len(up.Requests()); n != 2 {
		t.Errorf("%d requests recorded, want 2", n)
	}
}

func TestUpstreamHoldHoldsUntilRelease(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	held := up.Hold(t)
	done := make(chan int, 2)
	for range 2 {
		go func() {
			res, err := http.Get(up.URL + "/x")
			if err != nil {
				done <- 0
				return
			}
			res.Body.Close()
			done <- res.StatusCode
		}()
	}
	held.Wait(t, 2)
	select {
	case code := <-done:
		t.Fatalf("a held request was answered (%d) before Release", code)
	case <-time.After(50 * time.Millisecond):
	}
	held.Release()
	held.Release() // idempotent
	for range 2 {
		select {
		case code := <-done:
			if code != http.StatusOK {
				t.Errorf("a released request got %d", code)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a released request was not answered")
		}
	}
	res, err := http.Get(up.URL + "/y")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get(gatewaytest.EchoHeader) != "1" || up.Count() != 3 {
		t.Errorf("after Release: echo %q, %d requests recorded, want the echo and 3", res.Header.Get(gatewaytest.EchoHeader), up.Count())
	}
}

func TestStartServesAVerifiedRequest(t *testing.T) {
	key := tokentest.EC("k1", "ES256")
	idp := tokentest.NewIssuer(key)
	t.Cleanup(idp.Close)
	up := gatewaytest.NewUpstream(t)
	g := gatewaytest.Options{Server: true}.StartYAML(t, fmt.Sprintf(`
issuers:
  - {name: corp, issuer: %q, jwks_uri: %q, audiences: [api], algorithms: [ES256]}
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: %q
    forward: {claims_to_headers: {X-User-Id: sub}}
`, idp.URL(), idp.JWKSURL(), up.URL))
	if len(g.NotReady()) != 0 {
		t.Fatalf("Start returned before the keys loaded: %v", g.NotReady())
	}
	req, _ := http.NewRequest(http.MethodGet, g.Server.URL+"/orders/1", nil)
	req.Header.Set("Authorization", tokentest.Bearer(key.Sign(tokentest.Standard(idp.URL(), "api", "alice", "", time.Hour))))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || up.Last().Header.Get("X-User-Id") != "alice" {
		t.Fatalf("status %d %s; upstream saw X-User-Id %q", res.StatusCode, body, up.Last().Header.Get("X-User-Id"))
	}
	if g.Logs.FilterMessage("jwks loaded").Len() != 1 {
		t.Errorf("the key load was not logged: %v", g.Logs.All())
	}
}

func TestStartNoWaitReturnsAGatewayThatIsNotReady(t *testing.T) {
	cfg := gatewaytest.ParseConfig(t, "unreachable.yaml", `
issuers:
  - {name: corp, issuer: "http://127.0.0.1:1", jwks_uri: "http://127.0.0.1:1/jwks", audiences: [api], algorithms: [RS256]}
routes:
  - {name: all, match: {path_prefix: /}, upstream: "http://127.0.0.1:1"}
`)
	g := gatewaytest.Options{NoWait: true}.Start(t, cfg)
	if got := g.NotReady(); len(got) != 1 || got[0] != "corp" {
		t.Errorf("NotReady = %v, want [corp]", got)
	}
}

// TestHelperProcess is the program the process tests run: this test
// binary, re-executed with GATEWAYTEST_HELPER set.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv("GATEWAYTEST_HELPER") {
	case "":
		return
	case "exit3":
		fmt.Println("to stdout")
		fmt.Fprintln(os.Stderr, "to stderr")
		os.Exit(3)
	case "wait-for-signal":
		fmt.Println("waiting")
		time.Sleep(time.Minute) // SIGTERM's default action ends it
	}
}

func helper(t *testing.T, mode string) *gatewaytest.Process {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "GATEWAYTEST_HELPER="+mode)
	return gatewaytest.StartProcess(t, "helper", cmd)
}

func TestProcessCapturesOutputAndExitCode(t *testing.T) {
	p := helper(t, "exit3")
	if code := p.Wait(t, 10*time.Second); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	if p.Stdout() != "to stdout\n" || p.Stderr() != "to stderr\n" || p.Output() != "to stdout\nto stderr\n" {
		t.Errorf("stdout %q, stderr %q", p.Stdout(), p.Stderr())
	}
}

func TestProcessSignal(t *testing.T) {
	p := helper(t, "wait-for-signal")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Stdout(), "waiting") {
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("the helper never started waiting: %q", p.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.ExitCode() != -1 {
		t.Errorf("ExitCode of a running process = %d, want -1", p.ExitCode())
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 10*time.Second); code != -1 {
		t.Errorf("exit code %d, want -1: ended by the signal", code)
	}
}

func TestTail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a\nb\n", "a\nb"},
		{"a\nb\nc\nd\n", "[... 2 earlier lines]\nc\nd"},
	} {
		if got := gatewaytest.Tail(tc.in, 2); got != tc.want {
			t.Errorf("Tail(%q, 2) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
