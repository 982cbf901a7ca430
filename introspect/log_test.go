package introspect_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis/portcullis/introspect"
)

// A wrong client secret fails every opaque token with 503; the log line is
// where the operator reads why: the issuer and the endpoint's answer, and
// never the token or the secret, even from an endpoint that echoes them.
func TestAFailedCallIsLoggedWithItsCause(t *testing.T) {
	s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"invalid_client","request":%q}`, r.PostForm.Encode())
	})
	core, logs := observer.New(zapcore.DebugLevel)
	o := options(s.endpoint())
	o.Method = introspect.ClientSecretPost // the secret is in the echoed form
	o.Log = zap.New(core)
	c := mustNew(t, o)

	if _, err := c.Introspect(context.Background(), opaque); !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d log lines, want 1: %v", len(entries), entries)
	}
	e := entries[0]
	fields := e.ContextMap()
	if e.Level != zapcore.WarnLevel {
		t.Errorf("level %v, want warn", e.Level)
	}
	if fields["issuer"] != "idp" {
		t.Errorf("issuer = %v, want idp", fields["issuer"])
	}
	msg, _ := fields["error"].(string)
	if !strings.Contains(msg, "401") || !strings.Contains(msg, "invalid_client") {
		t.Errorf("error = %q, want the 401 and its invalid_client", msg)
	}
	if fields["suppressed"] != int64(0) {
		t.Errorf("suppressed = %#v, want 0", fields["suppressed"])
	}
	assertNoSecrets(t, fmt.Sprint(e.Message, fields))
}

// Every new token fails while the endpoint does: a burst of failures is
// one line, and the next line, FailureLogInterval later, counts the rest.
// Requests that stop waiting are not failures of the endpoint.
func TestABurstOfFailuresIsOneLogLine(t *testing.T) {
	s := newIDP(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "invalid_client", http.StatusUnauthorized)
	})
	clk := newClock()
	core, logs := observer.New(zapcore.DebugLevel)
	o := options(s.endpoint())
	o.Log, o.Now = zap.New(core), clk.Now
	c := mustNew(t, o)

	fail := func(n int) {
		t.Helper()
		for i := range n {
			if _, err := c.Introspect(context.Background(), fmt.Sprintf("burst-token-%04d-0123456789", i)); !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
		}
	}
	fail(50)
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d log lines for a burst of 50 failures, want 1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Introspect(ctx, "given-up-token-0123456789"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}

	clk.Advance(introspect.FailureLogInterval - time.Second)
	fail(1)
	clk.Advance(time.Second)
	fail(1)
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d log lines, want 2", len(entries))
	}
	if got := entries[1].ContextMap()["suppressed"]; got != int64(50) {
		t.Errorf("the second line's suppressed = %#v, want 50 (the burst's 49 and the one before the interval ended)", got)
	}
}
