package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
)

// The logger is built once, at start: a reload that changes
// log.flush_interval tells the operator it needs a restart.
func TestLogFlushIntervalNeedsRestart(t *testing.T) {
	old := &config.Config{Log: config.DefaultLog}
	changed := &config.Config{Log: config.DefaultLog}
	changed.Log.FlushInterval = config.Duration(time.Second)
	if got := needsRestart(old, changed); !slices.Contains(got, "log.flush_interval") {
		t.Errorf("needsRestart = %v, want log.flush_interval", got)
	}
	if got := needsRestart(old, &config.Config{Log: config.DefaultLog}); slices.Contains(got, "log.flush_interval") {
		t.Errorf("needsRestart = %v for an unchanged log section", got)
	}
}
