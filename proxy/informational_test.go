package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// An HTTP/1.0 client gets no 1xx response (RFC 9110 §15.2: HTTP/1.0
// defined none, and a server must not send one to it), whether the
// upstream sends it unprompted (103 Early Hints) or because the client's
// own Expect: 100-continue, which a server must ignore in an HTTP/1.0
// request (§10.1.1), was forwarded and answered. A client or an
// intermediary that speaks HTTP/1.0 reads the 1xx as the final answer,
// and, on a kept-alive connection, the real one as the answer to its next
// request. The final answer still carries the gateway's own headers, and
// an HTTP/1.1 client still gets the 1xx.
func TestNoInformationalResponseToAnHTTP10Client(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hints" {
			w.Header().Set("Link", "</app.css>; rel=preload; as=style")
			w.WriteHeader(http.StatusEarlyHints)
		}
		_, _ = io.Copy(io.Discard, r.Body) // answers an Expect: 100-continue
		_, _ = w.Write([]byte("final"))
	})
	g := gatewaytest.StartYAML(t, fmt.Sprintf(`
routes:
  - name: app
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
`, up.URL))
	front := httptest.NewServer(g.Handler())
	t.Cleanup(front.Close)

	// exchange sends one request on a kept-alive connection and returns
	// the status of the first response read from it, that response's
	// X-Request-Id, and what follows its header section: its body, or,
	// after a 1xx, the next response.
	exchange := func(t *testing.T, req string) (first int, id string, body string) {
		t.Helper()
		c, err := net.Dial("tcp", front.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		n := -1
		// Read the status line and header section as a client that knows
		// no 1xx would: the first response is the answer.
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscanf(line, "HTTP/1.%d %d", new(int), &first); err != nil {
			t.Fatalf("status line %q: %v", line, err)
		}
		for {
			h, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if h == "\r\n" {
				break
			}
			k, v, _ := strings.Cut(strings.TrimSpace(h), ":")
			switch v = strings.TrimSpace(v); {
			case strings.EqualFold(k, "X-Request-Id"):
				id = v
			case strings.EqualFold(k, "Content-Length"):
				n, _ = strconv.Atoi(v)
			}
		}
		if n < 0 {
			// A 1xx has no body: what follows it is the next response,
			// which a client that took the 1xx for the answer would read
			// as the answer to its next request. Take what has come.
			_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n = 1 << 16
		}
		rest := make([]byte, n)
		m, _ := io.ReadFull(br, rest)
		return first, id, string(rest[:m])
	}
	for _, tc := range []struct{ name, req string }{
		{"103 Early Hints", "GET /hints HTTP/1.0\r\nHost: api.example.com\r\nConnection: keep-alive\r\n\r\n"},
		{"100 Continue to its own Expect", "POST /upload HTTP/1.0\r\nHost: api.example.com\r\nConnection: keep-alive\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, id, rest := exchange(t, tc.req)
			if status != http.StatusOK {
				t.Fatalf("an HTTP/1.0 client read a %d first, want the final 200 (then %q)", status, rest)
			}
			if id == "" {
				t.Errorf("the final answer has no X-Request-Id")
			}
			if rest != "final" {
				t.Errorf("after the headers: %q, want the body", rest)
			}
		})
	}
	t.Run("an HTTP/1.1 client still gets the 103", func(t *testing.T) {
		status, _, _ := exchange(t, "GET /hints HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n")
		if status != http.StatusEarlyHints {
			t.Fatalf("first response %d, want 103", status)
		}
	})
}

// A gRPC call refused after the upstream sent a 1xx (then no answer
// within the route's timeout: DEADLINE_EXCEEDED) still carries the
// gateway's own headers, as any refusal does: ReverseProxy cleared them
// with the 1xx, and the trailers-only refusal must put them back as the
// JSON one does.
func TestGRPCRefusalAfterAnUpstream1xxKeepsTheGatewaysHeaders(t *testing.T) {
	up := gatewaytest.NewUpstream(t)
	held := make(chan struct{})
	t.Cleanup(func() { close(held) })
	up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		select {
		case <-held:
		case <-r.Context().Done():
		}
	})
	g := gatewaytest.Options{Server: true}.StartYAML(t, fmt.Sprintf(`
routes:
  - name: app
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
    timeout: 200ms
`, up.URL))
	for _, ct := range []string{"application/json", "application/grpc"} {
		req, err := http.NewRequest(http.MethodPost, g.Server.URL+"/pkg.Svc/Call", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		res, err := g.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if ct == "application/grpc" && res.Header.Get("Grpc-Status") != "4" {
			t.Fatalf("%s: status %d, grpc-status %q; want DEADLINE_EXCEEDED (4)", ct, res.StatusCode, res.Header.Get("Grpc-Status"))
		}
		if ct != "application/grpc" && res.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("%s: status %d, want 504", ct, res.StatusCode)
		}
		if res.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: the refusal after a 1xx has no X-Request-Id", ct)
		}
	}
}
