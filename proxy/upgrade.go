package proxy

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/outcome"
)

// Tunnels. A protocol upgrade (RFC 9110 §7.8) or a CONNECT (§9.3.6) turns
// an exchange into a byte tunnel: once the upstream answers 101 (or a 2xx
// to CONNECT), httputil.ReverseProxy copies bytes both ways and the gateway
// sees no further request. Whatever a client sends through a tunnel has
// passed no route, no token check and no header rewrite. An h2c tunnel is
// the worst case: the upstream reads HTTP/2 requests from it, for any path,
// so a client that opens one on a public route requests /admin with no
// token (h2c smuggling, Bishop Fox 2020).
//
// So the gateway opens a tunnel for one protocol only, WebSocket (RFC 6455),
// whose upstream side reads frames, not requests; only on a route whose
// checks passed and that allows it; and only when the upstream's 101 proves
// it read this very handshake. Every other Upgrade is removed and the
// request served as a plain one, which RFC 9110 §7.8 lets a server do, and
// CONNECT is refused before routing.

// upgrade is what became of a request's Upgrade header.
type upgrade uint8

const (
	noUpgrade        upgrade = iota // the request asked for none
	upgradeStripped                 // removed: forwarded as a plain request
	upgradeWebSocket                // an RFC 6455 handshake, forwarded as one
	upgradeSwitched                 // ...that the upstream's 101 answered: a tunnel
	upgradeOff                      // a WebSocket handshake on a route with websocket: false: removed
	upgradeCrossSite                // a WebSocket handshake from an origin the route's cors policy refuses: removed
)

// String is the access log's upgrade field.
func (u upgrade) String() string {
	switch u {
	case upgradeStripped, upgradeOff, upgradeCrossSite:
		return "stripped"
	case upgradeWebSocket:
		return "websocket"
	case upgradeSwitched:
		return "websocket_tunnel"
	}
	return ""
}

// why says why an Upgrade was removed, for explain.
func (u upgrade) why() string {
	switch u {
	case upgradeStripped:
		return "only an RFC 6455 WebSocket handshake is forwarded"
	case upgradeOff:
		return "the route has websocket: false"
	case upgradeCrossSite:
		return "the Origin is not one the route's cors policy allows"
	}
	return ""
}

// Canonical header keys, as net/http stores them.
const (
	hdrUpgrade       = "Upgrade"
	hdrHTTP2Settings = "Http2-Settings"
	hdrConnection    = "Connection"
	hdrWSKey         = "Sec-Websocket-Key"
	hdrWSVersion     = "Sec-Websocket-Version"
	hdrWSAccept      = "Sec-Websocket-Accept"
)

// admitUpgrade decides what of r's Upgrade reaches the upstream, once the
// route's checks have passed: the header stays only on an RFC 6455
// handshake (see webSocketHandshake) to a route that allows WebSocket;
// otherwise Upgrade and HTTP2-Settings are deleted from r.
//
// It edits the incoming request because that is the one ReverseProxy reads:
// it takes the Upgrade value from the client's headers and sets it, with
// "Connection: Upgrade", on the outgoing request whatever Rewrite is given
// to work with. The Connection tokens that name the deleted headers need no
// editing: ReverseProxy drops Connection and all it names. For a request
// without Upgrade or HTTP2-Settings it costs two map lookups.
//
// webSocket is whether the request may become a WebSocket tunnel: its
// route allows it and the request passed every check.
func admitUpgrade(r *http.Request, webSocket bool) upgrade {
	h := r.Header
	if len(h[hdrUpgrade]) == 0 && len(h[hdrHTTP2Settings]) == 0 {
		return noUpgrade
	}
	handshake := webSocketHandshake(r)
	if handshake && webSocket {
		return upgradeWebSocket
	}
	u := upgradeStripped
	if handshake {
		u = upgradeOff
	}
	delete(h, hdrUpgrade)
	delete(h, hdrHTTP2Settings)
	return u
}

// webSocketHandshake reports whether r is an opening handshake as RFC 6455
// §4.1 requires a client to send it: GET, HTTP/1.1, Connection with the
// "upgrade" token, exactly one Upgrade header whose value is the one token
// "websocket" (case-insensitive), Sec-WebSocket-Version 13, and one
// Sec-WebSocket-Key that is the base64 of 16 bytes.
//
// It is this strict for two reasons. The key is what lets the gateway check
// that a 101 answers this handshake (switchAccepted), rather than coming
// from an endpoint that answers 101 to anything. And a request that lacks
// any of these is not one an RFC 6455 server may accept (§4.2.1), so
// forwarding it without its Upgrade loses nothing a WebSocket client could
// have had: the upstream answers it as the plain request it now is. A list
// ("websocket, h2c") or a second Upgrade header is refused as a handshake
// because an upstream may act on a token the gateway did not look at.
func webSocketHandshake(r *http.Request) bool {
	h := r.Header
	return r.Method == http.MethodGet && r.ProtoMajor == 1 && r.ProtoMinor == 1 &&
		hasToken(h[hdrConnection], "upgrade") &&
		isOnly(h[hdrUpgrade], "websocket") &&
		isOnly(h[hdrWSVersion], "13") &&
		len(h[hdrWSKey]) == 1 && validWebSocketKey(h[hdrWSKey][0])
}

// validWebSocketKey reports whether key is the base64 of 16 bytes
// (RFC 6455 §4.1, item 7).
func validWebSocketKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var buf [18]byte
	n, err := base64.StdEncoding.Decode(buf[:], []byte(key))
	return err == nil && n == 16
}

// errBadSwitch is why a 101 is not relayed.
var errBadSwitch = errors.New("the upstream switched protocols without being asked to")

// switchAccepted reports whether resp, a 101 from the upstream, answers
// the WebSocket handshake the gateway forwarded, as RFC 6455 §4.1 has a
// client check it: Connection with "upgrade", the one Upgrade "websocket",
// and the Sec-WebSocket-Accept computed from this request's key (§4.2.2).
// A 101 to any other request, or with another protocol, or without that
// proof, is not relayed: the client gets 502, and the connection stays
// HTTP. (ReverseProxy compares the two Upgrade values itself, but only to
// each other: a 101 with no Upgrade, to a request whose Upgrade the gateway
// removed, would pass that comparison.)
func switchAccepted(up upgrade, resp *http.Response) bool {
	if up != upgradeWebSocket || resp.Request == nil {
		return false
	}
	h, keys := resp.Header, resp.Request.Header[hdrWSKey]
	return len(keys) == 1 &&
		hasToken(h[hdrConnection], "upgrade") &&
		isOnly(h[hdrUpgrade], "websocket") &&
		isOnly(h[hdrWSAccept], webSocketAccept(keys[0]))
}

// webSocketGUID is RFC 6455 §1.3's.
const webSocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// webSocketAccept is the Sec-WebSocket-Accept that answers key (§4.2.2).
func webSocketAccept(key string) string {
	sum := sha1.Sum([]byte(key + webSocketGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// isOnly reports whether vals is one header value holding exactly want
// (ASCII case-insensitive, surrounding blanks ignored), and no list.
func isOnly(vals []string, want string) bool {
	return len(vals) == 1 && strings.EqualFold(strings.Trim(vals[0], " \t"), want)
}

// hasToken reports whether a comma-separated header holds token (RFC 9110
// §5.6.1), ASCII case-insensitively, in any of its values.
func hasToken(vals []string, token string) bool {
	for _, v := range vals {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// Refusing CONNECT: its 2xx would make the gateway a tunnel to wherever the
// request names, and no route could say what may pass through one.

// allowedMethods is the Allow header of the 405 to CONNECT (RFC 9110
// §15.5.6): the standard methods other than CONNECT, which any route may
// take. It is a hint, not a promise: a route's match.methods narrows it,
// and a route without one forwards extension methods too.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE"

// refuseConnect answers a CONNECT with 405, before any routing.
func refuseConnect(w http.ResponseWriter) {
	w.Header().Set("Allow", allowedMethods)
	refuse(w, outcome.MethodNotAllowed, "", "")
}
