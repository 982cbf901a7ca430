package proxy

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// The watchdog looks at an exchange often enough to cut a pause within a
// quarter of its bound, and to push the listener's deadlines away before
// the first of them falls; never so often that a tiny bound spins.
func TestWatchdogTick(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name                string
		read, write         time.Duration // the listener's
		timeout, streamIdle time.Duration // the route's
		want                time.Duration
	}{
		{"the defaults: an eighth of read_timeout", 30 * s, 60 * s, 30 * s, 60 * s, 30 * s / 8},
		{"a short stream_idle_timeout decides", 30 * s, 60 * s, 30 * s, 2 * s, 2 * s / 8},
		{"a short write_timeout decides", 30 * s, 4 * s, 3 * s, 60 * s, 4 * s / 8},
		{"without a listener, the stream bound decides", 0, 0, 30 * s, 8 * s, s},
		{"without a listener or a stream bound, the route's timeout", 0, 0, 5 * s, 0, 5 * s},
		{"a tiny bound does not spin", 0, 0, 5 * s, time.Nanosecond, minTick},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &Runtime{connTick: connTick(tt.read, tt.write)}
			got := rt.tick(&policy.Route{Timeout: tt.timeout, StreamIdle: tt.streamIdle})
			if got != tt.want {
				t.Errorf("tick = %v, want %v", got, tt.want)
			}
		})
	}
}
