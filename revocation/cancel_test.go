package revocation_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/revocation"
)

// A fetch its caller cancelled (a reload stopping the list, or shutdown)
// failed at nothing: it counts no error and logs no warning, since the
// issuer's series may be another list's by then, or gone.
func TestACancelledFetchRecordsNothing(t *testing.T) {
	started := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t, revocation.Options{URI: srv.URL + "/revoked.json"})

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.list.Refresh(ctx) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the fetch never reached the server")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled fetch succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled fetch did not return")
	}
	if n := h.refreshes("error"); n != 0 {
		t.Errorf("portcullis_revocation_refresh_total{error} = %v after a cancelled fetch, want 0", n)
	}
	if n := h.logs.FilterLevelExact(zap.WarnLevel).Len(); n != 0 {
		t.Errorf("%d warnings for a cancelled fetch: %v", n, h.logs.All())
	}
}

// A caller waiting for the fetch in progress gives up with its context (a
// reload is bounded by its timeout), instead of waiting out that fetch.
func TestAWaitForTheFetchInProgressEndsWithItsContext(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc()))
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t, revocation.Options{URI: srv.URL + "/revoked.json"})

	first := make(chan error, 1)
	go func() { first <- h.list.Refresh(t.Context()) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first fetch never reached the server")
	}
	ctx, cancel := context.WithCancel(t.Context())
	second := make(chan error, 1)
	go func() { second <- h.list.Refresh(ctx) }()
	cancel()
	select {
	case err := <-second:
		if err == nil {
			t.Error("the waiting caller's fetch succeeded after its context ended")
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("a caller whose context ended still waits for the fetch in progress")
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("the first fetch: %v", err)
	}
	if n := h.refreshes("error"); n != 0 {
		t.Errorf("portcullis_revocation_refresh_total{error} = %v, want 0", n)
	}
}
