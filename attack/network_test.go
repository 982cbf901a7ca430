package attack_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs the target's gateway on its own listeners, exactly as
// `portcullis serve` does (gateway.Serve: the configured timeouts, header
// cap and TLS-less proxy port), and returns the proxy's address. The
// listeners are on 127.0.0.1 port 0; the address is read from the
// gateway's "serving" log line.
func (tg *target) serve() string {
	t := tg.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tg.gw.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("gateway.Serve did not return within 10s of cancel")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range tg.logs.FilterMessage("serving").All() {
			if addr, ok := e.ContextMap()["listen"].(string); ok {
				return addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("gateway.Serve returned: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the gateway never logged its listen address")
	return ""
}

// rawRequest writes raw bytes to addr and reads one response, all within
// five seconds.
func rawRequest(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body = io.NopCloser(strings.NewReader(string(body)))
	return res
}

// TestHostTricks: a route restricted to admin.example.com must take every
// spelling of that name (case, port, one trailing dot: RFC 9110 §7.2,
// RFC 1034 §3.1), and an absolute-form request target decides the host
// over the Host header (RFC 9112 §3.2.2), for matching and forwarding alike.
func TestHostTricks(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t)
	addr := tg.serve()
	cases := []struct {
		name   string
		ref    string
		raw    string
		status int
		xfh    string // X-Forwarded-Host the upstream must see, when forwarded
	}{
		{"the admin host is protected", "baseline",
			"GET /public/x HTTP/1.1\r\nHost: admin.example.com\r\n\r\n", 401, ""},
		{"the admin host in upper case is protected", "RFC 4343",
			"GET /public/x HTTP/1.1\r\nHost: ADMIN.EXAMPLE.COM\r\n\r\n", 401, ""},
		{"the admin host with a trailing dot is protected", "RFC 1034 §3.1",
			"GET /public/x HTTP/1.1\r\nHost: admin.example.com.\r\n\r\n", 401, ""},
		{"the admin host with a port is protected", "RFC 9110 §7.2",
			"GET /public/x HTTP/1.1\r\nHost: admin.example.com:8443\r\n\r\n", 401, ""},
		{"the admin host with a trailing dot and a port is protected", "RFC 9110 §7.2",
			"GET /public/x HTTP/1.1\r\nHost: Admin.Example.Com.:443\r\n\r\n", 401, ""},
		{"an absolute-form target naming the admin host is protected, whatever Host says", "RFC 9112 §3.2.2",
			"GET http://admin.example.com/public/x HTTP/1.1\r\nHost: www.example.com\r\n\r\n", 401, ""},
		{"an absolute-form target naming another host is that host's, and forwarded as it", "RFC 9112 §3.2.2",
			"GET http://www.example.com/public/x HTTP/1.1\r\nHost: admin.example.com\r\n\r\n", 200, "www.example.com"},
		{"X-Forwarded-Host from an untrusted client is replaced", "RFC 7239 §5.3",
			"GET /public/x HTTP/1.1\r\nHost: www.example.com\r\nX-Forwarded-Host: admin.example.com\r\n\r\n", 200, "www.example.com"},
		{"two Host headers are refused", "RFC 9112 §3.2",
			"GET /public/x HTTP/1.1\r\nHost: www.example.com\r\nHost: admin.example.com\r\n\r\n", 400, ""},
		{"a request without Host is refused", "RFC 9112 §3.2",
			"GET /public/x HTTP/1.1\r\n\r\n", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tg.up.Count()
			res := rawRequest(t, addr, tc.raw)
			if res.StatusCode != tc.status {
				body, _ := io.ReadAll(res.Body)
				t.Fatalf("status %d, want %d; body %s", res.StatusCode, tc.status, body)
			}
			forwarded := tg.up.Count() - before
			if tc.status != 200 {
				if forwarded != 0 {
					t.Errorf("a refused request reached the upstream")
				}
				return
			}
			if forwarded != 1 {
				t.Fatalf("the upstream got %d requests, want 1", forwarded)
			}
			up := tg.up.Last()
			if got := up.Header.Get("X-Forwarded-Host"); got != tc.xfh {
				t.Errorf("X-Forwarded-Host = %q, want %q", got, tc.xfh)
			}
			if up.Host != strings.TrimPrefix(tg.up.URL, "http://") {
				t.Errorf("upstream Host = %q, want its own %q", up.Host, strings.TrimPrefix(tg.up.URL, "http://"))
			}
		})
	}
}

// TestOversizedHeaders: past server.max_header_bytes the request is refused
// with 431 (RFC 6585 §5) by the listener, before any handler runs.
func TestOversizedHeaders(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t, func(s *settings) { s.MaxHeaderBytes = 4096 })
	addr := tg.serve()
	var many strings.Builder
	for i := range 2000 {
		many.WriteString("X-Filler-")
		many.WriteString(itoa(int64(i)))
		many.WriteString(": x\r\n")
	}
	for _, tc := range []struct{ name, headers string }{
		{"one 64 KB header", "X-Big: " + strings.Repeat("a", 64<<10) + "\r\n"},
		{"2000 small headers", many.String()},
		{"a 64 KB Authorization header", "Authorization: Bearer " + strings.Repeat("a", 64<<10) + "\r\n"},
	} {
		t.Run(tc.name+" is 431", func(t *testing.T) {
			before := tg.up.Count()
			res := rawRequest(t, addr, "GET /public/x HTTP/1.1\r\nHost: api.example.com\r\n"+tc.headers+"\r\n")
			if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("status %d, want 431", res.StatusCode)
			}
			if tg.up.Count() != before {
				t.Errorf("the upstream was reached")
			}
		})
	}
}

// TestSlowloris: a client that opens connections and sends its request a
// byte at a time (CVE-2007-6750) holds nothing for longer than
// server.read_header_timeout; one that stalls its body, nothing for longer
// than server.read_timeout.
func TestSlowloris(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t, func(s *settings) { s.ReadHeaderTimeout = "300ms" })
	addr := tg.serve()
	for _, tc := range []struct{ name, sent string }{
		{"a half-sent request line is closed at read_header_timeout", "GET /public/x HT"},
		{"half-sent headers are closed at read_header_timeout", "GET /public/x HTTP/1.1\r\nHost: api.example.com\r\nX-Slow: aaaa"},
		{"a connection that sends nothing is closed at read_header_timeout", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.sent); err != nil {
				t.Fatal(err)
			}
			// The gateway must close the connection; the test waits at most
			// 5s (16 times the timeout) for it to do so.
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the connection was still open after 5s: read_header_timeout is not enforced")
			}
		})
	}
	if tg.up.Count() != 0 {
		t.Errorf("a half-sent request reached the upstream")
	}
}

// TestSlowBody: read_timeout bounds each pause of a request's body, so a
// client that sends headers and then stalls its body is cut off.
func TestSlowBody(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t, func(s *settings) { s.ReadTimeout = "500ms" })
	addr := tg.serve()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /public/upload HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 1000\r\n\r\nabc")
	// 3s: well past read_timeout, and short of the route's 5s timeout,
	// which would otherwise close the exchange instead.
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the connection was still open after 3s: read_timeout is not enforced")
	}
	if n := tg.up.Count(); n > 0 && tg.up.Last().BodyLen == 1000 {
		t.Errorf("the upstream received a whole body that was never sent")
	}
}

// TestBodiesAreStreamed: a request body goes to the upstream as it arrives
// and is never buffered whole (which would let a client make the gateway
// hold its body in memory, CWE-400); a refused request's body is not read
// before the refusal.
func TestBodiesAreStreamed(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t)
	addr := tg.serve()

	t.Run("the upstream reads the first chunk before the client has sent the rest", func(t *testing.T) {
		const first, total = 64 << 10, 8 << 20
		gotFirst := make(chan struct{})
		tg.up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
			sum := sha256.New()
			if _, err := io.CopyN(sum, r.Body, first); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			close(gotFirst)
			n, _ := io.Copy(sum, r.Body)
			w.Header().Set("X-Body-Len", itoa(n+first))
			w.Header().Set("X-Body-Sum", string(sum.Sum(nil)[:8]))
		})
		defer tg.up.SetHandler(nil)

		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/public/upload", pr)
		req.Host = apiHost
		type result struct {
			res *http.Response
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
			done <- result{res, err}
		}()
		chunk := make([]byte, first)
		for i := range chunk {
			chunk[i] = byte(i)
		}
		sum := sha256.New()
		write := func(b []byte) {
			if _, err := pw.Write(b); err != nil {
				t.Fatalf("writing the body: %v", err)
			}
			sum.Write(b)
		}
		write(chunk)
		select {
		case <-gotFirst:
		case <-time.After(10 * time.Second):
			pw.CloseWithError(errors.New("test gave up"))
			t.Fatal("the upstream did not see the first 64 KiB while the client held the rest: the body is buffered")
		}
		for sent := first; sent < total; sent += first {
			write(chunk)
		}
		pw.Close()
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.res.Body.Close()
		if r.res.StatusCode != 200 || r.res.Header.Get("X-Body-Len") != itoa(total) || r.res.Header.Get("X-Body-Sum") != string(sum.Sum(nil)[:8]) {
			t.Errorf("status %d, upstream read %s bytes (want %d), checksum match %v",
				r.res.StatusCode, r.res.Header.Get("X-Body-Len"), total, r.res.Header.Get("X-Body-Sum") == string(sum.Sum(nil)[:8]))
		}
	})

	t.Run("a refused request is answered before its body is sent", func(t *testing.T) {
		before := tg.up.Count()
		res := rawRequest(t, addr, "POST /private/upload HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 104857600\r\n\r\n"+strings.Repeat("x", 1024))
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", res.StatusCode)
		}
		if tg.up.Count() != before {
			t.Error("the upstream was reached")
		}
	})
}
