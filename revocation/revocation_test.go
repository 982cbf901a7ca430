package revocation_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/revocation"
)

func TestJTIRevokedUntilExpPlusSkew(t *testing.T) {
	exp := t0.Add(time.Hour)
	src := newSource(t, doc(jti("abc", exp)))
	h := newHarness(t, revocation.Options{URI: src.URL(), ClockSkew: 30 * time.Second})
	h.refresh(t)

	tests := []struct {
		name string
		now  time.Time
		jti  string
		want bool
	}{
		{"a listed jti is revoked before its exp", t0, "abc", true},
		{"a listed jti is revoked at its exp", exp, "abc", true},
		{"a listed jti is revoked at its exp plus the skew", exp.Add(30 * time.Second), "abc", true},
		{"a listed jti is dropped one second past exp plus the skew", exp.Add(31 * time.Second), "abc", false},
		{"an unlisted jti is not revoked", t0, "abd", false},
		{"an empty jti is not revoked", t0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.clock.set(tt.now)
			if got := h.list.Revoked(tt.jti, "alice", t0, true); got != tt.want {
				t.Errorf("Revoked(%q) = %v, want %v", tt.jti, got, tt.want)
			}
		})
	}

	t.Run("an entry already expired when loaded is not kept", func(t *testing.T) {
		h.clock.set(exp.Add(31 * time.Second))
		src.set(doc(jti("abc", exp), jti("later", exp.Add(time.Hour))))
		h.refresh(t)
		if got := h.entries(); got != 1 {
			t.Errorf("entries = %v, want 1 (only the unexpired one)", got)
		}
		if !h.jtiRevoked("later") || h.jtiRevoked("abc") {
			t.Errorf("later revoked = %v, abc revoked = %v; want true, false", h.jtiRevoked("later"), h.jtiRevoked("abc"))
		}
	})

	t.Run("of a jti listed twice the latest exp counts", func(t *testing.T) {
		h.clock.set(t0)
		src.set(doc(jti("twice", exp.Add(time.Hour)), jti("twice", exp)))
		h.refresh(t)
		h.clock.set(exp.Add(time.Minute))
		if !h.jtiRevoked("twice") {
			t.Error("the earlier exp of two dropped the entry")
		}
	})
}

func TestSubBefore(t *testing.T) {
	before := t0
	tests := []struct {
		name string
		doc  string
		sub  string
		iat  time.Time // zero: the token has no iat
		want bool
	}{
		{"a token issued one second before is revoked", doc(sub("alice", before)), "alice", before.Add(-time.Second), true},
		{"a token issued a fraction of a second before is revoked", doc(sub("alice", before)), "alice", before.Add(-time.Millisecond), true},
		{"a token issued exactly at before is not revoked", doc(sub("alice", before)), "alice", before, false},
		{"a token issued after is not revoked", doc(sub("alice", before)), "alice", before.Add(time.Hour), false},
		{"a token without iat is revoked", doc(sub("alice", before)), "alice", time.Time{}, true},
		{"another subject is not revoked", doc(sub("alice", before)), "bob", before.Add(-time.Hour), false},
		{"another subject without iat is not revoked", doc(sub("alice", before)), "bob", time.Time{}, false},
		{"the latest before counts when it comes last",
			doc(sub("alice", before.Add(-time.Hour)), sub("alice", before)), "alice", before.Add(-time.Second), true},
		{"the latest before counts when it comes first",
			doc(sub("alice", before), sub("alice", before.Add(-time.Hour))), "alice", before.Add(-time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, revocation.Options{URI: newSource(t, tt.doc).URL()})
			h.refresh(t)
			if got := h.subRevoked(tt.sub, tt.iat); got != tt.want {
				t.Errorf("Revoked(sub %q, iat %v) = %v, want %v", tt.sub, tt.iat, got, tt.want)
			}
		})
	}
}

func TestCheckAnswers(t *testing.T) {
	src := newSource(t, doc(jti("abc", t0.Add(time.Hour))))
	h := newHarness(t, revocation.Options{URI: src.URL()})
	if err := h.list.Check("abc", "", time.Time{}, false); !errors.Is(err, revocation.ErrNotLoaded) {
		t.Errorf("before the first load Check = %v, want ErrNotLoaded", err)
	}
	if !h.list.Revoked("other", "", time.Time{}, false) {
		t.Error("before the first load Revoked = false, want true (fail closed)")
	}
	h.refresh(t)
	if err := h.list.Check("abc", "", time.Time{}, false); !errors.Is(err, revocation.ErrRevoked) {
		t.Errorf("Check of a listed jti = %v, want ErrRevoked", err)
	}
	if err := h.list.Check("other", "", time.Time{}, false); err != nil {
		t.Errorf("Check of an unlisted jti = %v, want nil", err)
	}
}

func TestNotReadyUntilFirstLoad(t *testing.T) {
	src := newSource(t, doc(jti("abc", t0.Add(time.Hour))))
	src.fail(http.StatusServiceUnavailable)
	h := newHarness(t, revocation.Options{URI: src.URL()})

	if err := h.list.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh against a failing source succeeded")
	}
	if h.list.Ready() || h.list.Version() != 0 {
		t.Errorf("after a failed first fetch Ready = %v, Version = %d; want false, 0", h.list.Ready(), h.list.Version())
	}
	if got := h.refreshes("error"); got != 1 {
		t.Errorf("error refreshes = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(h.m.LastSuccess); got != 0 {
		t.Errorf("last success series = %d, want none before a success", got)
	}

	src.set(doc(jti("abc", t0.Add(time.Hour))))
	h.refresh(t)
	if !h.list.Ready() || h.list.Version() != 1 {
		t.Errorf("after a load Ready = %v, Version = %d; want true, 1", h.list.Ready(), h.list.Version())
	}
	if got := h.lastSuccess(); got != float64(t0.Unix()) {
		t.Errorf("last success = %v, want %d", got, t0.Unix())
	}
}

func TestConditionalGet(t *testing.T) {
	for _, validator := range []string{"etag", "last-modified"} {
		t.Run(validator, func(t *testing.T) {
			src := newSource(t, doc(jti("abc", t0.Add(time.Hour))))
			src.useValidator(validator)
			h := newHarness(t, revocation.Options{URI: src.URL()})

			h.refresh(t)
			_, _, inm, ims := src.counts()
			if inm != "" || ims != "" {
				t.Errorf("first fetch sent If-None-Match %q, If-Modified-Since %q; want neither", inm, ims)
			}

			h.clock.set(t0.Add(time.Minute))
			h.refresh(t)
			requests, notModified, inm, ims := src.counts()
			if requests != 2 || notModified != 1 {
				t.Errorf("requests = %d, 304 answers = %d; want 2, 1", requests, notModified)
			}
			if sent := inm + ims; sent == "" {
				t.Error("the second fetch sent no validator")
			}
			if h.list.Version() != 1 || !h.jtiRevoked("abc") {
				t.Errorf("after a 304 Version = %d, abc revoked = %v; want 1, true", h.list.Version(), h.jtiRevoked("abc"))
			}
			if got := h.refreshes("success"); got != 2 {
				t.Errorf("success refreshes = %v, want 2 (a 304 is a success)", got)
			}
			if got := h.lastSuccess(); got != float64(t0.Add(time.Minute).Unix()) {
				t.Errorf("last success = %v, want the time of the 304", got)
			}

			src.set(doc(jti("def", t0.Add(time.Hour))))
			h.refresh(t)
			if _, notModified, _, _ := src.counts(); notModified != 1 {
				t.Errorf("304 answers = %d after a change, want still 1", notModified)
			}
			if h.list.Version() != 2 || h.jtiRevoked("abc") || !h.jtiRevoked("def") {
				t.Errorf("after a change Version = %d, abc = %v, def = %v; want 2, false, true",
					h.list.Version(), h.jtiRevoked("abc"), h.jtiRevoked("def"))
			}
		})
	}
}

func TestVersionChangesWithEntriesOnly(t *testing.T) {
	src := newSource(t, doc(jti("a", t0.Add(time.Hour)), sub("alice", t0)))
	h := newHarness(t, revocation.Options{URI: src.URL()})
	h.refresh(t)

	src.set("{\n  \"entries\": [\n    " + sub("alice", t0) + ",\n    " + jti("a", t0.Add(time.Hour)) + "\n  ]\n}\n")
	h.refresh(t)
	if v := h.list.Version(); v != 1 {
		t.Errorf("the same entries reordered and reformatted: Version = %d, want 1", v)
	}
	src.set(doc(jti("a", t0.Add(time.Hour)), sub("alice", t0.Add(time.Second))))
	h.refresh(t)
	if v := h.list.Version(); v != 2 {
		t.Errorf("a changed before: Version = %d, want 2", v)
	}
}

func TestLastGoodListKept(t *testing.T) {
	exp := t0.Add(time.Hour)
	good := doc(jti("good", exp), sub("alice", t0))
	const maxEntries = 3 // so the byte cap is 3*256 + 64 KiB = 66304
	tests := []struct {
		name    string
		body    string
		status  int   // when not 0, the source answers this status
		wantIs  error // when not nil, errors.Is(err, wantIs)
		wantMsg string
	}{
		{"garbage is refused", "<html>oops</html>", 0, revocation.ErrInvalidDocument, "invalid character"},
		{"an empty body is refused", "", 0, revocation.ErrInvalidDocument, "unexpected EOF"},
		{"a truncated document is refused", `{"entries":[{"jti":"a","exp":1`, 0, revocation.ErrInvalidDocument, "unexpected EOF"},
		{"a body over the byte cap is refused", `{"entries":[` + strings.Repeat(" ", 70000) + `]}`, 0, nil, "exceeds the 66304-byte limit"},
		{"more entries than MaxEntries are refused",
			doc(jti("a", exp), jti("b", exp), jti("c", exp), jti("d", exp)), 0, revocation.ErrTooManyEntries, "more than 3"},
		{"an unknown member in an entry is refused",
			doc(`{"jti":"a","exp":1767229200,"reason":"stolen"}`), 0, revocation.ErrInvalidDocument, `entries[0]: unknown member "reason"`},
		{"an entry with both jti and sub is refused",
			doc(`{"jti":"a","sub":"alice","exp":1767229200,"before":1767225600}`), 0, revocation.ErrInvalidDocument, "both jti and sub"},
		{"a jti entry without exp is refused", doc(jti("a", exp), `{"jti":"b"}`), 0, revocation.ErrInvalidDocument, `entries[1]: a jti entry has exactly "jti" and "exp"`},
		{"a sub entry without before is refused", doc(`{"sub":"alice"}`), 0, revocation.ErrInvalidDocument, `a sub entry has exactly "sub" and "before"`},
		{"a jti entry with before is refused", doc(`{"jti":"a","exp":1767229200,"before":1}`), 0, revocation.ErrInvalidDocument, `a jti entry has exactly`},
		{"an empty entry is refused", doc(`{}`), 0, revocation.ErrInvalidDocument, "neither jti nor sub"},
		{"a fractional time is refused", doc(`{"jti":"a","exp":1767229200.5}`), 0, revocation.ErrInvalidDocument, "exp is 1767229200.5"},
		{"a time in exponent notation is refused", doc(`{"jti":"a","exp":1e10}`), 0, revocation.ErrInvalidDocument, "exp is 1e10"},
		{"a negative time is refused", doc(`{"sub":"alice","before":-1}`), 0, revocation.ErrInvalidDocument, "before is -1"},
		{"a time past the year 9999 is refused", doc(`{"jti":"a","exp":253402300800}`), 0, revocation.ErrInvalidDocument, "exp is 253402300800"},
		{"a time as a string is refused", doc(`{"jti":"a","exp":"1767229200"}`), 0, revocation.ErrInvalidDocument, "exp is not a number"},
		{"an empty jti is refused", doc(`{"jti":"","exp":1767229200}`), 0, revocation.ErrInvalidDocument, "jti is empty"},
		{"a sub over 1 KiB is refused", doc(sub(strings.Repeat("a", 1025), t0)), 0, revocation.ErrInvalidDocument, "sub is longer than 1024 bytes"},
		{"a jti that is not a string is refused", doc(`{"jti":42,"exp":1767229200}`), 0, revocation.ErrInvalidDocument, "jti is not a string"},
		{"a member name in another case is refused", doc(`{"JTI":"a","exp":1767229200}`), 0, revocation.ErrInvalidDocument, `unknown member "JTI"`},
		{"a repeated member is refused", doc(`{"jti":"a","jti":"b","exp":1767229200}`), 0, revocation.ErrInvalidDocument, `member "jti" appears twice`},
		{"an unknown top-level member is refused", `{"entries":[],"version":2}`, 0, revocation.ErrInvalidDocument, `unknown top-level member "version"`},
		{"a document without entries is refused", `{}`, 0, revocation.ErrInvalidDocument, `no "entries" member`},
		{"null entries are refused", `{"entries":null}`, 0, revocation.ErrInvalidDocument, `"entries" is not an array`},
		{"a document that is an array is refused", `[]`, 0, revocation.ErrInvalidDocument, "the document is not an object"},
		{"data after the document is refused", doc() + `{}`, 0, revocation.ErrInvalidDocument, "data after the document"},
		{"a 500 answer is an error", good, http.StatusInternalServerError, nil, "status 500"},
		{"a 404 answer is an error", good, http.StatusNotFound, nil, "status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newSource(t, good)
			h := newHarness(t, revocation.Options{URI: src.URL(), MaxEntries: maxEntries})
			h.refresh(t)
			lastSuccess := h.lastSuccess()

			h.clock.set(t0.Add(time.Minute))
			src.set(tt.body)
			if tt.status != 0 {
				src.fail(tt.status)
			}
			err := h.list.Refresh(t.Context())
			errContains(t, err, tt.wantMsg)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if !h.jtiRevoked("good") || !h.subRevoked("alice", t0.Add(-time.Second)) {
				t.Error("the last good list's entries were un-revoked")
			}
			if v := h.list.Version(); v != 1 {
				t.Errorf("Version = %d, want 1", v)
			}
			if got := h.refreshes("error"); got != 1 {
				t.Errorf("error refreshes = %v, want 1", got)
			}
			if got := h.refreshes("success"); got != 1 {
				t.Errorf("success refreshes = %v, want 1", got)
			}
			if got := h.entries(); got != 2 {
				t.Errorf("entries = %v, want the last good list's 2", got)
			}
			if got := h.lastSuccess(); got != lastSuccess {
				t.Errorf("last success = %v, want it unchanged at %v", got, lastSuccess)
			}
		})
	}
}

func TestAcceptedDocuments(t *testing.T) {
	exp := t0.Add(time.Hour)
	tests := []struct {
		name    string
		body    string
		entries float64
	}{
		{"an empty list", `{"entries":[]}`, 0},
		{"exactly MaxEntries entries", doc(jti("a", exp), jti("b", exp), sub("alice", t0)), 3},
		{"a pretty-printed document", "{\n\t\"entries\": [\n\t\t{ \"jti\" : \"a\", \"exp\" : 1767229200 }\n\t]\n}\n", 1},
		{"a jti of exactly 1 KiB", doc(jti(strings.Repeat("j", 1024), exp)), 1},
		{"one jti listed twice counts once", doc(jti("a", exp), jti("a", exp.Add(time.Hour))), 1},
		{"members in any order", doc(`{"exp":1767229200,"jti":"a"}`, `{"before":1,"sub":"alice"}`), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, revocation.Options{URI: newSource(t, tt.body).URL(), MaxEntries: 3})
			h.refresh(t)
			if got := h.entries(); got != tt.entries {
				t.Errorf("entries = %v, want %v", got, tt.entries)
			}
		})
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "revoked.json")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(doc(jti("abc", t0.Add(time.Hour))))
	h := newHarness(t, revocation.Options{URI: "file://" + path})

	h.refresh(t)
	if !h.jtiRevoked("abc") || h.list.Version() != 1 {
		t.Fatalf("abc revoked = %v, Version = %d; want true, 1", h.jtiRevoked("abc"), h.list.Version())
	}
	h.refresh(t)
	if v := h.list.Version(); v != 1 {
		t.Errorf("the same file read again: Version = %d, want 1", v)
	}
	write(doc(jti("def", t0.Add(time.Hour))))
	h.refresh(t)
	if !h.jtiRevoked("def") || h.jtiRevoked("abc") || h.list.Version() != 2 {
		t.Errorf("after a rewrite def = %v, abc = %v, Version = %d; want true, false, 2",
			h.jtiRevoked("def"), h.jtiRevoked("abc"), h.list.Version())
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	errContains(t, h.list.Refresh(t.Context()), "no such file")
	if !h.jtiRevoked("def") {
		t.Error("a missing file un-revoked the last good list")
	}
	if got := h.refreshes("error"); got != 1 {
		t.Errorf("error refreshes = %v, want 1", got)
	}
}

func TestRedirects(t *testing.T) {
	other := newSource(t, doc(jti("elsewhere", t0.Add(time.Hour))))
	mux := http.NewServeMux()
	mux.HandleFunc("/list", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, doc(jti("here", t0.Add(time.Hour))))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/list", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL(), http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	h := newHarness(t, revocation.Options{URI: srv.URL + "/moved"})
	h.refresh(t)
	if !h.jtiRevoked("here") {
		t.Error("a same-origin redirect was not followed")
	}

	h = newHarness(t, revocation.Options{URI: srv.URL + "/elsewhere"})
	errContains(t, h.list.Refresh(t.Context()), "refusing redirect")
	if requests, _, _, _ := other.counts(); requests != 0 {
		t.Errorf("the other origin was asked %d times", requests)
	}
}

func TestFailureLog(t *testing.T) {
	src := newSource(t, doc())
	src.fail(http.StatusInternalServerError)
	uri := strings.Replace(src.URL(), "http://", "http://user:hunter2@", 1)
	h := newHarness(t, revocation.Options{URI: uri})
	if err := h.list.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh succeeded against a failing source")
	}

	logs := h.logs.FilterMessageSnippet("fetch failed").All()
	if len(logs) != 1 {
		t.Fatalf("%d failure lines, want 1", len(logs))
	}
	fields := logs[0].ContextMap()
	if fields["issuer"] != "idp" {
		t.Errorf("issuer field = %v, want idp", fields["issuer"])
	}
	location, _ := fields["location"].(string)
	if strings.Contains(location, "hunter2") || !strings.Contains(location, "127.0.0.1") {
		t.Errorf("location field = %q, want the location without its password", location)
	}
	msg, _ := fields["error"].(string)
	if !strings.Contains(msg, "SECRET") || strings.Count(msg, "SECRET") > 10 || strings.Contains(msg, "\n") {
		t.Errorf("error field = %q, want a short sanitized snippet of the body", msg)
	}
}

func TestStartPollsInTheBackground(t *testing.T) {
	src := newSource(t, doc(jti("abc", t0.Add(time.Hour))))
	h := newHarness(t, revocation.Options{URI: src.URL(), RefreshInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.list.Start(ctx)

	waitFor(t, "the first load", func() bool { return h.list.Ready() && h.jtiRevoked("abc") })
	src.set(doc(jti("def", t0.Add(time.Hour))))
	waitFor(t, "the change to be polled", func() bool { return h.jtiRevoked("def") })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name    string
		o       revocation.Options
		wantErr string
	}{
		{"an empty issuer", revocation.Options{URI: "file:///x"}, "issuer name is empty"},
		{"an unknown scheme", revocation.Options{Issuer: "idp", URI: "ftp://example.com/x"}, `scheme "ftp"`},
		{"no location", revocation.Options{Issuer: "idp"}, `scheme ""`},
		{"a negative interval", revocation.Options{Issuer: "idp", URI: "file:///x", RefreshInterval: -time.Second}, "refresh interval"},
		{"negative max entries", revocation.Options{Issuer: "idp", URI: "file:///x", MaxEntries: -1}, "max entries"},
		{"a negative skew", revocation.Options{Issuer: "idp", URI: "file:///x", ClockSkew: -time.Second}, "clock skew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := revocation.New(tt.o)
			errContains(t, err, tt.wantErr)
		})
	}
}

func TestMetricsSeriesExistFromTheStart(t *testing.T) {
	m := metrics.NewRevocation()
	if _, err := revocation.New(revocation.Options{Issuer: "idp", URI: "file:///x", Metrics: m}); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP portcullis_revocation_refresh_total Revocation list fetches, by issuer and result (success, error). A 304 Not Modified is a success.
# TYPE portcullis_revocation_refresh_total counter
portcullis_revocation_refresh_total{issuer="idp",result="error"} 0
portcullis_revocation_refresh_total{issuer="idp",result="success"} 0
`
	if err := testutil.CollectAndCompare(m.Refresh, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	var nilMetrics *metrics.Revocation // recording on nil records nothing and does not panic
	nilMetrics.IssuerConfigured("idp")
	nilMetrics.Refreshed("idp", nil, 1, t0)
}

func TestRevokedConcurrentWithRefresh(t *testing.T) {
	exp := t0.Add(time.Hour)
	docs := []string{
		doc(jti("always", exp), jti("a", exp)),
		doc(jti("b", exp), jti("always", exp), sub("alice", t0)),
	}
	src := newSource(t, docs[0])
	h := newHarness(t, revocation.Options{URI: src.URL()})
	h.refresh(t)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	failures := make(chan string, 8)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !h.jtiRevoked("always") {
					failures <- "a jti in every list was un-revoked during a swap"
					return
				}
				if h.jtiRevoked("never") {
					failures <- "a jti in no list was revoked"
					return
				}
				runtime.Gosched() // let the refreshes run on a machine with few cores
			}
		})
	}
	for i := range 50 {
		src.set(docs[i%2])
		h.refresh(t)
	}
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if v := h.list.Version(); v < 50 {
		t.Errorf("Version = %d after 50 alternating lists, want at least 50", v)
	}
}

func TestRevokedAllocatesNothing(t *testing.T) {
	src := newSource(t, doc(jti("abc", t0.Add(time.Hour)), sub("alice", t0)))
	h := newHarness(t, revocation.Options{URI: src.URL()})
	h.refresh(t)
	tests := []struct {
		name string
		jti  string
		sub  string
		want bool
	}{
		{"a listed jti", "abc", "bob", true},
		{"a listed sub", "xyz", "alice", true},
		{"nothing listed", "xyz", "bob", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bool
			allocs := testing.AllocsPerRun(1000, func() {
				got = h.list.Revoked(tt.jti, tt.sub, t0.Add(-time.Second), true)
			})
			if got != tt.want {
				t.Errorf("Revoked = %v, want %v", got, tt.want)
			}
			if allocs != 0 {
				t.Errorf("Revoked allocates %v times per call, want 0", allocs)
			}
		})
	}
}

func BenchmarkRevoked(b *testing.B) {
	const n = revocation.DefaultMaxEntries
	entries := make([]string, 0, n)
	for i := range n / 2 {
		entries = append(entries, jti(fmt.Sprintf("jti-%d", i), t0.Add(time.Hour)), sub(fmt.Sprintf("sub-%d", i), t0))
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "revoked.json")
	if err := os.WriteFile(path, []byte(doc(entries...)), 0o600); err != nil {
		b.Fatal(err)
	}
	l, err := revocation.New(revocation.Options{Issuer: "idp", URI: "file://" + path, Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Refresh(b.Context()); err != nil {
		b.Fatal(err)
	}
	iat := t0.Add(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if l.Revoked("not-listed", "sub-not-listed", iat, true) {
			b.Fatal("an unlisted token is revoked")
		}
	}
}
