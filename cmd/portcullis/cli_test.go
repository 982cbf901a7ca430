package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// goodConfig is a small valid file; it names no reachable issuer, which
// validate does not need.
const goodConfig = `
issuers:
  - name: corp
    issuer: "https://idp.example.com/"
    audiences: ["orders-api"]
    algorithms: ["RS256"]
routes:
  - name: orders
    match:
      path_prefix: /orders
    upstream: "http://127.0.0.1:9001"
    auth:
      mode: required
`

func TestUsageAndExitCodes(t *testing.T) {
	t.Parallel()
	good := gatewaytest.WriteFile(t, "good.yaml", goodConfig)
	bad := gatewaytest.WriteFile(t, "bad.yaml", "routes: [\n")
	emptySet := gatewaytest.WriteFile(t, "empty.json", `{"keys":[]}`)
	secretOnly := gatewaytest.WriteFile(t, "secret.json", `{"keys":[{"kty":"oct","kid":"s1","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]}`)

	tests := []struct {
		name       string
		env        []string
		args       []string
		wantCode   int
		wantStdout []string // substrings
		wantStderr []string // substrings
	}{
		{
			name:       "version exits 0 and prints the Go version",
			args:       []string{"version"},
			wantCode:   0,
			wantStdout: []string{"portcullis ", "commit ", goVersion + " "},
		},
		{
			name:       "an unknown command exits 2 with the usage",
			args:       []string{"frobnicate"},
			wantCode:   2,
			wantStderr: []string{`unknown command "frobnicate"`, "Usage:"},
		},
		{
			name:       "serve without -config exits 2",
			args:       []string{"serve"},
			wantCode:   2,
			wantStderr: []string{"-config FILE is required"},
		},
		{
			name:       "validate without -config exits 2",
			args:       []string{"validate"},
			wantCode:   2,
			wantStderr: []string{"-config FILE is required"},
		},
		{
			name:     "an unknown flag exits 2",
			args:     []string{"validate", "-config", good, "-frobnicate"},
			wantCode: 2,
		},
		{
			name:       "PORTCULLIS_CONFIG is used when -config is absent",
			env:        []string{"PORTCULLIS_CONFIG=" + good},
			args:       []string{"validate"},
			wantCode:   0,
			wantStdout: []string{good + ": ok (1 issuers, 1 routes)"},
		},
		{
			name:       "-config wins over PORTCULLIS_CONFIG",
			env:        []string{"PORTCULLIS_CONFIG=" + bad},
			args:       []string{"validate", "-config", good},
			wantCode:   0,
			wantStdout: []string{good + ": ok"},
		},
		{
			name:       "a bad file named by PORTCULLIS_CONFIG exits 1",
			env:        []string{"PORTCULLIS_CONFIG=" + bad},
			args:       []string{"validate"},
			wantCode:   1,
			wantStderr: []string{bad + ":"},
		},
		{
			name:       "a file that does not exist exits 1",
			args:       []string{"validate", "-config", filepath.Join(t.TempDir(), "missing.yaml")},
			wantCode:   1,
			wantStderr: []string{"missing.yaml: cannot read the file"},
		},
		{
			name:       "-h prints the command list and exits 0",
			args:       []string{"-h"},
			wantCode:   0,
			wantStdout: []string{"Usage:", "portcullis explain", "portcullis demo"},
		},
		{
			name:       "--help prints the command list and exits 0",
			args:       []string{"--help"},
			wantCode:   0,
			wantStdout: []string{"Usage:", "portcullis validate"},
		},
		{
			name:       "help prints the command list and exits 0",
			args:       []string{"help"},
			wantCode:   0,
			wantStdout: []string{"Usage:", "portcullis serve"},
		},
		{
			name:       "a command's -h prints its flags and exits 0",
			args:       []string{"serve", "-h"},
			wantCode:   0,
			wantStderr: []string{"-config"},
		},
		{
			name:       "a stray argument to validate exits 2",
			args:       []string{"validate", "-config", good, "other.yaml"},
			wantCode:   2,
			wantStderr: []string{`unexpected argument "other.yaml"`},
		},
		{
			name:       "a stray argument to serve exits 2",
			args:       []string{"serve", "-config", good, "now"},
			wantCode:   2,
			wantStderr: []string{`unexpected argument "now"`},
		},
		{
			name:       "a stray argument to version exits 2",
			args:       []string{"version", "x"},
			wantCode:   2,
			wantStderr: []string{`unexpected argument "x"`},
		},
		{
			name:       "explain with a missing token file could not check: exit 3, not a refusal",
			args:       []string{"explain", "-config", good, "-no-verify", "-token", "@" + filepath.Join(t.TempDir(), "none.jwt"), "GET", "http://x/orders"},
			wantCode:   3,
			wantStderr: []string{"could not check", "none.jwt"},
		},
		{
			name:       "explain with a missing -jwks file says so at once: exit 3",
			args:       []string{"explain", "-config", good, "-jwks", filepath.Join(t.TempDir(), "keys.json"), "GET", "http://x/orders"},
			wantCode:   3,
			wantStderr: []string{"-jwks", "keys.json"},
		},
		{
			name:       "explain with a -jwks file that is no JWK set: exit 3",
			args:       []string{"explain", "-config", good, "-jwks", bad, "GET", "http://x/orders"},
			wantCode:   3,
			wantStderr: []string{"not a JWK set"},
		},
		{
			name:       "explain with a -jwks set without keys says so at once: exit 3",
			args:       []string{"explain", "-config", good, "-jwks", emptySet, "GET", "http://x/orders"},
			wantCode:   3,
			wantStderr: []string{"-jwks", "empty.json", "no usable signing key"},
		},
		{
			name:       "explain with a -jwks set of a shared secret only says why at once: exit 3",
			args:       []string{"explain", "-config", good, "-jwks", secretOnly, "GET", "http://x/orders"},
			wantCode:   3,
			wantStderr: []string{"secret.json", "issuer", `kid "s1"`, "symmetric key"},
		},
		{
			name:       "explain with a bad configuration could not check: exit 3",
			args:       []string{"explain", "-config", bad, "-no-verify", "GET", "http://x/orders"},
			wantCode:   3,
			wantStderr: []string{"could not check"},
		},
		{
			name:       "explain of a refused request exits 1",
			args:       []string{"explain", "-config", good, "-no-verify", "GET", "http://x/orders"},
			wantCode:   1,
			wantStdout: []string{"REFUSED: 401"},
		},
		{
			name:       "-config alone means serve",
			args:       []string{"-config", bad},
			wantCode:   1,
			wantStderr: []string{bad + ":"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCommand(t, tc.env, tc.args...)
			if code != tc.wantCode {
				t.Errorf("portcullis %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s",
					strings.Join(tc.args, " "), code, tc.wantCode, stdout, stderr)
			}
			for _, s := range tc.wantStdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.wantStderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

func TestValidateAcceptsTheExampleConfiguration(t *testing.T) {
	t.Parallel()
	example, err := filepath.Abs("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCommand(t, nil, "validate", "-config", example)
	if code != 0 {
		t.Fatalf("config.example.yaml no longer validates (exit %d): keep the example valid\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, example+": ok") {
		t.Errorf("stdout = %q, want it to say %q", stdout, example+": ok")
	}
}

// badConfig has one mistake of each kind on a line of its own; listen is
// filled with a free port, which serve must never open.
const badConfig = `server:
  listen: %q
  admin_listen: %q
  colour: blue
issuers:
  - name: corp
    issuer: "https://idp.example.com/"
    audiences: ["orders-api"]
    algorithms: ["none"]
    refresh_interval: 5 minutes
  - name: partner
    issuer: "https://partner.example.net/"
    audiences: ["orders-api"]
    algorithms: ["HS256"]
routes:
  - name: orders
    match:
      path_prefix: /orders
    upstream: "http://127.0.0.1:9001"
  - name: orders
    match:
      path_prefix: /invoices
    upstream: "http://127.0.0.1:9001"
    auth:
      issuers: ["nobody"]
`

// badConfigProblems are the problems of badConfig: the text of the line each
// is on, and words its message must contain.
var badConfigProblems = []struct {
	line string
	want []string
}{
	{"  colour: blue", []string{"server.colour", "unknown key"}},
	{`    algorithms: ["none"]`, []string{"issuers[0].algorithms[0]", `"none"`}},
	{"    refresh_interval: 5 minutes", []string{"issuers[0].refresh_interval", `"5 minutes"`}},
	{`    algorithms: ["HS256"]`, []string{"issuers[1].algorithms[0]", `"HS256"`}},
	{"  - name: orders\n    match:\n      path_prefix: /invoices", []string{"routes[1].name", `"orders"`}},
	{`      issuers: ["nobody"]`, []string{"routes[1].auth.issuers[0]", `"nobody"`}},
}

// lineOf is the 1-based line on which text starts in content.
func lineOf(t *testing.T, content, text string) int {
	t.Helper()
	i := strings.Index(content, text)
	if i < 0 || strings.Count(content, text) != 1 {
		t.Fatalf("test bug: %q must occur exactly once in the file", text)
	}
	return strings.Count(content[:i], "\n") + 1
}

// checkProblemReport asserts that output names every problem of badConfig
// with "path:LINE:", in line order, and nothing else as a problem.
func checkProblemReport(t *testing.T, path, content, output string) {
	t.Helper()
	prefix := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(path) + `:(\d+): (.*)$`)
	found := prefix.FindAllStringSubmatch(output, -1)
	byLine := map[int][]string{}
	var order []int
	for _, m := range found {
		n, _ := strconv.Atoi(m[1])
		byLine[n] = append(byLine[n], m[2])
		order = append(order, n)
	}
	for _, p := range badConfigProblems {
		line := lineOf(t, content, p.line)
		msgs := byLine[line]
		ok := false
		for _, msg := range msgs {
			all := true
			for _, w := range p.want {
				all = all && strings.Contains(msg, w)
			}
			ok = ok || all
		}
		if !ok {
			t.Errorf("no problem reported as %s:%d: mentioning %q; the output was:\n%s", path, line, p.want, output)
		}
	}
	if len(found) != len(badConfigProblems) {
		t.Errorf("%d problems reported, want %d (one per mistake):\n%s", len(found), len(badConfigProblems), output)
	}
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			t.Errorf("problems are not in line order (%v):\n%s", order, output)
			break
		}
	}
}

func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command string
	}{
		{"validate reports every problem with its line and exits 1", "validate"},
		{"serve reports every problem with its line, exits 1 and never listens", "serve"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			listen, admin := gatewaytest.FreeAddr(t), gatewaytest.FreeAddr(t)
			content := fmt.Sprintf(badConfig, listen, admin)
			path := gatewaytest.WriteFile(t, "bad.yaml", content)

			p := startProcess(t, nil, tc.command, "-config", path)
			// While it runs and after it exits, nothing may listen.
			for !p.Exited() {
				if !isRefused(listen) || !isRefused(admin) {
					t.Errorf("portcullis %s opened a port with a bad configuration", tc.command)
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			code := p.Wait(t, 10*time.Second)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			checkProblemReport(t, path, content, p.Output())
			if strings.Contains(p.Stdout(), ": ok") {
				t.Errorf("stdout claims the file is ok:\n%s", p.Stdout())
			}
			if strings.Contains(p.Stderr(), `"serving"`) {
				t.Errorf("serve logged that it was serving:\n%s", p.Stderr())
			}
			for _, addr := range []string{listen, admin} {
				if !isRefused(addr) {
					t.Errorf("%s accepts connections after portcullis %s refused the file", addr, tc.command)
				}
			}
		})
	}
}
