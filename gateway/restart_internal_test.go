package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
)

// A reload cannot apply everything: what only a restart applies is named
// to the operator (needsRestart), and nothing else is.
func TestNeedsRestart(t *testing.T) {
	base := func() *config.Config {
		return &config.Config{Log: config.DefaultLog, RateLimitStore: config.DefaultRateLimitStore}
	}
	for _, c := range []struct {
		field  string
		change func(*config.Config)
	}{
		// The counters, and the connection, stay in the store they began in.
		{"rate_limit_store", func(c *config.Config) { c.RateLimitStore.URL = "redis://127.0.0.1:6379/0" }},
		// The logger is built once, at start.
		{"log.flush_interval", func(c *config.Config) { c.Log.FlushInterval = config.Duration(time.Second) }},
	} {
		changed := base()
		c.change(changed)
		if got := needsRestart(base(), changed); !slices.Contains(got, c.field) {
			t.Errorf("%s changed: needsRestart = %v, want it named", c.field, got)
		}
		if got := needsRestart(base(), base()); slices.Contains(got, c.field) {
			t.Errorf("%s unchanged: needsRestart = %v", c.field, got)
		}
	}
}
