package jwks_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/token/tokentest"
)

func TestAnUnknownKIDCausesOneFetchFor50ConcurrentLookups(t *testing.T) {
	tests := []struct {
		name    string
		kid     string
		wantErr error
	}{
		{"a kid published since the last fetch is found by every lookup", "ec-b", nil},
		{"a kid nobody publishes fails every lookup", "forged", jwks.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := tokentest.NewIssuer(ecA())
			defer is.Close()
			clk := newClock()
			h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL(), MinRefreshInterval: time.Minute}, nil)
			jwks.SetClock(h.set, clk.Now)
			if err := h.set.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			clk.Advance(2 * time.Minute)
			is.SetKeys(ecA(), ecB())
			is.SetDelay(50 * time.Millisecond) // keep the fetch in flight while the lookups arrive

			var wg sync.WaitGroup
			start := make(chan struct{})
			for range 50 {
				wg.Go(func() {
					<-start
					keys, err := h.set.Lookup(context.Background(), tt.kid)
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("Lookup(%s) error = %v, want %v", tt.kid, err, tt.wantErr)
					}
					if err == nil && (len(keys) != 1 || keys[0].KeyID() != tt.kid) {
						t.Errorf("Lookup(%s) = %q", tt.kid, kidsOf(keys))
					}
				})
			}
			close(start)
			wg.Wait()
			if got := is.JWKSFetches(); got != 2 {
				t.Errorf("JWKS fetched %d times, want 2 (the first load and one refetch)", got)
			}
		})
	}
}

func TestUnknownKIDRefetchesAreRateLimited(t *testing.T) {
	is := tokentest.NewIssuer(ecA())
	defer is.Close()
	const minInterval = 30 * time.Second
	clk := newClock()
	h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL(), MinRefreshInterval: minInterval}, nil)
	jwks.SetClock(h.set, clk.Now)
	if err := h.set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name        string
		advance     time.Duration
		kid         string
		wantFetches int64
	}{
		{"an unknown kid right after a fetch does not fetch", 0, "x1", 1},
		{"an unknown kid after the interval fetches", minInterval, "x2", 2},
		{"a second unknown kid within the interval does not fetch", minInterval / 2, "x3", 2},
		{"a repeat of the same unknown kid within the interval does not fetch", time.Second, "x2", 2},
		{"an unknown kid once the interval has passed again fetches", minInterval / 2, "x4", 3},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if _, err := h.set.Lookup(context.Background(), s.kid); !errors.Is(err, jwks.ErrUnknownKey) {
			t.Fatalf("%s: Lookup error = %v, want ErrUnknownKey", s.name, err)
		}
		if got := is.JWKSFetches(); got != s.wantFetches {
			t.Fatalf("%s: %d fetches, want %d", s.name, got, s.wantFetches)
		}
	}
}

// startRefreshing starts a key set of is that refreshes every 50ms until the
// test ends.
func startRefreshing(t *testing.T, is *tokentest.Issuer) *harness {
	t.Helper()
	h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL(), RefreshInterval: 50 * time.Millisecond}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h.set.Start(ctx)
	return h
}

func TestBackgroundRefresh(t *testing.T) {
	t.Run("the set is refreshed every RefreshInterval", func(t *testing.T) {
		is := tokentest.NewIssuer(ecA())
		defer is.Close()
		h := startRefreshing(t, is)
		eventually(t, 5*time.Second, "the first load", h.set.Ready)
		is.SetKeys(ecB())
		eventually(t, 5*time.Second, "the rotated key is picked up", func() bool {
			kids := h.kids()
			return len(kids) == 1 && kids[0] == "ec-b"
		})
	})

	t.Run("a failing first load is retried until it succeeds", func(t *testing.T) {
		is := tokentest.NewIssuer(ecA())
		defer is.Close()
		is.SetStatus(http.StatusInternalServerError)
		h := startRefreshing(t, is)
		eventually(t, 5*time.Second, "two failed attempts", func() bool { return h.refreshes("error") >= 2 })
		if h.set.Ready() {
			t.Fatal("Ready() = true while every fetch fails")
		}
		is.SetStatus(0)
		eventually(t, 5*time.Second, "recovery", h.set.Ready)
	})

	t.Run("a failing periodic refresh keeps the set and recovers", func(t *testing.T) {
		is := tokentest.NewIssuer(ecA())
		defer is.Close()
		h := startRefreshing(t, is)
		eventually(t, 5*time.Second, "the first load", h.set.Ready)
		is.SetStatus(http.StatusBadGateway)
		errorsBefore := h.refreshes("error")
		eventually(t, 5*time.Second, "failed refreshes", func() bool { return h.refreshes("error") >= errorsBefore+2 })
		equalKids(t, h.kids(), "ec-a")
		is.SetKeys(ecB()) // also clears the failure
		eventually(t, 5*time.Second, "recovery with the new key", func() bool {
			kids := h.kids()
			return len(kids) == 1 && kids[0] == "ec-b"
		})
	})
}

func TestStartStopsWhenItsContextIsCanceled(t *testing.T) {
	is := tokentest.NewIssuer(ecA())
	defer is.Close()
	// No keep-alive: idle connections would hold goroutines of their own.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	h := newHarness(t, jwks.Source{JWKSURI: is.JWKSURL(), RefreshInterval: 20 * time.Millisecond}, client)
	before := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	h.set.Start(ctx)
	h.set.Start(ctx) // a second Start does nothing
	eventually(t, 5*time.Second, "the first load", h.set.Ready)
	cancel()
	eventually(t, 5*time.Second, "the loop's goroutine ends", func() bool { return runtime.NumGoroutine() <= before })

	fetches := is.JWKSFetches()
	time.Sleep(100 * time.Millisecond)
	if got := is.JWKSFetches(); got != fetches {
		t.Errorf("%d fetches after the context was canceled", got-fetches)
	}
}
