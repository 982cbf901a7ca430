package attack_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// TestMaxBodyBytes: a route's max_body_bytes bounds the request body that
// is forwarded, counted as it streams and never buffered: a body that says
// it is too large (Content-Length) is refused with 413 before a byte of it
// is read, one that does not say (chunked) is cut at the limit, with 413
// when nothing was answered yet. Neither is an authentication failure.
func TestMaxBodyBytes(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	g := gatewaytest.Options{Server: true}.StartYAML(t, `
server:
  max_body_bytes: 100
routes:
  - name: small
    match: {path_prefix: /small}
    upstream: "`+up.URL+`"
    auth: {mode: public}
    max_body_bytes: 10
  - name: default
    match: {path_prefix: /default}
    upstream: "`+up.URL+`"
    auth: {mode: public}
  - name: unlimited
    match: {path_prefix: /unlimited}
    upstream: "`+up.URL+`"
    auth: {mode: public}
    max_body_bytes: 0
`)
	post := func(path string, body io.Reader, length int64) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, g.Server.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length
		resp, err := g.Server.Client().Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	// chunked hides the length: the gateway learns it only by counting.
	chunked := func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }

	tests := []struct {
		name     string
		path     string
		body     string
		length   int64 // -1: chunked
		want     int
		received int64 // bytes the upstream got, -1: no request at all
	}{
		{"a body at the limit passes whole", "/small", "0123456789", 10, 200, 10},
		{"a declared body over the limit is 413, nothing forwarded", "/small", "0123456789X", 11, 413, -1},
		{"a chunked body at the limit passes", "/small", "0123456789", -1, 200, 10},
		{"a chunked body over the limit is 413", "/small", strings.Repeat("x", 5000), -1, 413, -2},
		{"the server default applies to a route without its own", "/default", strings.Repeat("x", 101), 101, 413, -1},
		{"max_body_bytes: 0 is no limit", "/unlimited", strings.Repeat("x", 5000), 5000, 200, 5000},
	}
	// Each case has a path of its own, and the upstream's requests are
	// told apart by it: the upstream of a chunked body cut at the limit
	// records its partial request whenever its read fails, which may be
	// after the next case has begun.
	reached := func(path string) []gatewaytest.Request {
		var out []gatewaytest.Request
		for _, r := range up.Requests() {
			if r.URL.Path == path {
				out = append(out, r)
			}
		}
		return out
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.path += "/" + strconv.Itoa(i)
			var body io.Reader = bytes.NewReader([]byte(tt.body))
			if tt.length < 0 {
				body = chunked(tt.body)
			}
			resp, text := post(tt.path, body, tt.length)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, text, tt.want)
			}
			if tt.want == 413 && (!strings.Contains(text, `"request_too_large"`) || resp.Header.Get("Content-Type") != "application/json") {
				t.Errorf("413 body %q, want the JSON refusal", text)
			}
			got := reached(tt.path)
			switch tt.received {
			case -1:
				if len(got) != 0 {
					t.Errorf("a refused body reached the upstream")
				}
			case -2:
				// The upstream may have started to read before the cut;
				// it never got a byte past the route's limit (10).
				for _, r := range got {
					if r.BodyLen > 10 {
						t.Errorf("the upstream got %d bytes of a body cut at 10", r.BodyLen)
					}
				}
			default:
				if len(got) != 1 || got[0].BodyLen != tt.received {
					t.Errorf("upstream got %d requests for %s; want one with %d bytes", len(got), tt.path, tt.received)
				}
			}
		})
	}
	var tooLarge int
	for _, e := range g.Logs.FilterMessage("request").All() {
		if e.ContextMap()["reason"] == "body_too_large" {
			tooLarge++
		}
	}
	if tooLarge != 3 {
		t.Errorf("%d access-log lines with reason body_too_large, want 3", tooLarge)
	}
	if n := testutil.CollectAndCount(g.Metrics().AuthFailures); n != 0 {
		t.Errorf("%d auth failure series: a body too large is no authentication failure", n)
	}
}

// smallBodyOverHTTP2 is a gateway whose route /small takes bodies of 10
// bytes at most, to up, served over HTTP/2 (TLS) to its clients.
func smallBodyOverHTTP2(t *testing.T, up *gatewaytest.Upstream) (*gatewaytest.Gateway, *httptest.Server) {
	t.Helper()
	g := gatewaytest.StartYAML(t, `
routes:
  - name: small
    match: {path_prefix: /small}
    upstream: "`+up.URL+`"
    auth: {mode: public}
    max_body_bytes: 10
`)
	front := httptest.NewUnstartedServer(g.Handler())
	front.EnableHTTP2 = true
	front.StartTLS()
	t.Cleanup(front.Close)
	return g, front
}

// TestMaxBodyBytesAfterTheAnswerBegan: a body that passes the limit after
// the upstream began its answer (a stream's replies, an early response)
// is cut where it passes, and the access log says why, although its 200
// went out before: the cut is no success. Both ends speak full duplex, as
// gRPC does: the client over HTTP/2, the upstream with EnableFullDuplex
// (an HTTP/1 server otherwise reads the whole body before it answers).
func TestMaxBodyBytesAfterTheAnswerBegan(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.WriteHeader(http.StatusOK)
		_ = rc.Flush()
		_, _ = io.Copy(io.Discard, r.Body)
	})
	g, front := smallBodyOverHTTP2(t, up)

	body, send := io.Pipe()
	answered := make(chan struct{})
	go func() {
		_, _ = send.Write([]byte("01234"))
		<-answered
		_, _ = send.Write([]byte(strings.Repeat("x", 50)))
		_ = send.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, front.URL+"/small/stream", body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := front.Client().Do(req)
	close(answered)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // ends when the gateway cuts the stream
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("%s %d, want HTTP/2 and the upstream's 200, sent before the body passed the limit", resp.Proto, resp.StatusCode)
	}
	line := accessLineIn(t, g.Logs, "path", "/small/stream")
	if line["reason"] != "body_too_large" {
		t.Errorf("access log reason %q, want body_too_large (line %v)", line["reason"], line)
	}
}

// TestBodyTooLargeOverHTTP2KeepsTheConnection: over HTTP/2 a 413 ends its
// stream only. Connection: close, which an HTTP/1.x refusal needs (the
// unread body would be read as the next request), makes Go's HTTP/2 server
// send GOAWAY: one client's body would drain a connection that others'
// calls share behind a load balancer.
func TestBodyTooLargeOverHTTP2KeepsTheConnection(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	_, front := smallBodyOverHTTP2(t, up)
	client := front.Client()
	post := func(body string) (status int, reused bool) {
		t.Helper()
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, front.URL+"/small", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s, want HTTP/2", resp.Proto)
		}
		return resp.StatusCode, reused
	}
	if status, _ := post("small"); status != http.StatusOK {
		t.Fatalf("status %d, want 200", status)
	}
	if status, _ := post(strings.Repeat("x", 100)); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", status)
	}
	// A GOAWAY reaches the client after the 413's headers: give it the
	// time to arrive before the next request picks a connection.
	time.Sleep(100 * time.Millisecond)
	if status, reused := post("small"); status != http.StatusOK || !reused {
		t.Fatalf("after a 413: status %d, connection reused %v; want 200 on the same connection", status, reused)
	}
}
