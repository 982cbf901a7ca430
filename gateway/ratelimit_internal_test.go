package gateway

import (
	"slices"
	"testing"

	"github.com/portcullis/portcullis/config"
)

// A reload cannot move the counters to another store: the operator is told
// that rate_limit_store needs a restart.
func TestRateLimitStoreNeedsRestart(t *testing.T) {
	old := &config.Config{RateLimitStore: config.DefaultRateLimitStore}
	changed := &config.Config{RateLimitStore: config.DefaultRateLimitStore}
	changed.RateLimitStore.URL = "redis://127.0.0.1:6379/0"
	if got := needsRestart(old, changed); !slices.Contains(got, "rate_limit_store") {
		t.Errorf("needsRestart = %v, want rate_limit_store", got)
	}
	same := &config.Config{RateLimitStore: config.DefaultRateLimitStore}
	if got := needsRestart(old, same); slices.Contains(got, "rate_limit_store") {
		t.Errorf("needsRestart = %v for an unchanged store", got)
	}
}
