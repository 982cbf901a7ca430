package attack_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// streamYAML is a gateway whose listener deadlines are short, so that a
// test can outlive them in a second or two: read_timeout and write_timeout
// are 1s. The idle route cuts a stream that pauses for 300ms, the ws route
// one that pauses for 200ms; the events route's pause bound is
// {{.EventsIdle}}. Every route is public: what is
// under test is how long a forwarded exchange may last, not who may start
// one.
const streamYAML = `
server:
  listen: "127.0.0.1:0"
  admin_listen: "127.0.0.1:0"
  read_header_timeout: 500ms
  read_timeout: 1s
  write_timeout: 1s
  idle_timeout: 5s
  shutdown_grace: 2s
log:
  level: debug
  access_log: true
routes:
  - name: events
    match: {path_prefix: /events}
    upstream: "{{.Upstream}}"
    timeout: 800ms
    stream_idle_timeout: {{.EventsIdle}}
    auth: {mode: public}
  - name: idle
    match: {path_prefix: /idle}
    upstream: "{{.Upstream}}"
    timeout: 800ms
    stream_idle_timeout: 300ms
    auth: {mode: public}
  - name: upload
    match: {path_prefix: /upload}
    upstream: "{{.Upstream}}"
    timeout: 800ms
    auth: {mode: public}
  - name: ws
    match: {path_prefix: /ws}
    upstream: "{{.Upstream}}"
    timeout: 800ms
    stream_idle_timeout: 200ms
    auth: {mode: public}
`

// streamSettings fill streamYAML.
type streamSettings struct {
	Upstream   string
	EventsIdle string
}

// streamTarget is a gateway built from streamYAML, serving on its own
// listeners (gateway.Serve, with the configured deadlines), in front of an
// upstream that up serves.
func streamTarget(t *testing.T, up http.Handler) (tg *target, addr string, s streamSettings) {
	t.Helper()
	upstream := httptest.NewServer(up)
	t.Cleanup(upstream.Close)
	s = streamSettings{Upstream: upstream.URL, EventsIdle: "60s"}
	cfg := parseConfig(t, streamYAML, s)
	tg = &target{t: t, cfg: cfg}
	tg.use(gatewaytest.Options{LogLevel: zapcore.DebugLevel}.Start(t, cfg))
	return tg, tg.serve(), s
}

// events is an upstream of Server-Sent Events: n events, one every
// interval, then the end of the stream.
func events(n int, interval time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for i := range n {
			if _, err := fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			select {
			case <-time.After(interval):
			case <-r.Context().Done():
				return
			}
		}
	}
}

// readEvents reads an event stream until it ends and returns the data
// lines and how the stream ended (nil: a clean end).
func readEvents(body io.Reader) (data []string, err error) {
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	return data, sc.Err()
}

// TestStreamOutlivesWriteTimeout: a Server-Sent Events stream that keeps
// sending is not cut by server.write_timeout, which bounds a response until
// it starts streaming, not the whole stream: a gateway that cuts it turns a
// live feed into one that breaks every minute. 17 events 150ms apart last
// 2.4s, more than twice the 1s write_timeout.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	const n = 17
	_, addr, _ := streamTarget(t, events(n, 150*time.Millisecond))
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/events/feed", nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := (&http.Client{Timeout: 8 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	data, err := readEvents(res.Body)
	if err != nil || len(data) != n || data[n-1] != fmt.Sprintf("event %d", n-1) {
		t.Fatalf("got %d of %d events (last %q), stream ended with %v: the stream was cut", len(data), n, last(data), err)
	}
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// TestUploadOutlivesReadTimeout: a request body that keeps arriving is not
// cut by server.read_timeout (1s here) nor by the route's timeout (800ms),
// and reaches the upstream whole: 12 chunks 150ms apart take 1.8s.
func TestUploadOutlivesReadTimeout(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	_, addr, _ := streamTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.New()
		n, err := io.Copy(sum, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %x", n, sum.Sum(nil))
	}))

	const chunks, size = 12, 4 << 10
	pr, pw := io.Pipe()
	sum := sha256.New()
	go func() {
		chunk := bytes.Repeat([]byte("0123456789abcdef"), size/16)
		for i := range chunks {
			if i > 0 {
				time.Sleep(150 * time.Millisecond)
			}
			chunk[0] = byte(i)
			sum.Write(chunk)
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/upload/file", pr)
	req.ContentLength = chunks * size
	res, err := (&http.Client{Timeout: 8 * time.Second}).Do(req)
	if err != nil {
		pw.CloseWithError(err)
		t.Fatalf("the upload failed: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	want := fmt.Sprintf("%d %s", chunks*size, hex.EncodeToString(sum.Sum(nil)))
	if res.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("status %d, upstream read %q, want %q", res.StatusCode, body, want)
	}
}

// wsKey and wsAccept are upgrade_test.go's.

// echoWebSocket is an upstream that accepts a WebSocket handshake, takes
// the connection over and echoes every byte until the client closes it.
// The tunnel is opaque to the gateway, so the bytes need no framing.
func echoWebSocket(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-WebSocket-Key") != wsKey {
			http.Error(w, "not a websocket handshake", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("upstream hijack: %v", err)
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(8 * time.Second))
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", wsAccept)
		if err := brw.Flush(); err != nil {
			return
		}
		_, _ = io.Copy(conn, brw)
	}
}

// TestWebSocketTunnelOutlivesWriteTimeout: a WebSocket connection, once
// switched (101), is a tunnel that net/http no longer bounds (Hijack clears
// the connection's deadlines) and that the gateway does not cut either
// while it is open: messages go both ways for 1.6s, past the 1s
// write_timeout and read_timeout, with pauses (400ms) longer than the
// route's stream_idle_timeout (200ms), which bounds HTTP response bodies
// only. Its liveness is the application's (WebSocket ping and pong).
func TestWebSocketTunnelOutlivesWriteTimeout(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	_, addr, _ := streamTarget(t, echoWebSocket(t))
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(8 * time.Second))
	_, _ = io.WriteString(conn, "GET /ws/chat HTTP/1.1\r\nHost: api.example.com\r\n"+
		"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: "+wsKey+"\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Accept") != wsAccept {
		t.Fatalf("handshake: status %d, Sec-WebSocket-Accept %q", res.StatusCode, res.Header.Get("Sec-WebSocket-Accept"))
	}
	start := time.Now()
	for i := 0; i < 5; i++ {
		if i > 0 {
			time.Sleep(400 * time.Millisecond)
		}
		msg := fmt.Sprintf("message %d;", i)
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatalf("after %v, writing %q: %v: the tunnel was cut", time.Since(start).Round(time.Millisecond), msg, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no echo of %q within the test's deadline", msg)
			}
			t.Fatalf("after %v, echo %q, %v: the tunnel was cut", time.Since(start).Round(time.Millisecond), got, err)
		}
	}
}

// TestStalledStreamIsCut: stream_idle_timeout bounds each pause of a
// response, whichever side pauses: an upstream that stops sending
// mid-stream (a dead backend would otherwise hold the client and a
// connection forever), or a client that stops reading (slow read,
// CWE-400: the gateway would otherwise buffer and wait for it). The
// client sees the connection end, the upstream's connection is closed, and
// the access log says why: the status that was sent, reason stream_idle.
// A stream that keeps moving on the same route is not cut.
func TestStalledStreamIsCut(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	upstreamGone := make(chan struct{}, 1)
	const chunk, chunks = 32 << 10, 4096 // 128 MiB: far more than loopback buffers hold
	mux := http.NewServeMux()
	mux.HandleFunc("/idle/silent", func(w http.ResponseWriter, r *http.Request) {
		events(2, 0)(w, r)
		select {
		case <-r.Context().Done():
			upstreamGone <- struct{}{}
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/idle/flood", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		b := bytes.Repeat([]byte{'x'}, chunk)
		for range chunks {
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/idle/feed", events(12, 100*time.Millisecond))
	tg, addr, _ := streamTarget(t, mux)

	t.Run("an upstream that goes silent mid-stream is cut", func(t *testing.T) {
		res, err := (&http.Client{Timeout: 8 * time.Second}).Get("http://" + addr + "/idle/silent")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, err := readEvents(res.Body)
		if len(data) != 2 || err == nil {
			t.Fatalf("got %d events and the stream ended with %v, want 2 events and a broken stream", len(data), err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the stream was still open when the client gave up: stream_idle_timeout is not enforced")
		}
		select {
		case <-upstreamGone:
		case <-time.After(3 * time.Second):
			t.Error("the upstream's request was not cancelled: its connection is still held")
		}
		line := accessLine(t, tg, "path", "/idle/silent")
		if line["reason"] != "stream_idle" || line["status"] != int64(200) {
			t.Errorf("access log: reason %v, status %v; want stream_idle, 200 (what the client was sent)", line["reason"], line["status"])
		}
	})

	t.Run("a client that stops reading is cut", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(8 * time.Second))
		_, _ = io.WriteString(conn, "GET /idle/flood HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("status %v, %v", res, err)
		}
		// The client reads nothing for 1.5s (five times the bound), then
		// what the connection still holds.
		time.Sleep(1500 * time.Millisecond)
		n, err := io.Copy(io.Discard, res.Body)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the stream was still open after 8s: a client that reads nothing is not cut")
		}
		if err == nil || n >= chunk*chunks {
			t.Fatalf("read %d of %d bytes, ending with %v: want a stream cut short", n, chunk*chunks, err)
		}
		if line := accessLine(t, tg, "path", "/idle/flood"); line["reason"] != "stream_idle" || line["status"] != int64(200) {
			t.Errorf("access log: reason %v, status %v; want stream_idle, 200", line["reason"], line["status"])
		}
	})

	t.Run("a stream that keeps moving is not cut", func(t *testing.T) {
		// 12 events 100ms apart: 1.2s, four times the 300ms bound.
		res, err := (&http.Client{Timeout: 8 * time.Second}).Get("http://" + addr + "/idle/feed")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if data, err := readEvents(res.Body); len(data) != 12 || err != nil {
			t.Fatalf("got %d of 12 events, stream ended with %v", len(data), err)
		}
	})

	if n := tg.allFailures(t); n != 0 {
		t.Errorf("portcullis_auth_failures_total = %v: a cut stream is not an authentication failure", n)
	}
}

// TestBrokenStreamSaysWhoBrokeIt: a response stream that breaks off after
// its 200 was sent keeps that status in the access line, and its reason
// says who broke it: client_gone when the client left, upstream_error
// when the upstream's connection broke. Without a reason the line reads as
// a response that ended well.
func TestBrokenStreamSaysWhoBrokeIt(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	mux := http.NewServeMux()
	mux.HandleFunc("/events/long", events(100, 50*time.Millisecond))
	mux.HandleFunc("/events/breaks", func(w http.ResponseWriter, r *http.Request) {
		events(2, 0)(w, r)
		panic(http.ErrAbortHandler) // the upstream's connection breaks mid-body
	})
	mux.HandleFunc("/events/whole", events(3, 0))
	tg, addr, _ := streamTarget(t, mux)

	read := func(t *testing.T, path string, events int) {
		t.Helper()
		res, err := (&http.Client{Timeout: 8 * time.Second}).Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", res.StatusCode)
		}
		sc := bufio.NewScanner(res.Body)
		for seen := 0; seen < events && sc.Scan(); {
			if strings.HasPrefix(sc.Text(), "data: ") {
				seen++
			}
		}
	}
	for _, tc := range []struct {
		name, path string
		events     int    // read before the client closes
		reason     string // in the access line
	}{
		{"a client that leaves mid-stream is client_gone", "/events/long", 2, "client_gone"},
		{"an upstream that breaks mid-stream is upstream_error", "/events/breaks", 10, "upstream_error"},
		{"a stream read to its end has no reason", "/events/whole", 10, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read(t, tc.path, tc.events)
			line := accessLine(t, tg, "path", tc.path)
			if line["reason"] != tc.reason || line["status"] != int64(200) {
				t.Errorf("access log: reason %q, status %v; want %q, 200 (what the client was sent)", line["reason"], line["status"], tc.reason)
			}
		})
	}
	if n := tg.allFailures(t); n != 0 {
		t.Errorf("portcullis_auth_failures_total = %v: a broken stream is not an authentication failure", n)
	}
}

// TestStalledUploadIs408: a request body that stops arriving for longer
// than read_timeout (1s) is cut, as nginx's client_body_timeout does: 408
// (RFC 9110 §15.5.9) with Connection: close, reason client_timeout, while
// one that keeps arriving is not (TestUploadOutlivesReadTimeout).
func TestStalledUploadIs408(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg, addr, _ := streamTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, "POST /upload/file HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 1000\r\n\r\nabc")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response to a stalled body within 5s: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), `"request_timeout"`) || !res.Close {
		t.Fatalf("status %d, close %v, body %s; want 408, request_timeout, Connection: close", res.StatusCode, res.Close, body)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("the connection stayed open after the 408")
	}
	if line := accessLine(t, tg, "path", "/upload/file"); line["reason"] != "client_timeout" || line["status"] != int64(408) {
		t.Errorf("access log: reason %v, status %v", line["reason"], line["status"])
	}
	if n := tg.allFailures(t); n != 0 {
		t.Errorf("portcullis_auth_failures_total = %v: a stalled body is not an authentication failure", n)
	}
}

// TestReloadAppliesStreamIdleTimeout: stream_idle_timeout is a route's, so
// a reload that changes it applies to the next stream on that route.
func TestReloadAppliesStreamIdleTimeout(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	// Two events 600ms apart: within the first file's 60s, past the
	// reloaded 200ms.
	tg, addr, s := streamTarget(t, events(2, 600*time.Millisecond))
	stream := func() ([]string, error) {
		res, err := (&http.Client{Timeout: 8 * time.Second}).Get("http://" + addr + "/events/feed")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return readEvents(res.Body)
	}
	if data, err := stream(); len(data) != 2 || err != nil {
		t.Fatalf("before the reload: %d of 2 events, %v", len(data), err)
	}
	s.EventsIdle = "200ms"
	if err := tg.gw.Reload(t.Context(), parseConfig(t, streamYAML, s)); err != nil {
		t.Fatal(err)
	}
	if data, err := stream(); len(data) != 1 || err == nil {
		t.Fatalf("after the reload: %d events, stream ended with %v; want 1 and a cut", len(data), err)
	}
}

// TestRouteTimeoutCountsFromTheEndOfTheBody: the route's timeout (800ms)
// is the upstream's time to answer a request it has whole, so an upload
// that takes longer than it is not cut, and an upstream that then says
// nothing is answered 504 on time. Neither is an authentication failure.
func TestRouteTimeoutCountsFromTheEndOfTheBody(t *testing.T) {
	t.Parallel() // it mostly waits on timers; TestNoGrowthAcrossRejectedRequests says why this is safe
	read := make(chan int64, 1)
	tg, addr, _ := streamTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		read <- n
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	pr, pw := io.Pipe()
	go func() {
		for i := range 8 {
			if i > 0 {
				time.Sleep(150 * time.Millisecond)
			}
			if _, err := pw.Write([]byte("0123456789abcdef")); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/upload/file", pr)
	req.ContentLength = 8 * 16
	res, err := (&http.Client{Timeout: 8 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	select {
	case n := <-read:
		if n != 8*16 {
			t.Errorf("the upstream read %d of %d bytes", n, 8*16)
		}
	default:
		t.Fatal("the gateway answered before the upstream had the whole body")
	}
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", res.StatusCode)
	}
	if line := accessLine(t, tg, "path", "/upload/file"); line["reason"] != "upstream_timeout" {
		t.Errorf("access log: reason %v", line["reason"])
	}
	if n := tg.allFailures(t); n != 0 {
		t.Errorf("portcullis_auth_failures_total = %v: an upstream timeout is not an authentication failure", n)
	}
}

// TestGRPCClaimKeepsTheRouteTimeout: a request that says it is gRPC is
// timed as a stream (stream_idle_timeout, not the route's timeout) only on
// a route whose upstream can carry gRPC (h2c, or https with HTTP/2). On a
// plain HTTP/1.1 upstream the Content-Type is only a claim, and it must not
// lift the route's timeout: the call is cut at 800ms as any other would be,
// and told so in gRPC's terms.
func TestGRPCClaimKeepsTheRouteTimeout(t *testing.T) {
	t.Parallel() // it mostly waits on timers
	tg, addr, _ := streamTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/upload/svc.Test/Call", strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("Content-Type", "application/grpc")
	res, err := (&http.Client{Timeout: 8 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Grpc-Status"); res.StatusCode != http.StatusOK || got != "4" {
		t.Fatalf("status %d, grpc-status %q; want the route timeout as DEADLINE_EXCEEDED (200, 4)", res.StatusCode, got)
	}
	if line := accessLine(t, tg, "path", "/upload/svc.Test/Call"); line["reason"] != "upstream_timeout" {
		t.Errorf("access log: reason %v", line["reason"])
	}
}
