package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// timeoutError is an error that says it is a timeout, as net.Error and
// ratelimit.StoreResultError do.
type timeoutError struct{ timeout bool }

func (e timeoutError) Error() string { return "t" }
func (e timeoutError) Timeout() bool { return e.timeout }

func TestStoreResult(t *testing.T) {
	_, dialErr := net.DialTimeout("tcp", "127.0.0.1:1", time.Second) // refused: not a timeout
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, StoreResultOK},
		{errors.New("WRONGPASS"), StoreResultError},
		{context.DeadlineExceeded, StoreResultTimeout},
		{fmt.Errorf("ratelimit: %w", context.DeadlineExceeded), StoreResultTimeout},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, StoreResultTimeout},
		{fmt.Errorf("wrapped: %w", timeoutError{timeout: true}), StoreResultTimeout},
		{timeoutError{timeout: false}, StoreResultError},
		{dialErr, StoreResultError},
	} {
		if got := StoreResult(tc.err); got != tc.want {
			t.Errorf("StoreResult(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestRateLimitStoreMetrics(t *testing.T) {
	m := New()
	m.RateLimitStoreCall(time.Millisecond, nil)
	m.RateLimitStoreCall(100*time.Millisecond, context.DeadlineExceeded)
	m.RateLimitFallback("local")
	m.RateLimitFallback("not-a-mode") // never a label
	want := `
# HELP portcullis_rate_limit_fallback_total Rate-limit decisions answered by the fallback (on_error: allow, deny, local) because the shared store failed or was backing off.
# TYPE portcullis_rate_limit_fallback_total counter
portcullis_rate_limit_fallback_total{mode="allow"} 0
portcullis_rate_limit_fallback_total{mode="deny"} 0
portcullis_rate_limit_fallback_total{mode="local"} 1
# HELP portcullis_rate_limit_store_requests_total Calls to the shared rate-limit store, by result (ok, error, timeout).
# TYPE portcullis_rate_limit_store_requests_total counter
portcullis_rate_limit_store_requests_total{result="error"} 0
portcullis_rate_limit_store_requests_total{result="ok"} 1
portcullis_rate_limit_store_requests_total{result="timeout"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"portcullis_rate_limit_fallback_total", "portcullis_rate_limit_store_requests_total"); err != nil {
		t.Fatal(err)
	}
	var h dto.Metric
	if err := m.RateLimitStore.StoreDuration.(prometheus.Metric).Write(&h); err != nil {
		t.Fatal(err)
	}
	if n, sum := h.GetHistogram().GetSampleCount(), h.GetHistogram().GetSampleSum(); n != 2 || sum < 0.1 || sum > 0.102 {
		t.Fatalf("duration histogram: %d observations summing to %vs, want the 2 calls' 0.101s", n, sum)
	}
	var nilMetrics *Metrics
	nilMetrics.RateLimitStoreCall(time.Millisecond, nil) // records nothing, does not panic
	nilMetrics.RateLimitFallback("deny")
}
