package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// TestURLPasswordsStayOutOfValidateAndReloadLogs: a Redis URL that carries
// a password is refused, and the refusal must not copy the password into
// validate's output or into the log of a refused reload (which is shipped
// wherever the gateway's stderr goes). A generated password with a '#' in
// it keeps the URL from parsing; url.Parse's own error then quotes the
// start of it ("invalid port").
func TestURLPasswordsStayOutOfValidateAndReloadLogs(t *testing.T) {
	t.Parallel()
	const secret = "Hunter2pw"
	store := "rate_limit_store:\n  url: \"redis://default:" + secret + "#x@redis.internal:6379\"\n"

	up := gatewaytest.NewUpstream(t)
	path := filepath.Join(t.TempDir(), "portcullis.yaml")
	if err := os.WriteFile(path, []byte(store+"routes:\n"+publicRoute("v1", "/v1", up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCommand(t, nil, "validate", "-config", path)
	if code != exitFailed {
		t.Errorf("validate: exit %d, want %d:\n%s", code, exitFailed, stderr)
	}
	if !strings.Contains(stderr, "rate_limit_store.url") {
		t.Errorf("validate does not name rate_limit_store.url:\n%s", stderr)
	}
	checkNoSecret(t, "validate's output", stdout+stderr, secret[:4])

	g := startGateway(t, func(listen, admin string) string {
		return "server:\n  listen: \"" + listen + "\"\n  admin_listen: \"" + admin + "\"\nroutes:\n" + publicRoute("v1", "/v1", up.URL)
	})
	base, err := os.ReadFile(g.Config)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, g.Config, string(base)+store)
	waitCounter(t, g, "portcullis_config_reloads_total", labels("result", "error"), 1)
	if !strings.Contains(g.Stderr(), "rate_limit_store.url") {
		t.Errorf("the refused reload's log does not name rate_limit_store.url:\n%s", gatewaytest.Tail(g.Stderr(), 10))
	}
	checkNoSecret(t, "the refused reload's log", g.Output(), secret[:4])
}
