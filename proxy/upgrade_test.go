package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// RFC 6455 §1.3's sample key and the Sec-WebSocket-Accept it requires.
const (
	sampleKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func handshake(mutate func(r *http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://api.example.com/ws", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Key", sampleKey)
	r.Header.Set("Sec-WebSocket-Version", "13")
	if mutate != nil {
		mutate(r)
	}
	return r
}

func TestWebSocketHandshakeIsRFC6455Shaped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(r *http.Request)
		want   bool
	}{
		{"the RFC 6455 §1.3 handshake is one", nil, true},
		{"Connection as a list with keep-alive is one", func(r *http.Request) { r.Header.Set("Connection", "keep-alive, Upgrade") }, true},
		{"Upgrade in another case is one", func(r *http.Request) { r.Header.Set("Upgrade", "WebSocket") }, true},
		{"Connection in two headers is one", func(r *http.Request) { r.Header["Connection"] = []string{"keep-alive", "upgrade"} }, true},
		{"a POST is not", func(r *http.Request) { r.Method = http.MethodPost }, false},
		{"HTTP/1.0 is not", func(r *http.Request) { r.Proto, r.ProtoMinor = "HTTP/1.0", 0 }, false},
		{"without the upgrade token in Connection it is not", func(r *http.Request) { r.Header.Set("Connection", "keep-alive, upgraded") }, false},
		{"a list of protocols is not", func(r *http.Request) { r.Header.Set("Upgrade", "websocket, h2c") }, false},
		{"two Upgrade headers are not", func(r *http.Request) { r.Header.Add("Upgrade", "websocket") }, false},
		{"h2c is not", func(r *http.Request) { r.Header.Set("Upgrade", "h2c") }, false},
		{"a versioned websocket is not", func(r *http.Request) { r.Header.Set("Upgrade", "websocket/13") }, false},
		{"version 8 is not", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }, false},
		{"two versions are not", func(r *http.Request) { r.Header.Add("Sec-WebSocket-Version", "13") }, false},
		{"without a key it is not", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") }, false},
		{"a key of 5 bytes is not", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "aGVsbG8=") }, false},
		{"a key of 24 characters that is not base64 is not", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!==") }, false},
		{"two keys are not", func(r *http.Request) { r.Header.Add("Sec-WebSocket-Key", sampleKey) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := webSocketHandshake(handshake(tc.mutate)); got != tc.want {
				t.Errorf("webSocketHandshake = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestASwitchIsAcceptedOnlyAsTheAnswerToTheHandshake(t *testing.T) {
	answer := func(up upgrade, mutate func(h http.Header)) bool {
		h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Accept": {sampleAccept}}
		if mutate != nil {
			mutate(h)
		}
		return switchAccepted(up, &http.Response{StatusCode: http.StatusSwitchingProtocols, Header: h, Request: handshake(nil)})
	}
	for _, tc := range []struct {
		name   string
		up     upgrade
		mutate func(h http.Header)
		want   bool
	}{
		{"the RFC 6455 answer to a forwarded handshake is accepted", upgradeWebSocket, nil, true},
		{"a 101 to a request without Upgrade is not", noUpgrade, nil, false},
		{"a 101 to a request whose Upgrade was removed is not", upgradeStripped, nil, false},
		{"a switch to h2c is not", upgradeWebSocket, func(h http.Header) { h.Set("Upgrade", "h2c") }, false},
		{"a switch without Upgrade is not", upgradeWebSocket, func(h http.Header) { h.Del("Upgrade") }, false},
		{"a switch without Connection: upgrade is not", upgradeWebSocket, func(h http.Header) { h.Del("Connection") }, false},
		{"a switch without Sec-WebSocket-Accept is not", upgradeWebSocket, func(h http.Header) { h.Del("Sec-Websocket-Accept") }, false},
		{"a switch with another key's Sec-WebSocket-Accept is not", upgradeWebSocket, func(h http.Header) { h.Set("Sec-Websocket-Accept", webSocketAccept("AAAAAAAAAAAAAAAAAAAAAA==")) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := answer(tc.up, tc.mutate); got != tc.want {
				t.Errorf("switchAccepted = %v, want %v", got, tc.want)
			}
		})
	}
	if got := webSocketAccept(sampleKey); got != sampleAccept {
		t.Errorf("webSocketAccept(%q) = %q, want RFC 6455 §1.3's %q", sampleKey, got, sampleAccept)
	}
}

func TestAdmitUpgrade(t *testing.T) {
	on, off := &policy.Route{WebSocket: true}, &policy.Route{}
	for _, tc := range []struct {
		name  string
		route *policy.Route
		req   *http.Request
		want  upgrade
		kept  bool // Upgrade is still on the request
	}{
		{"a request without Upgrade is left alone", on, httptest.NewRequest(http.MethodGet, "/", nil), noUpgrade, false},
		{"a handshake on a route with websocket keeps its Upgrade", on, handshake(nil), upgradeWebSocket, true},
		{"a handshake on a route without websocket loses it", off, handshake(nil), upgradeOff, false},
		{"h2c loses it, and HTTP2-Settings", on, handshake(func(r *http.Request) {
			r.Header.Set("Upgrade", "h2c")
			r.Header.Set("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA")
		}), upgradeStripped, false},
		{"HTTP2-Settings alone goes", on, func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA")
			return r
		}(), upgradeStripped, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := admitUpgrade(tc.req, tc.route.WebSocket); got != tc.want {
				t.Errorf("admitUpgrade = %v, want %v", got, tc.want)
			}
			if kept := len(tc.req.Header["Upgrade"]) > 0; kept != tc.kept {
				t.Errorf("Upgrade kept = %v, want %v", kept, tc.kept)
			}
			if v := tc.req.Header.Values("HTTP2-Settings"); len(v) > 0 {
				t.Errorf("HTTP2-Settings kept: %q", v)
			}
		})
	}
	plain := httptest.NewRequest(http.MethodGet, "/", nil)
	plain.Header.Set("Accept", "*/*")
	if n := testing.AllocsPerRun(100, func() { admitUpgrade(plain, on.WebSocket) }); n != 0 {
		t.Errorf("admitUpgrade allocates %v times for a request without Upgrade, want 0", n)
	}
}
