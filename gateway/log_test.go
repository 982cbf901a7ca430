package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// lines are the whole lines written to b so far.
func lines(b *gatewaytest.SyncBuffer) []string {
	return strings.Split(strings.TrimSpace(b.String()), "\n")
}

// testLogger is NewLogger with flush_interval flush, writing into a buffer;
// it returns the buffer, the logger's stop, and what logs an access line
// and a warning.
func testLogger(t *testing.T, flush time.Duration) (*gatewaytest.SyncBuffer, func(), func(msg string), func(msg string)) {
	t.Helper()
	return testLoggerOf(t, config.Log{Level: "info", Format: "json", AccessLog: true, FlushInterval: config.Duration(flush)})
}

func testLoggerOf(t *testing.T, c config.Log) (*gatewaytest.SyncBuffer, func(), func(msg string), func(msg string)) {
	t.Helper()
	out := &gatewaytest.SyncBuffer{}
	log, stop, err := gateway.NewLogger(c, out)
	if err != nil {
		t.Fatal(err)
	}
	access := log.Named(gateway.AccessLogger)
	return out, stop, func(msg string) { access.Info(msg) }, func(msg string) { log.Warn(msg) }
}

// TestAccessLineAllocatesNothing: once batched, an access line costs the
// request path no allocation of the logger's own (the core reaches zap by
// pointer, not as a value copied to the heap on every line).
func TestAccessLineAllocatesNothing(t *testing.T) {
	if gatewaytest.RaceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	// The longest interval, so that no flush writes into the buffer (and
	// grows it) while the allocations are counted.
	_, stop, access, _ := testLogger(t, 10*time.Second)
	defer stop()
	access("warm-up")
	if n := testing.AllocsPerRun(1000, func() { access("request") }); n != 0 {
		t.Errorf("an access line allocates %v times, want 0", n)
	}
}

// TestLogBatchesAccessLines: the access log's lines wait for a batch, any
// other line goes out at once and takes the batch before it with it, in
// order, and stop writes out what is left.
func TestLogBatchesAccessLines(t *testing.T) {
	t.Run("access lines wait; a warning writes them out before itself", func(t *testing.T) {
		out, stop, access, warn := testLogger(t, 10*time.Second)
		defer stop()
		access("request one")
		access("request two")
		if out.String() != "" {
			t.Fatalf("access lines were written before their batch was due: %q", lines(out))
		}
		warn("a warning")
		got := lines(out)
		want := []string{"request one", "request two", "a warning"}
		if len(got) != len(want) {
			t.Fatalf("got %d lines, want %d: %q", len(got), len(want), got)
		}
		for i, w := range want {
			if !strings.Contains(got[i], `"msg":"`+w+`"`) {
				t.Errorf("line %d = %s, want msg %q", i, got[i], w)
			}
		}
	})
	t.Run("stop writes out the last batch", func(t *testing.T) {
		out, stop, access, _ := testLogger(t, 10*time.Second)
		access("request one")
		stop()
		if got := lines(out); len(got) != 1 || !strings.Contains(got[0], `"request one"`) {
			t.Fatalf("after stop: %q, want the one access line", got)
		}
	})
	t.Run("a batch is written flush_interval after its first line", func(t *testing.T) {
		out, stop, access, _ := testLogger(t, 20*time.Millisecond)
		defer stop()
		access("request one")
		for deadline := time.Now().Add(3 * time.Second); out.String() == ""; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the access line was not written within 3s with flush_interval 20ms")
			}
		}
	})
	t.Run("flush_interval 0, or no access log, writes each line at once", func(t *testing.T) {
		for _, c := range []config.Log{
			{Level: "info", Format: "json", AccessLog: true},
			{Level: "info", Format: "console", AccessLog: false, FlushInterval: config.Duration(10 * time.Second)},
		} {
			out, stop, access, _ := testLoggerOf(t, c)
			access("request one")
			if got := lines(out); len(got) != 1 || !strings.Contains(got[0], "request one") {
				t.Errorf("%+v: %q, want the line at once", c, got)
			}
			stop()
		}
	})
}
