package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// demoProc is a running `portcullis demo` that has printed its commands.
type demoProc struct {
	*gatewaytest.Process
	listen, admin string
	// commands maps each numbered section of the printout ("1" ... "5",
	// and "mint") to its curl command lines.
	commands map[string][]string
}

// startDemo runs the demo on free loopback ports and waits (at most 20s) for
// its printout to end. A port taken in the meantime is retried.
func startDemo(t *testing.T) *demoProc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		listen, admin := gatewaytest.FreeAddr(t), gatewaytest.FreeAddr(t)
		p := startProcess(t, nil, "demo", "-listen", listen, "-admin-listen", admin)
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(p.Stdout(), "Ctrl-C stops everything.") && !p.Exited() {
			if time.Now().After(deadline) {
				t.Fatal("portcullis demo printed no curl commands within 20s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !p.Exited() {
			return &demoProc{Process: p, listen: listen, admin: admin, commands: demoSections(p.Stdout())}
		}
		if !strings.Contains(p.Stderr(), "address already in use") || attempt == 3 {
			t.Fatalf("portcullis demo exited with code %d instead of serving", p.ExitCode())
		}
	}
}

var demoSection = regexp.MustCompile(`^# (\d+)\.|^# mint your own token`)

// demoSections groups the printed curl lines by the "# N." comment above them.
func demoSections(out string) map[string][]string {
	sections := map[string][]string{}
	current := ""
	for _, line := range strings.Split(out, "\n") {
		switch m := demoSection.FindStringSubmatch(line); {
		case m != nil && m[1] != "":
			current = m[1]
		case m != nil:
			current = "mint"
		case strings.HasPrefix(line, "curl ") && current != "":
			sections[current] = append(sections[current], line)
		case strings.TrimSpace(line) == "":
			current = ""
		}
	}
	return sections
}

var (
	curlURL    = regexp.MustCompile(`^curl -[is] '?(http://[^\s']+)'?`)
	curlHeader = regexp.MustCompile(`-H '([^':]+): ([^']*)'`)
)

// replay sends what a printed curl command sends: its URL and its headers,
// spelled exactly as printed.
func replay(t *testing.T, method, line string) *response {
	t.Helper()
	m := curlURL.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("cannot read a URL in the printed command %q", line)
	}
	headers := map[string]string{}
	for _, h := range curlHeader.FindAllStringSubmatch(line, -1) {
		headers[h[1]] = h[2]
	}
	return do(t, method, m[1], headers)
}

// echoed is the demo echo upstream's answer.
type echoed struct {
	Upstream string            `json:"upstream"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Headers  map[string]string `json:"headers"`
}

func TestDemo(t *testing.T) {
	t.Parallel()
	d := startDemo(t)

	command := func(t *testing.T, section string, i int) string {
		t.Helper()
		lines := d.commands[section]
		if i >= len(lines) {
			t.Fatalf("the demo printed %d commands under %q, want at least %d: %q", len(lines), section, i+1, lines)
		}
		if !strings.Contains(lines[i], "http://"+d.listen+"/") && section != "mint" {
			t.Errorf("printed command %q does not target the gateway at %s", lines[i], d.listen)
		}
		return lines[i]
	}
	echo := func(t *testing.T, res *response) echoed {
		t.Helper()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", res.StatusCode, res.body)
		}
		var e echoed
		decodeJSON(t, res, &e)
		if e.Upstream != "echo" {
			t.Fatalf("the answer is not the echo upstream's: %s", res.body)
		}
		return e
	}

	t.Run("1. allowed: 200 and the echo shows X-User-Id alice", func(t *testing.T) {
		e := echo(t, replay(t, "GET", command(t, "1", 0)))
		if e.Headers["X-User-Id"] != "alice" {
			t.Errorf("echoed X-User-Id = %q, want alice (headers: %v)", e.Headers["X-User-Id"], e.Headers)
		}
	})
	t.Run("2. missing scope: 403", func(t *testing.T) {
		res := replay(t, "GET", command(t, "2", 0))
		if res.StatusCode != http.StatusForbidden || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("status %d, WWW-Authenticate %q; want 403 insufficient_scope", res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("3. expired: 401 invalid_token", func(t *testing.T) {
		res := replay(t, "GET", command(t, "3", 0))
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("status %d, WWW-Authenticate %q; want 401 invalid_token", res.StatusCode, res.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("4. spoofed claim headers are replaced by the token's", func(t *testing.T) {
		line := command(t, "4", 0)
		if !strings.Contains(line, "X-User-Id: admin") || !strings.Contains(line, "X_User_Id: admin") {
			t.Fatalf("the printed command does not spoof both spellings: %q", line)
		}
		e := echo(t, replay(t, "GET", line))
		if e.Headers["X-User-Id"] != "alice" {
			t.Errorf("echoed X-User-Id = %q, want alice, not the client's admin", e.Headers["X-User-Id"])
		}
		for name, v := range e.Headers {
			if strings.EqualFold(name, "X_User_Id") {
				t.Errorf("the upstream received %s: %q; the underscore spelling must be stripped", name, v)
			}
		}
	})
	t.Run("5. no token is 401; a public route strips the spoofed header", func(t *testing.T) {
		if res := replay(t, "GET", command(t, "5", 0)); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("no token: status %d, want 401", res.StatusCode)
		}
		e := echo(t, replay(t, "GET", command(t, "5", 1)))
		if v, ok := e.Headers["X-User-Id"]; ok {
			t.Errorf("the public route forwarded the client's X-User-Id %q", v)
		}
	})
	t.Run("a token from the printed token endpoint reads and writes orders", func(t *testing.T) {
		line := command(t, "mint", 0)
		m := curlURL.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no URL in the printed command %q", line)
		}
		u, err := url.Parse(m[1])
		if err != nil || u.Hostname() != "127.0.0.1" || u.Path != "/token" {
			t.Fatalf("the printed token endpoint %q is not a loopback /token URL", m[1])
		}
		res := do(t, "GET", m[1], nil)
		var minted struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		decodeJSON(t, res, &minted)
		if res.StatusCode != http.StatusOK || minted.AccessToken == "" || minted.TokenType != "Bearer" {
			t.Fatalf("token endpoint: status %d, body %s", res.StatusCode, res.body)
		}
		e := echo(t, do(t, "GET", "http://"+d.listen+"/orders/7", bearer(minted.AccessToken)))
		if e.Headers["X-User-Id"] != "dave" || e.Headers["X-Tenant"] != "acme" {
			t.Errorf("echoed X-User-Id %q, X-Tenant %q; want dave, acme", e.Headers["X-User-Id"], e.Headers["X-Tenant"])
		}
		if e := echo(t, do(t, "POST", "http://"+d.listen+"/orders", bearer(minted.AccessToken))); e.Method != "POST" {
			t.Errorf("echoed method %q, want POST", e.Method)
		}
	})
	t.Run("the admin port answers readyz 200", func(t *testing.T) {
		if res := do(t, "GET", "http://"+d.admin+"/readyz", nil); res.StatusCode != http.StatusOK {
			t.Errorf("status %d, want 200: %s", res.StatusCode, res.body)
		}
	})

	d.Signal(t, syscall.SIGINT)
	// The demo's shutdown_grace is 2s and nothing is in flight.
	if code := d.Wait(t, 5*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGINT, want 0", code)
	}
}
