package gatewaytest

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Upstream is a service behind the gateway, on loopback. It records every
// request that reaches it, so that a test can assert what was forwarded
// (and that a refused request forwarded nothing), and answers each one,
// unless SetHandler says otherwise, with 200, the header EchoHeader: 1 and
// an Echo of the request as JSON, so that a client (or a test driving the
// built binary) can read what the upstream received too.
type Upstream struct {
	*httptest.Server

	mu      sync.Mutex
	reqs    []Request
	handler http.HandlerFunc
}

// Request is what the upstream received of one request: values, not the
// live request, so that they can be read after the exchange.
type Request struct {
	Method string
	// URL as received: Path, RawPath (see EscapedPath) and RawQuery.
	URL    *url.URL
	Host   string
	Header http.Header
	// BodyLen and BodySHA256 are the length and digest of the body as the
	// echo read it; both are zero when a handler set with SetHandler
	// answered (it reads the body itself, if it wants).
	BodyLen    int64
	BodySHA256 [sha256.Size]byte
}

// Echo is the JSON body of the upstream's default answer.
type Echo struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
}

// EchoHeader marks a response that the Upstream's echo wrote, so that a
// client tells a forwarded request from one the gateway answered itself.
const EchoHeader = "X-Echo"

// NewUpstream starts an Upstream, closed when the test ends.
func NewUpstream(t testing.TB) *Upstream {
	u := &Upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	h := u.handler
	u.mu.Unlock()
	if h != nil {
		u.record(r, 0, [sha256.Size]byte{})
		h(w, r)
		return
	}
	sum := sha256.New()
	n, _ := io.Copy(sum, r.Body)
	var digest [sha256.Size]byte
	copy(digest[:], sum.Sum(nil))
	u.record(r, n, digest)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(EchoHeader, "1")
	_ = json.NewEncoder(w).Encode(Echo{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header})
}

func (u *Upstream) record(r *http.Request, n int64, digest [sha256.Size]byte) {
	target := *r.URL
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reqs = append(u.reqs, Request{
		Method: r.Method, URL: &target, Host: r.Host, Header: r.Header.Clone(),
		BodyLen: n, BodySHA256: digest,
	})
}

// SetHandler makes h answer every request from now on, instead of the
// echo; nil restores the echo. Requests are recorded either way.
func (u *Upstream) SetHandler(h http.HandlerFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.handler = h
}

// Count is how many requests have reached the upstream.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// Requests returns every request received so far, oldest first.
func (u *Upstream) Requests() []Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Request(nil), u.reqs...)
}

// Last returns the latest request. Before any has arrived it returns a
// Request with an empty URL and Header, so that assertions on it fail
// instead of panicking.
func (u *Upstream) Last() Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		return Request{URL: &url.URL{}, Header: http.Header{}}
	}
	return u.reqs[len(u.reqs)-1]
}

// Held is a set of requests that an Upstream holds instead of answering;
// see Hold.
type Held struct {
	u        *Upstream
	entered  chan struct{}
	released chan struct{}
	once     sync.Once
}

// HoldLimit bounds how long a held request is held without Release.
const HoldLimit = 10 * time.Second

// Hold makes the upstream hold every request from now on, without
// answering, until Release (at most HoldLimit, or until the client goes
// away): for tests that fill the gateway's in-flight slots or time out its
// upstream calls. Release runs when the test ends, too.
func (u *Upstream) Hold(t testing.TB) *Held {
	h := &Held{u: u, entered: make(chan struct{}, 1024), released: make(chan struct{})}
	u.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case h.entered <- struct{}{}:
		default:
		}
		select {
		case <-h.released:
		case <-r.Context().Done():
		case <-time.After(HoldLimit):
		}
	})
	t.Cleanup(h.Release)
	return h
}

// Wait waits, at most 5 seconds, until n more requests are being held, and
// fails the test if they are not.
func (h *Held) Wait(t testing.TB, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for i := range n {
		select {
		case <-h.entered:
		case <-timeout:
			t.Fatalf("%d of %d requests reached the upstream within 5s", i, n)
		}
	}
}

// Release answers every held request (200, empty body) and restores the
// echo for later ones. It may be called more than once.
func (h *Held) Release() {
	h.once.Do(func() {
		h.u.SetHandler(nil)
		close(h.released)
	})
}
