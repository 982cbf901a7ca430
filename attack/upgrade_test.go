package attack_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/net/http2"
	//lint:ignore SA1019 an upstream that accepts HTTP/1.1's Upgrade: h2c, which net/http's Protocols do not offer (prior knowledge only)
	"golang.org/x/net/http2/h2c"
	"golang.org/x/net/http2/hpack"

	"github.com/portcullis/portcullis/config"
)

// Protocol upgrades and CONNECT: the requests that ask the gateway to stop
// being an HTTP proxy and become a byte tunnel. Past a tunnel the gateway
// sees nothing, so whatever travels through one has passed no policy: a
// client that gets an h2c tunnel on a public route can send HTTP/2 requests
// for /admin straight to the upstream (h2c smuggling, Bishop Fox 2020).
// Only an RFC 6455 WebSocket handshake on a route whose checks passed may
// become a tunnel, and only when the upstream answers it as one.

// wsKey is RFC 6455 §1.3's sample key; wsAccept is the answer it requires.
const (
	wsKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	wsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// wsHandshake is the headers of an RFC 6455 §4.1 opening handshake.
const wsHandshake = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 13\r\n"

// h2cSettings is an HTTP2-Settings value (RFC 7540 §3.2.1), as curl sends it.
const h2cSettings = "AAMAAABkAAQCAAAAAAIAAAAA"

// h2cUpgrade is the header block of an h2c upgrade, as RFC 7540 §3.2 and
// h2csmuggler shape it.
const h2cUpgrade = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + h2cSettings + "\r\n"

// h2cUpstream is an upstream that speaks HTTP/2 over cleartext, reached by
// the HTTP/1.1 Upgrade of RFC 7540 §3.2 (golang.org/x/net/http2/h2c), and
// that is lenient about it as many servers are: it upgrades on `Upgrade:
// h2c` even when a proxy rewrote Connection to a bare "Upgrade" and dropped
// HTTP2-Settings. It records every request it serves, per protocol.
type h2cUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	proto, method, path string
	header              http.Header
}

func newH2CUpstream(t *testing.T) *h2cUpstream {
	u := &h2cUpstream{}
	served := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			u.record(r) // the HTTP/1.1 requests were recorded as they arrived
		}
		_, _ = io.WriteString(w, "served "+r.Proto+" "+r.URL.Path)
	})
	//lint:ignore SA1019 as at the import: only this handler answers an Upgrade: h2c
	upgrading := h2c.NewHandler(served, &http2.Server{})
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.record(r)
		if tokenIn(r.Header.Values("Upgrade"), "h2c") {
			r.Header.Add("Connection", "HTTP2-Settings")
			if len(r.Header.Values("HTTP2-Settings")) == 0 {
				r.Header.Set("HTTP2-Settings", "")
			}
		}
		upgrading.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *h2cUpstream) record(r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seen = append(u.seen, seenRequest{r.Proto, r.Method, r.URL.Path, r.Header.Clone()})
}

func (u *h2cUpstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

// served reports whether the upstream served an HTTP/2 request for path
// after its first since requests.
func (u *h2cUpstream) served(path string, since int) bool {
	for _, s := range u.requests()[since:] {
		if s.proto == "HTTP/2.0" && s.path == path {
			return true
		}
	}
	return false
}

func tokenIn(vals []string, token string) bool {
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// smuggleH2 sends, on conn, what an h2c client sends once it believes the
// connection was upgraded (RFC 9113 §3.4): the preface, its SETTINGS, and a
// request on stream 3 for path with no Authorization. Then it waits, at
// most two seconds, until the upstream served path or the gateway closed
// the connection.
func smuggleH2(t *testing.T, conn net.Conn, br *bufio.Reader, up *h2cUpstream, path string, since int) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", apiHost}, {":path", path}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		return // the gateway already closed the connection
	}
	fr := http2.NewFramer(conn, br)
	_ = fr.WriteSettings()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	drained := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, br); close(drained) }()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && !up.served(path, since); {
		select {
		case <-drained:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestH2CSmuggling: an h2c upgrade on a public route is served as a plain
// HTTP/1.1 request, never as a switch of protocol (RFC 9110 §7.8 lets a
// server ignore Upgrade): the client gets no 101, the upstream never sees
// Upgrade: h2c or HTTP2-Settings, and HTTP/2 frames sent after it reach no
// upstream, so a protected path cannot be requested through a tunnel
// opened on a public one (h2c smuggling, Bishop Fox 2020; CWE-444).
func TestH2CSmuggling(t *testing.T) {
	t.Parallel() // it waits on connections; TestNoGrowthAcrossRejectedRequests says why this is safe
	up := newH2CUpstream(t)
	tg := newTarget(t, func(s *settings) { s.Upstream = up.URL })
	addr := tg.serve()
	for _, tc := range []struct{ name, raw string }{
		{"an h2c upgrade, as RFC 7540 §3.2 shapes it",
			"GET /anything HTTP/1.1\r\nHost: api.example.com\r\n" + h2cUpgrade + "\r\n"},
		{"an h2c upgrade spelled H2C",
			"GET /anything HTTP/1.1\r\nHost: api.example.com\r\nConnection: upgrade\r\nUpgrade: H2C\r\nHTTP2-Settings: " + h2cSettings + "\r\n\r\n"},
		{"an h2c upgrade listed after websocket",
			"GET /anything HTTP/1.1\r\nHost: api.example.com\r\n" + wsHandshake + "Upgrade: h2c\r\n\r\n"},
		{"an h2c upgrade on a POST with a body",
			"POST /anything HTTP/1.1\r\nHost: api.example.com\r\n" + h2cUpgrade + "Content-Length: 5\r\n\r\nhello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const protected = "/private/smuggled"
			before := len(up.requests())
			id := fmt.Sprintf("h2c-%d", before)
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			raw := strings.Replace(tc.raw, "\r\n", "\r\nX-Request-Id: "+id+"\r\n", 1)
			if _, err := io.WriteString(conn, raw); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the response: %v", err)
			}
			if res.StatusCode != http.StatusSwitchingProtocols {
				_, _ = io.Copy(io.Discard, res.Body)
			}
			res.Body.Close()
			smuggleH2(t, conn, br, up, protected, before)

			if res.StatusCode == http.StatusSwitchingProtocols {
				t.Errorf("the client got 101 Switching Protocols (Upgrade: %q): the gateway relays a tunnel", res.Header.Get("Upgrade"))
			} else if res.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200: the request is served without its upgrade", res.StatusCode)
			}
			if up.served(protected, before) {
				t.Errorf("the upstream served a smuggled HTTP/2 request for %s that carried no token", protected)
			}
			if line := accessLine(t, tg, "request_id", id); line["upgrade"] != "stripped" || line["status"] != int64(200) {
				t.Errorf("access log: status %v, upgrade %v; want 200, stripped", line["status"], line["upgrade"])
			}
			got := up.requests()[before:]
			if len(got) == 0 {
				t.Fatal("the upstream received nothing: the request itself is public")
			}
			for _, s := range got {
				if v := s.header.Values("Upgrade"); len(v) > 0 {
					t.Errorf("the upstream received %s %s with Upgrade %q", s.proto, s.path, v)
				}
				if v := s.header.Values("HTTP2-Settings"); len(v) > 0 {
					t.Errorf("the upstream received %s %s with HTTP2-Settings %q", s.proto, s.path, v)
				}
			}
		})
	}
	t.Run("h2c with prior knowledge is refused before routing", func(t *testing.T) {
		before := len(up.requests())
		res := rawRequest(t, addr, http2.ClientPreface)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400 (the preface's PRI * is not a path)", res.StatusCode)
		}
		if n := len(up.requests()) - before; n != 0 {
			t.Errorf("the upstream received %d requests", n)
		}
	})
}

// TestUpgradeTokensOtherThanWebSocket: whatever a client puts in Upgrade,
// the upstream receives it only as one RFC 6455 handshake asking for
// websocket alone; anything else (another protocol, a list, a second
// Upgrade header, a handshake that is not RFC 6455's) is forwarded as a
// plain request with no Upgrade, and HTTP2-Settings never travels
// (RFC 9110 §7.8: a server may ignore Upgrade; RFC 6455 §4.1).
func TestUpgradeTokensOtherThanWebSocket(t *testing.T) {
	t.Parallel() // it waits on connections; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t)
	addr := tg.serve()
	const get = "GET /anything HTTP/1.1\r\nHost: api.example.com\r\n"
	for _, tc := range []struct{ name, raw string }{
		{"an unknown protocol", get + "Connection: Upgrade\r\nUpgrade: foo/1\r\n\r\n"},
		{"h2c", get + h2cUpgrade + "\r\n"},
		{"TLS/1.0 (RFC 2817)", get + "Connection: Upgrade\r\nUpgrade: TLS/1.0\r\n\r\n"},
		{"a list that starts with websocket", get + "Connection: Upgrade\r\nUpgrade: websocket, h2c\r\nSec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"a list that ends with websocket", get + "Connection: Upgrade\r\nUpgrade: h2c, websocket\r\nSec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"websocket and a second Upgrade header", get + wsHandshake + "Upgrade: foo/1\r\n\r\n"},
		{"websocket with a version", get + "Connection: Upgrade\r\nUpgrade: websocket/13\r\nSec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"websocket on a POST", "POST /anything HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 0\r\n" + wsHandshake + "\r\n"},
		{"websocket over HTTP/1.0", "GET /anything HTTP/1.0\r\nHost: api.example.com\r\n" + wsHandshake + "\r\n"},
		{"websocket without Sec-WebSocket-Key", get + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"websocket with a key that is not 16 bytes", get + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: aGVsbG8=\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"websocket with two keys", get + wsHandshake + "Sec-WebSocket-Key: " + wsKey + "\r\n\r\n"},
		{"websocket version 8", get + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 8\r\n\r\n"},
		{"websocket without Connection: Upgrade", get + "Upgrade: websocket\r\nSec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"HTTP2-Settings without Upgrade", get + "HTTP2-Settings: " + h2cSettings + "\r\n\r\n"},
	} {
		t.Run(tc.name+" is forwarded without Upgrade", func(t *testing.T) {
			before := tg.up.Count()
			res := rawRequest(t, addr, tc.raw)
			if res.StatusCode != http.StatusOK || res.Header.Get("X-Echo") != "1" {
				t.Fatalf("status %d (echo %q), want the upstream's 200", res.StatusCode, res.Header.Get("X-Echo"))
			}
			if n := tg.up.Count() - before; n != 1 {
				t.Fatalf("the upstream received %d requests, want 1", n)
			}
			h := tg.up.Last().Header
			for _, name := range []string{"Upgrade", "HTTP2-Settings", "Connection"} {
				if v := h.Values(name); len(v) > 0 {
					t.Errorf("the upstream received %s: %q", name, v)
				}
			}
		})
	}
}

// wsUpstream makes tg's upstream answer WebSocket handshakes as an RFC 6455
// server does, then read one client frame and send its payload back in a
// server frame. A request that is not a handshake gets 400.
func wsUpstream(tg *target) {
	tg.up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-WebSocket-Version") != "13" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			acceptFor(r.Header.Get("Sec-WebSocket-Key")))
		_ = brw.Flush()
		payload, err := readFrame(brw.Reader)
		if err != nil {
			return
		}
		_, _ = brw.Write(frame(payload, nil))
		_ = brw.Flush()
	})
}

// acceptFor is Sec-WebSocket-Accept for key (RFC 6455 §4.2.2).
func acceptFor(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// frame is one final text frame (RFC 6455 §5.2) of a short payload, masked
// when mask is given (a client's frames must be, §5.3).
func frame(payload, mask []byte) []byte {
	b := []byte{0x81, byte(len(payload))}
	if mask != nil {
		b[1] |= 0x80
		b = append(b, mask...)
	}
	for i, c := range payload {
		if mask != nil {
			c ^= mask[i%4]
		}
		b = append(b, c)
	}
	return b
}

// readFrame reads one short frame and returns its payload, unmasked.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[1] & 0x7f)
	if n > 125 {
		return nil, errors.New("frame too long for this test")
	}
	var mask []byte
	if hdr[1]&0x80 != 0 {
		mask = make([]byte, 4)
		if _, err := io.ReadFull(r, mask); err != nil {
			return nil, err
		}
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, err
	}
	for i := range payload {
		if mask != nil {
			payload[i] ^= mask[i%4]
		}
	}
	return payload, nil
}

// TestWebSocketOnlyAfterTheChecks: a WebSocket handshake on a required
// route becomes a tunnel once its token passed, carrying the gateway's
// claim headers and none of the client's; without a token, with a bad one
// or with too few scopes it is refused like any request, and nothing of the
// upgrade reaches the upstream (RFC 6455 §4.1, §10.5).
func TestWebSocketOnlyAfterTheChecks(t *testing.T) {
	t.Parallel() // it waits on connections; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t)
	wsUpstream(tg)
	addr := tg.serve()
	good := tg.rsa.Sign(tg.claims("orders:read").With("email", "alice@example.com"))
	bad := good[:len(good)-4] + "AAAA"
	handshake := func(path, auth string) string {
		s := "GET " + path + " HTTP/1.1\r\nHost: api.example.com\r\n" + wsHandshake +
			"X-User-Id: mallory\r\nX_User_Id: mallory\r\nX-User-Email: mallory@example.com\r\n"
		if auth != "" {
			s += "Authorization: " + auth + "\r\n"
		}
		return s + "\r\n"
	}

	t.Run("with a valid token the handshake is relayed and frames flow both ways", func(t *testing.T) {
		before := tg.up.Count()
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		raw := strings.Replace(handshake("/private/ws", "Bearer "+good), "\r\n", "\r\nX-Request-Id: ws-tunnel\r\n", 1)
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the response: %v", err)
		}
		if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Accept") != wsAccept {
			t.Fatalf("status %d, Sec-WebSocket-Accept %q: want 101 with %q", res.StatusCode, res.Header.Get("Sec-WebSocket-Accept"), wsAccept)
		}
		if _, err := conn.Write(frame([]byte("hello, upstream"), []byte{1, 2, 3, 4})); err != nil {
			t.Fatal(err)
		}
		got, err := readFrame(br)
		if err != nil || string(got) != "hello, upstream" {
			t.Fatalf("the echoed frame is %q (%v), want %q", got, err, "hello, upstream")
		}
		if n := tg.up.Count() - before; n != 1 {
			t.Fatalf("the upstream received %d requests, want 1", n)
		}
		up := tg.up.Last()
		if !strings.EqualFold(up.Header.Get("Upgrade"), "websocket") || up.Header.Get("Sec-WebSocket-Key") != wsKey {
			t.Errorf("the upstream's handshake: Upgrade %q, Sec-WebSocket-Key %q", up.Header.Get("Upgrade"), up.Header.Get("Sec-WebSocket-Key"))
		}
		claims := claimHeadersOf(up.Header)
		if want := []string{"alice"}; fmt.Sprint(claims["x-user-id"]) != fmt.Sprint(want) {
			t.Errorf("X-User-Id (all spellings) = %q, want %q", claims["x-user-id"], want)
		}
		if want := []string{"alice@example.com"}; fmt.Sprint(claims["x-user-email"]) != fmt.Sprint(want) {
			t.Errorf("X-User-Email (all spellings) = %q, want %q", claims["x-user-email"], want)
		}
		conn.Close() // the tunnel ends, and with it the request
		if line := accessLine(t, tg, "request_id", "ws-tunnel"); line["status"] != int64(101) || line["upgrade"] != "websocket_tunnel" || line["decision"] != "allowed" {
			t.Errorf("access log: status %v, upgrade %v, decision %v; want 101, websocket_tunnel, allowed", line["status"], line["upgrade"], line["decision"])
		}
	})

	for _, tc := range []struct {
		name, path, auth string
		status           int
		issuer, reason   string
	}{
		{"without a token the handshake is refused", "/private/ws", "", 401, "unknown", "missing"},
		{"with a bad signature the handshake is refused", "/private/ws", "Bearer " + bad, 401, "corp", "bad_signature"},
		{"with too few scopes the handshake is refused", "/orders/ws", "Bearer " + tg.rsa.Sign(tg.claims("profile")), 403, "corp", "insufficient_scope"},
	} {
		t.Run(tc.name+" through the listener", func(t *testing.T) {
			before := tg.up.Count()
			res := rawRequest(t, addr, handshake(tc.path, tc.auth))
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if n := tg.up.Count() - before; n != 0 {
				t.Errorf("the upstream received %d requests", n)
			}
		})
		t.Run(tc.name+" and counted", func(t *testing.T) {
			var auth []string
			if tc.auth != "" {
				auth = []string{tc.auth}
			}
			req := request(tc.path, auth, "Connection", "Upgrade", "Upgrade", "websocket",
				"Sec-WebSocket-Key", wsKey, "Sec-WebSocket-Version", "13")
			tg.refused(t, req, tc.status, tc.issuer, tc.reason)
		})
	}
}

// TestWebSocketOffForARoute: on a route with websocket: false, a valid
// handshake with a valid token is served as the plain GET it then is: the
// upstream never sees its Upgrade, and the client gets no 101.
func TestWebSocketOffForARoute(t *testing.T) {
	t.Parallel() // it waits on connections; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t)
	for i := range tg.cfg.Routes {
		if tg.cfg.Routes[i].Name == "private" {
			tg.cfg.Routes[i].WebSocket = false
		}
	}
	tg.build(false)
	wsUpstream(tg)
	addr := tg.serve()
	good := tg.rsa.Sign(tg.claims("orders:read"))
	before := tg.up.Count()
	res := rawRequest(t, addr, "GET /private/ws HTTP/1.1\r\nHost: api.example.com\r\n"+wsHandshake+"Authorization: Bearer "+good+"\r\n\r\n")
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want the upstream's 400 to a GET that is not a handshake", res.StatusCode)
	}
	if n := tg.up.Count() - before; n != 1 {
		t.Fatalf("the upstream received %d requests, want 1", n)
	}
	if v := tg.up.Last().Header.Values("Upgrade"); len(v) > 0 {
		t.Errorf("the upstream received Upgrade %q", v)
	}
	if got := tg.up.Last().Header.Get("X-User-Id"); got != "alice" {
		t.Errorf("X-User-Id = %q: the request was not served as an authenticated one", got)
	}
}

// TestUnaskedProtocolSwitch: a 101 from the upstream is relayed only as the
// answer to the WebSocket handshake the client sent: to a request that
// asked for no upgrade, or with another protocol, or without the
// Sec-WebSocket-Accept that proves the upstream read this handshake
// (RFC 6455 §4.1, §4.2.2), the client gets 502 and the connection stays
// HTTP: nothing it sends afterwards reaches the upstream.
func TestUnaskedProtocolSwitch(t *testing.T) {
	t.Parallel() // it waits on connections; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t)
	addr := tg.serve()
	const get = "GET /anything HTTP/1.1\r\nHost: api.example.com\r\n"
	for _, tc := range []struct {
		name, request, answer string
	}{
		{"101 h2c to a plain request", get + "\r\n",
			"Connection: Upgrade\r\nUpgrade: h2c\r\n"},
		{"101 websocket to a plain request", get + "\r\n",
			"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + wsAccept + "\r\n"},
		{"101 websocket to a stripped h2c upgrade", get + h2cUpgrade + "\r\n",
			"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + wsAccept + "\r\n"},
		{"101 h2c to a websocket handshake", get + wsHandshake + "\r\n",
			"Connection: Upgrade\r\nUpgrade: h2c\r\n"},
		{"101 websocket without Sec-WebSocket-Accept", get + wsHandshake + "\r\n",
			"Connection: Upgrade\r\nUpgrade: websocket\r\n"},
		{"101 websocket with the Sec-WebSocket-Accept of another key", get + wsHandshake + "\r\n",
			"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + acceptFor("AAAAAAAAAAAAAAAAAAAAAA==") + "\r\n"},
		{"101 with two Upgrade headers", get + wsHandshake + "\r\n",
			"Connection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\nSec-WebSocket-Accept: " + wsAccept + "\r\n"},
	} {
		t.Run(tc.name+" is 502 and no tunnel", func(t *testing.T) {
			failures := tg.allFailures(t)
			id := "switch-" + strings.NewReplacer(" ", "-", ":", "").Replace(tc.name)
			var after atomic.Int64 // bytes the upstream read past its 101
			tg.up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
				conn, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\n"+tc.answer+"\r\n")
				_ = brw.Flush()
				_ = conn.SetReadDeadline(time.Now().Add(time.Second))
				n, _ := io.Copy(io.Discard, brw)
				after.Add(n)
			})
			defer tg.up.SetHandler(nil)
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, strings.Replace(tc.request, "\r\n", "\r\nX-Request-Id: "+id+"\r\n", 1)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the response: %v", err)
			}
			var body []byte
			if res.StatusCode != http.StatusSwitchingProtocols {
				body, _ = io.ReadAll(res.Body)
			}
			// What a client would send down a tunnel it believed open: to
			// the gateway, on a connection that is still HTTP, a malformed
			// request (400, closed).
			_, _ = io.WriteString(conn, "tunnelled bytes\r\n\r\n")
			_ = conn.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
			_, _ = io.Copy(io.Discard, br)
			if res.StatusCode != http.StatusBadGateway || !bytes.Contains(body, []byte(`"bad_gateway"`)) {
				t.Errorf("status %d, body %q: want 502 bad_gateway", res.StatusCode, body)
			}
			time.Sleep(50 * time.Millisecond) // let the upstream's read return
			if n := after.Load(); n != 0 {
				t.Errorf("the upstream read %d bytes past its 101: the gateway relayed a tunnel", n)
			}
			if line := accessLine(t, tg, "request_id", id); line["status"] != int64(502) || line["reason"] != "upstream_bad_upgrade" {
				t.Errorf("access log: status %v, reason %v; want 502, upstream_bad_upgrade", line["status"], line["reason"])
			}
			if got := tg.allFailures(t); got != failures {
				t.Errorf("portcullis_auth_failures_total went from %v to %v: an upstream's fault is no authentication failure", failures, got)
			}
		})
	}
}

// TestConnectIsRefused: CONNECT asks for a tunnel, and a 2xx answer opens
// one (RFC 9110 §9.3.6), so it is refused with 405 on every route, before
// routing, whatever token it carries: never forwarded, never counted as an
// authentication failure.
func TestConnectIsRefused(t *testing.T) {
	t.Parallel() // it waits on connections; TestNoGrowthAcrossRejectedRequests says why this is safe
	tg := newTarget(t)
	addr := tg.serve()
	good := tg.rsa.Sign(tg.claims("orders:read orders:write").With("tenant", "acme"))
	for _, tc := range []struct{ name, raw string }{
		{"authority form to a closed port", "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"},
		{"authority form to the API host", "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n"},
		{"origin form on a public route", "CONNECT /anything HTTP/1.1\r\nHost: api.example.com\r\n\r\n"},
		{"origin form with a valid token on a route without methods", "CONNECT /orders/1 HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer " + good + "\r\n\r\n"},
	} {
		t.Run(tc.name+" through the listener", func(t *testing.T) {
			before := tg.up.Count()
			res := rawRequest(t, addr, tc.raw)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405; body %s", res.StatusCode, body)
			}
			if allow := res.Header.Get("Allow"); allow == "" || strings.Contains(allow, "CONNECT") {
				t.Errorf("Allow = %q, want the methods served, CONNECT not among them", allow)
			}
			if !bytes.Contains(body, []byte(`"method_not_allowed"`)) {
				t.Errorf("body %s, want a JSON method_not_allowed error", body)
			}
			if n := tg.up.Count() - before; n != 0 {
				t.Errorf("the upstream received %d requests", n)
			}
		})
	}
	t.Run("through the handler: refused, unmatched, and no auth failure counted", func(t *testing.T) {
		was := testutil.ToFloat64(tg.m.Requests.WithLabelValues("unmatched", "CONNECT", "405", "proxy"))
		req := request("/orders/1", bearer(good))
		req.Method = http.MethodConnect
		tg.refused(t, req, http.StatusMethodNotAllowed, "", "")
		if got := testutil.ToFloat64(tg.m.Requests.WithLabelValues("unmatched", "CONNECT", "405", "proxy")); got != was+1 {
			t.Errorf("requests_total{unmatched,CONNECT,405} went from %v to %v, want +1", was, got)
		}
	})
	t.Run("a route that lists CONNECT in match.methods does not load", func(t *testing.T) {
		const doc = "issuers: []\nroutes:\n  - name: tunnel\n    match:\n      path_prefix: /\n      methods: [GET, connect]\n    upstream: http://127.0.0.1:1\n    auth: {mode: public}\n"
		_, err := config.Parse([]byte(doc), "tunnel.yaml")
		var problems config.Problems
		if !errors.As(err, &problems) {
			t.Fatalf("config.Parse = %v, want problems", err)
		}
		found := false
		for _, p := range problems {
			if p.Field == "routes[0].match.methods[1]" && p.Line == 6 && p.Code == config.CodeRefusedMethod {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem %s for routes[0].match.methods[1] on line 6: %v", config.CodeRefusedMethod, err)
		}
	})
}
