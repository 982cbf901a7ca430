package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// TestRestartWarningsCompareWithWhatRuns: the settings that need a restart
// are those that differ from what the gateway runs with, its listeners
// opened and logger built at start, not from the file loaded last. A
// second reload that keeps a changed listen address must say again that
// it is not in effect, and one that puts it back must not claim that it
// needs a restart.
func TestRestartWarningsCompareWithWhatRuns(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	doc := func(listen string, routes int) string {
		s := fmt.Sprintf("server:\n  listen: %q\nroutes:\n", listen)
		for i := range routes {
			s += fmt.Sprintf("  - name: r%d\n    match: {path_prefix: /r%d}\n    upstream: %q\n    auth: {mode: public}\n", i, i, up.URL)
		}
		return s
	}
	g := gatewaytest.StartYAML(t, doc("127.0.0.1:18080", 1))
	warned := func() bool {
		defer g.Logs.TakeAll()
		for _, e := range g.Logs.FilterMessageSnippet("need a restart").All() {
			if fields, ok := e.ContextMap()["fields"].([]any); ok && slices.Contains(fields, any("server.listen")) {
				return true
			}
		}
		return false
	}
	for i, step := range []struct {
		listen string
		routes int
		warn   bool
	}{
		{"127.0.0.1:18081", 1, true},  // changed: warned
		{"127.0.0.1:18081", 2, true},  // still not in effect: warned again
		{"127.0.0.1:18080", 2, false}, // what runs: nothing to restart
	} {
		cfg := gatewaytest.ParseConfig(t, fmt.Sprintf("step%d.yaml", i), doc(step.listen, step.routes))
		if err := g.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if got := warned(); got != step.warn {
			t.Errorf("reload %d (listen %s, the listener on 127.0.0.1:18080): warned that server.listen needs a restart: %v, want %v", i+1, step.listen, got, step.warn)
		}
	}
}
