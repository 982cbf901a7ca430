package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// TestExplain runs `portcullis explain` against a configuration whose
// issuer is a live IdP on loopback, as a policy check in a script would.
func TestExplain(t *testing.T) {
	t.Parallel()
	idp, keys := newIssuer(t, "k1")
	cfg := gatewaytest.WriteFile(t, "portcullis.yaml",
		gatewayConfig([]testIssuer{{name: "corp", idp: idp, source: viaJWKSURI}}, "http://127.0.0.1:9", "1s")("127.0.0.1:0", "127.0.0.1:0"))
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, tokentest.JWKS(keys[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	claims := tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read", time.Hour)
	good := keys[0].Sign(claims)
	noScope := keys[0].Sign(claims.With("scope", "profile"))
	forged := tokentest.RSA("k1", 2048).Sign(claims)
	tokFile := gatewaytest.WriteFile(t, "token", good+"\n")

	cases := []struct {
		name     string
		args     []string
		code     int
		contains []string
		absent   []string
	}{
		{name: "an allowed request exits 0 and shows the upstream's headers",
			args: []string{"-token", good, "-H", "X-User-Id: mallory", "GET", "http://api.example.com/orders/7?x=1"},
			code: 0, contains: []string{"route     orders", "pass  signature        verified", "ALLOWED", "/orders/7?x=1", "X-User-Id: alice", "X-Forwarded-Host: api.example.com"},
			absent: []string{"mallory"}},
		{name: "the token can come from a file",
			args: []string{"-config", cfg, "GET", "http://api.example.com/orders", "-token", "@" + tokFile}, code: 0,
			contains: []string{"ALLOWED"}},
		{name: "a missing scope exits 1 and names it",
			args: []string{"-token", noScope, "GET", "http://api.example.com/orders/7"},
			code: 1, contains: []string{"FAIL  scopes", "missing [orders:read]", "REFUSED: 403", `error="insufficient_scope"`}},
		{name: "a forged signature fails at the signature check",
			args: []string{"-token", forged, "GET", "http://api.example.com/orders/7"},
			code: 1, contains: []string{"FAIL  signature", "bad_signature", "REFUSED: 401"}},
		{name: "-no-verify lets the forgery through and says so",
			args: []string{"-no-verify", "-token", forged, "GET", "http://api.example.com/orders/7"},
			code: 0, contains: []string{"WARNING   -no-verify", "NOT CHECKED", "ALLOWED"}},
		{name: "-jwks reads keys offline",
			args: []string{"-jwks", jwksFile, "-token", good, "GET", "http://api.example.com/orders/7"},
			code: 0, contains: []string{"pass  signature        verified", "ALLOWED"}},
		{name: "no route explains each route's mismatch",
			args: []string{"GET", "http://api.example.com/nowhere"},
			code: 1, contains: []string{"route     none", "route orders (line", "path does not match", "REFUSED: 404"}},
		{name: "CONNECT is refused before routing with 405",
			args: []string{"-token", good, "CONNECT", "http://api.example.com/orders/7"},
			code: 1, contains: []string{"FAIL  method", "CONNECT asks for a tunnel", "REFUSED: 405", "method_not_allowed"}},
		{name: "an h2c upgrade is shown removed, and the upstream's headers lack it",
			args: []string{"-token", good, "-H", "Connection: Upgrade, HTTP2-Settings", "-H", "Upgrade: h2c", "-H", "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA", "GET", "http://api.example.com/orders/7"},
			code: 0, contains: []string{"pass  upgrade", `Upgrade ["h2c"] and HTTP2-Settings removed`, "ALLOWED"},
			absent: []string{"Upgrade: h2c", "Http2-Settings:"}},
		{name: "METHOD and URL are required",
			args: []string{"GET"}, code: 2},
		{name: "-jwks and -no-verify exclude each other",
			args: []string{"-jwks", jwksFile, "-no-verify", "GET", "http://api.example.com/orders"}, code: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"explain"}, tc.args...)
			if !containsArg(tc.args, "-config") {
				args = append([]string{"explain", "-config", cfg}, tc.args...)
			}
			code, stdout, stderr := runCommand(t, nil, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			// A refusal is the answer, printed on stdout; it is not an
			// error of the command, so nothing is added on stderr.
			if tc.code != 2 && stderr != "" {
				t.Errorf("stderr is not empty:\n%s", stderr)
			}
			for _, want := range tc.contains {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
			for _, bad := range tc.absent {
				if strings.Contains(stdout, bad) {
					t.Errorf("output has %q:\n%s", bad, stdout)
				}
			}
		})
	}

	t.Run("-json is machine-readable", func(t *testing.T) {
		code, stdout, _ := runCommand(t, nil, "explain", "-config", cfg, "-json", "-token", good, "GET", "http://api.example.com/orders/7")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		var ex struct {
			Allowed bool
			Route   string
			Checks  []struct {
				Stage string
				OK    bool
			}
			Upstream struct {
				URL    string
				Header map[string][]string
			}
		}
		if err := json.Unmarshal([]byte(stdout), &ex); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, stdout)
		}
		if !ex.Allowed || ex.Route != "orders" || ex.Upstream.Header["X-User-Id"][0] != "alice" || !strings.HasSuffix(ex.Upstream.URL, "/orders/7") {
			t.Errorf("explanation = %+v", ex)
		}
		for _, c := range ex.Checks {
			if !c.OK {
				t.Errorf("check %s failed on an allowed request", c.Stage)
			}
		}
	})
}

func containsArg(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
