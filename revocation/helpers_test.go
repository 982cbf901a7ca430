package revocation_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/revocation"
)

// t0 is the tests' "now": 2026-01-01T00:00:00Z.
var t0 = time.Unix(1767225600, 0)

// doc, jti and sub write revocation documents.
func doc(entries ...string) string { return `{"entries":[` + strings.Join(entries, ",") + `]}` }

func jti(id string, exp time.Time) string {
	return fmt.Sprintf(`{"jti":%q,"exp":%d}`, id, exp.Unix())
}

func sub(s string, before time.Time) string {
	return fmt.Sprintf(`{"sub":%q,"before":%d}`, s, before.Unix())
}

// clock is a settable clock, safe for the concurrent reads of Revoked.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

// harness is one list with its metrics, log and clock.
type harness struct {
	list  *revocation.List
	m     *metrics.Revocation
	clock *clock
	logs  *observer.ObservedLogs
}

// newHarness creates a list for issuer "idp"; o's Issuer, Log, Metrics and
// Now are filled in.
func newHarness(t *testing.T, o revocation.Options) *harness {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	h := &harness{m: metrics.NewRevocation(), clock: newClock(t0), logs: logs}
	o.Issuer = "idp"
	o.Log = zap.New(core)
	o.Metrics = h.m
	o.Now = h.clock.now
	l, err := revocation.New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.list = l
	return h
}

func (h *harness) refreshes(result string) float64 {
	return testutil.ToFloat64(h.m.Refresh.WithLabelValues("idp", result))
}

func (h *harness) entries() float64 {
	return testutil.ToFloat64(h.m.Entries.WithLabelValues("idp"))
}

func (h *harness) lastSuccess() float64 {
	return testutil.ToFloat64(h.m.LastSuccess.WithLabelValues("idp"))
}

// refresh refreshes and fails the test on an error.
func (h *harness) refresh(t *testing.T) {
	t.Helper()
	if err := h.list.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// jtiRevoked and subRevoked ask the list about a token with only a jti, or
// only a sub and (when iat is not zero) an iat.
func (h *harness) jtiRevoked(id string) bool {
	return h.list.Revoked(id, "", time.Time{}, false)
}

func (h *harness) subRevoked(s string, iat time.Time) bool {
	return h.list.Revoked("", s, iat, !iat.IsZero())
}

// source is a revocation list server on 127.0.0.1 that answers conditional
// GETs with the validator it is told to send, and counts what it is asked.
type source struct {
	srv *httptest.Server

	mu        sync.Mutex
	body      string
	modified  time.Time // Last-Modified of body
	status    int       // when not 0, answer this status instead
	validator string    // "etag", "last-modified" or "" (none)

	requests        int
	notModified     int    // 304 answers
	ifNoneMatch     string // of the latest request
	ifModifiedSince string // of the latest request
}

func newSource(t *testing.T, body string) *source {
	s := &source{body: body, modified: t0}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *source) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.ifNoneMatch = r.Header.Get("If-None-Match")
	s.ifModifiedSince = r.Header.Get("If-Modified-Since")
	if s.status != 0 {
		http.Error(w, "upstream exploded\n"+strings.Repeat("SECRET", 100), s.status)
		return
	}
	switch s.validator {
	case "etag":
		tag := fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(s.body)))
		w.Header().Set("ETag", tag)
		if s.ifNoneMatch == tag {
			s.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
	case "last-modified":
		lm := s.modified.UTC().Format(http.TimeFormat)
		w.Header().Set("Last-Modified", lm)
		if s.ifModifiedSince == lm {
			s.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, s.body)
}

func (s *source) URL() string { return s.srv.URL + "/revoked.json" }

// set publishes a new document (and a later Last-Modified).
func (s *source) set(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
	s.modified = s.modified.Add(time.Minute)
	s.status = 0
}

func (s *source) fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *source) useValidator(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.validator = v
}

// counts returns requests, 304 answers, and the validators of the latest
// request.
func (s *source) counts() (requests, notModified int, ifNoneMatch, ifModifiedSince string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.notModified, s.ifNoneMatch, s.ifModifiedSince
}

func errContains(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want one containing %q", err, want)
	}
}
