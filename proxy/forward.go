package proxy

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sync"
	"time"

	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/token"
)

// upstreamPingAfter and upstreamPingTimeout check an HTTP/2 upstream
// connection (h2c, or h2 to an https upstream) that has read nothing for
// upstreamPingAfter with a PING, and close it if no answer comes within
// upstreamPingTimeout. Without them a connection that went silent (a node
// gone, a NAT or load balancer entry dropped, no FIN or RST) keeps taking
// the requests multiplexed on it, each failing at its route's timeout, for
// the kernel's retransmission timeout (about 15 minutes). 30s is longer
// than most requests' silences and short enough to matter; a grpc-go server
// with its default keepalive policy answers pings on a stream that stays
// quiet for minutes with GOAWAY too_many_pings (README, gRPC). Variables so
// that a test can shorten them.
var upstreamPingAfter, upstreamPingTimeout = 30 * time.Second, 15 * time.Second

const maxResponseHeaderBytes = 1 << 20

// NewTransport returns the transport shared by every route: keep-alive pools
// per upstream host sized for a gateway (the default of two idle connections
// per host would make most requests dial), bounded dial and TLS handshakes,
// HTTP/2 connections checked by PING when they fall silent, and no proxy
// from the environment (an upstream is where the file says).
func NewTransport() *http.Transport {
	return &http.Transport{
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		// An upstream's response headers are read whole before anything
		// is relayed: 1 MiB, not net/http's 10 MiB, is what one answer
		// may make the gateway hold (more is a 502).
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: upstreamPingAfter,
			PingTimeout:     upstreamPingTimeout,
		},
	}
}

// bufferPool lends ReverseProxy its 32 KiB copy buffers: without one it
// allocates a fresh buffer for every response, which was most of the bytes
// a request allocated and a quarter of the CPU under load (GC).
// The pool holds array pointers, so that returning a buffer allocates
// nothing (a *[]byte would be a new slice header per request).
type bufferPool struct{ p sync.Pool }

const bufferSize = 32 << 10

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[bufferSize]byte); ok {
		return buf[:]
	}
	return new([bufferSize]byte)[:]
}

func (b *bufferPool) Put(buf []byte) {
	if len(buf) == bufferSize {
		b.p.Put((*[bufferSize]byte)(buf))
	}
}

// buffers is shared by every route and every runtime.
var buffers = &bufferPool{}

// NewBufferPool returns a pool of the gateway's recipe, for another
// ReverseProxy: the load harness's tuned baseline, which must copy
// responses exactly as the gateway does.
func NewBufferPool() httputil.BufferPool { return &bufferPool{} }

func (rt *Runtime) reverseProxy(transport http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:        rt.rewrite,
		Transport:      transport,
		BufferPool:     buffers,
		ModifyResponse: responded,
		ErrorHandler:   upstreamFailed,
		// Errors are reported by upstreamFailed and the access log.
		ErrorLog: nopLogger,
	}
}

// forward hands an authorized request to the route's reverse proxy. The
// route's timeout covers the wait for the upstream's response headers, not
// the sending of the request's body nor the streaming of the response's:
// those are bounded by their pauses (see stream.go), so that long uploads,
// downloads and event streams are not cut.
func (rt *Runtime) forward(r *http.Request, tok *token.Token, ex *exchange) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	f := &ex.fwd
	f.tok, f.ex, f.rt, f.sent, f.cancel = tok, ex, rt, time.Now(), cancel
	f.ctx = forwardingContext{Context: ctx, f: f}
	out := r.WithContext(&f.ctx)
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		f.body.rc, f.body.f = r.Body, f
		out.Body = &f.body
	}
	f.timer = time.AfterFunc(min(ex.route.Timeout, rt.tick(ex.route)), f.watch)
	defer func() { f.stop(recover()) }()
	p := rt.proxy
	if i := ex.route.Index; i < len(rt.byRoute) && rt.byRoute[i] != nil {
		p = rt.byRoute[i]
	}
	ex.rec.forwarding = true
	p.ServeHTTP(&ex.rec, out)
}

// rewrite builds the outgoing request. ReverseProxy has already removed the
// hop-by-hop headers, including any the client named in Connection, so what
// is set here cannot be stripped by the client.
func (rt *Runtime) rewrite(pr *httputil.ProxyRequest) {
	f := pr.In.Context().Value(ctxKey{}).(*forwarding)
	route := f.ex.route

	out := pr.Out
	out.URL.Scheme = route.Upstream.Scheme
	out.URL.Host = route.Upstream.Host
	// The path the policy matched is the path the upstream receives.
	out.URL.Path = route.ForwardPath(f.ex.path)
	out.URL.RawPath = ""
	out.URL.RawQuery = pr.In.URL.RawQuery
	out.Host = ""

	// X-Forwarded-*: a client's own values are kept only when it is a
	// trusted proxy; from anyone else they are replaced.
	trusted := rt.Trusted(pr.In.RemoteAddr)
	if trusted {
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Values(h); len(v) > 0 {
				out.Header[h] = v
			}
		}
		xfh, xfp := out.Header.Get("X-Forwarded-Host"), out.Header.Get("X-Forwarded-Proto")
		pr.SetXForwarded()
		if xfh != "" {
			out.Header.Set("X-Forwarded-Host", xfh)
		}
		if xfp != "" {
			out.Header.Set("X-Forwarded-Proto", xfp)
		}
	} else {
		pr.SetXForwarded()
	}

	// Every header any route sets from claims goes, in every spelling
	// (case, '_' for '-'), before this route sets its own; so do the
	// headers that would have the upstream route on a URL the gateway
	// never matched, and, from a client that is not a trusted proxy, the
	// ones that claim its address or scheme (withheld).
	for name := range out.Header {
		if rt.withheld(name, trusted) {
			delete(out.Header, name)
		}
	}
	// And as request trailers, which the upstream's server merges with
	// the headers for many frameworks. (ReverseProxy copies the names
	// before the body is read, so their values arrive empty today; the
	// names go anyway, whatever a later net/http does.)
	for name := range out.Trailer {
		if rt.withheld(name, trusted) {
			delete(out.Trailer, name)
		}
	}
	setClaimHeaders(out.Header, route, f.tok)
	if route.StripAuthorization {
		out.Header.Del("Authorization")
	}
	out.Header[RequestIDHeader] = f.ex.idHeader[:]
	if rt.tracer != nil {
		rt.traceUpstream(pr, f)
	}
}

// withheld reports whether a client's header must not reach the upstream:
// it has the name of a header that some route sets from claims, or of one
// in urlOverrides, or, from a client that is not a trusted proxy, of one in
// clientClaims. Names are compared the way spoofing must be: case-
// insensitively and with '_' read as '-', because some frameworks (CGI,
// WSGI, nginx with underscores_in_headers) merge the two.
func (rt *Runtime) withheld(name string, trusted bool) bool {
	return foldedIn(name, rt.strip) || foldedIn(name, urlOverrides) ||
		!trusted && foldedIn(name, clientClaims) ||
		name != "X-Forwarded-For" && name != "X-Forwarded-Host" && name != "X-Forwarded-Proto" &&
			name != RequestIDHeader && foldedIn(name, xForwarded)
}

// xForwarded are the headers rewrite sets itself (folded): X-Forwarded-*
// and X-Request-Id. A client's header that folds to one of them but is
// spelled otherwise (X_Forwarded_Host, X_Request_Id: Go keeps it apart,
// CGI-style servers merge it into HTTP_X_FORWARDED_HOST or
// HTTP_X_REQUEST_ID) would stand beside the gateway's own, unchecked: it
// goes, from every client, since no proxy that sets these spells them so.
var xForwarded = []string{"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-request-id"}

// urlOverrides are headers that some upstreams read as the request's URL in
// place of its request line: IIS's URL Rewrite module and ARR, Symfony
// before 5.0 (when trusted) and Zend Framework 1 take the path from
// X-Original-URL or X-Rewrite-URL. The gateway matched and authorized the
// path it forwards (rewrite sets it); such an upstream would serve a path
// that no route judged, so these go from every client, trusted proxies
// too: a proxy in front has no path to tell the upstream that the gateway
// did not check.
var urlOverrides = []string{"x-original-url", "x-rewrite-url"}

// clientClaims are the headers, besides Forwarded and X-Forwarded-For,
// -Host and -Proto (which ReverseProxy removes and rewrite sets), in which
// a proxy tells its upstream who the client is and how it came, and which
// common servers, frameworks and libraries believe when told to trust the
// proxy in front (the gateway, for them):
//   - the client's address: X-Real-IP (nginx realip, Gin, Echo; chi's
//     middleware.RealIP prefers it and True-Client-IP to X-Forwarded-For),
//     True-Client-IP (Akamai, Cloudflare), CF-Connecting-IP and
//     Fastly-Client-IP (those CDNs; Gin's TrustedPlatform), X-Client-IP,
//     X-Cluster-Client-IP, X-Forwarded and Forwarded-For (the request-ip
//     package, Apache mod_remoteip setups, older load balancers);
//   - the scheme, port, server and path prefix it was reached by:
//     X-Forwarded-Port and -Prefix (Spring's ForwardedHeaderFilter,
//     Symfony, Laravel, ASP.NET Core), X-Forwarded-Server (Apache
//     mod_proxy), X-Forwarded-Scheme and -Ssl (Rack), X-Forwarded-Protocol
//     (gunicorn's secure_scheme_headers), Front-End-Https (CodeIgniter,
//     phpMyAdmin), X-Url-Scheme (Paste and Pyramid deployments).
//
// A rate limit, an audit log, an address allow-list, an https-only check or
// a redirect built upstream from one of them takes the word of whoever set
// it. From a trusted proxy they are kept (it set them); from anyone else
// they go, as X-Forwarded-* are replaced. The list is fixed rather than
// configurable: each name is one a client has no business sending, and
// nothing the gateway does reads them. Folded: lower case, '-' for '_'.
var clientClaims = []string{
	"x-real-ip", "true-client-ip", "x-client-ip", "cf-connecting-ip",
	"fastly-client-ip", "x-cluster-client-ip", "x-forwarded", "forwarded-for",
	"x-forwarded-port", "x-forwarded-prefix", "x-forwarded-server",
	"x-forwarded-scheme", "x-forwarded-ssl", "x-forwarded-protocol",
	"front-end-https", "x-url-scheme",
}

// foldedIn reports whether name is one of folded, names in lower case with
// '-' for '_', compared as foldHeader would make them equal. It compares in
// place, without building the folded name, so that the common request
// allocates nothing here.
func foldedIn(name string, folded []string) bool {
	for _, s := range folded {
		if len(s) == len(name) && foldEqual(name, s) {
			return true
		}
	}
	return false
}

// foldEqual compares name with folded, a name already in lower case with
// '-' for '_', as foldHeader would make them equal.
func foldEqual(name, folded string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		if c != folded[i] {
			return false
		}
	}
	return true
}

// Trusted reports whether remoteAddr (host:port, as http.Request has it)
// is one of this runtime's server.trusted_proxies: the one test of them,
// for the X-Forwarded-* headers a proxy keeps, the calls the decision
// service believes, the trace context it continues and the client address
// a rate limit counts.
func (rt *Runtime) Trusted(remoteAddr string) bool {
	if len(rt.trustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	return trustedAddr(rt.trustedProxies, ap.Addr().Unmap())
}

// trustedAddr reports whether addr is in one of prefixes.
func trustedAddr(prefixes []netip.Prefix, addr netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// responded runs when the upstream's response headers arrive: the route's
// timeout no longer applies, the stream's pauses do (a tunnel's do not).
// A 101 is relayed as a tunnel only when it answers the WebSocket handshake
// that was forwarded (switchAccepted); ReverseProxy calls this before it
// hijacks the client's connection, so refusing here leaves the client with
// a 502 on a connection that is still HTTP.
func responded(resp *http.Response) error {
	f := resp.Request.Context().Value(ctxKey{}).(*forwarding)
	f.ex.upstream = time.Since(f.sent)
	f.ex.rec.answered = true
	next, badSwitch := streaming, false
	if resp.StatusCode == http.StatusSwitchingProtocols {
		if switchAccepted(f.ex.upgrade, resp) {
			next = tunnel
		} else {
			badSwitch = true
		}
	}
	if !f.phase.CompareAndSwap(waiting, next) {
		// The watchdog cut the exchange as the headers arrived: the
		// context is cancelled, so the body would fail midway. Refuse
		// cleanly, for the watchdog's reason.
		if f.phase.Load() == clientLate {
			return errClientTimeout
		}
		return errUpstreamTimeout
	}
	if badSwitch {
		return errBadSwitch
	}
	if next == tunnel {
		f.ex.upgrade = upgradeSwitched
	}
	removeGatewayFields(f.ex.route, resp.Header)
	// Nor may its trailers carry them: those it announced go now, before
	// ReverseProxy announces them in turn; those that come with the end of
	// the body (announced or not, as HTTP/2 and gRPC servers send them)
	// go when ReverseProxy closes the body, which it does before it
	// relays them. A tunnel's body is the connection: it has no trailers.
	removeGatewayFields(f.ex.route, resp.Trailer)
	if next == streaming && resp.Body != nil && resp.Body != http.NoBody {
		f.upBody = upstreamBody{ReadCloser: resp.Body, resp: resp, route: f.ex.route}
		resp.Body = &f.upBody
	}
	if f.rt.tracer != nil {
		endUpstreamSpan(resp.Request.Context(), resp.StatusCode, "")
	}
	return nil
}

// removeGatewayFields drops from h, an upstream's response headers or
// trailers, the fields that the gateway sets on the response itself: the
// request id (the client gets the gateway's, already set; an upstream
// that echoes it, or sets its own, must not make it appear twice), the
// Access-Control-* fields on a route whose cors policy the gateway applies
// (cors.go), and the RateLimit fields on a route whose limits the gateway
// reports (ratelimit.go). A nil h is left alone.
func removeGatewayFields(route *policy.Route, h http.Header) {
	if h == nil {
		return
	}
	delete(h, RequestIDHeader)
	removeUpstreamCORS(route, h)
	removeUpstreamRateLimit(route, h)
}

// upstreamBody is an upstream's response body as ReverseProxy copies it.
// ReverseProxy closes the body before it relays the trailers that came
// with its end (res.Trailer, filled in as the body's end is read), so
// Close is where those trailers lose the gateway's fields: a client that
// merges trailers into the header section (RFC 9110 §6.5.1 lets it, for
// fields whose definition allows it) would otherwise read them as the
// gateway's. It lives in the forwarding: wrapping allocates nothing.
type upstreamBody struct {
	io.ReadCloser
	resp  *http.Response
	route *policy.Route
}

func (b *upstreamBody) Close() error {
	err := b.ReadCloser.Close()
	removeGatewayFields(b.route, b.resp.Trailer)
	return err
}

// upstreamFailed answers when nothing usable came back: 504 when the
// route's timeout passed (or the upstream stopped reading the body), 408
// when the client's body stalled past read_timeout, 502 when the upstream
// refused or broke the connection, nothing at all when the client itself
// went away.
func upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	f := r.Context().Value(ctxKey{}).(*forwarding)
	f.ex.upstream = time.Since(f.sent)
	var reason outcome.Reason
	switch phase := f.phase.Load(); {
	case phase == upstreamLate || errors.Is(err, errUpstreamTimeout):
		reason = outcome.UpstreamTimeout
	case errors.Is(err, errBadSwitch):
		reason = outcome.UpstreamBadUpgrade
	case phase == clientLate || errors.Is(err, errClientTimeout):
		reason = outcome.ClientTimeout
	case f.body.state.Load() == bodyTooLarge || errors.Is(err, errBodyTooLarge):
		reason = outcome.BodyTooLarge
	case r.Context().Err() != nil:
		reason = outcome.ClientGone
	default:
		reason = outcome.UpstreamError
	}
	f.ex.reason = reason
	if f.rt.tracer != nil {
		endUpstreamSpan(r.Context(), 0, reason)
	}
	if row := outcome.Of(reason); row.Silent {
		f.ex.status = int32(row.Status)
		return
	}
	refuse(w, reason, "", "")
}

// ctxKey carries a request's forwarding state through ReverseProxy.
type ctxKey struct{}

// forwardingContext is the forwarded request's context: the exchange's
// own (cancelled with a cause by the watchdog), answering ctxKey with the
// forwarding state. It lives in the forwarding, so that carrying the
// state costs no context.WithValue allocation per request. Every other
// method is ctx's: contexts derived from it (ReverseProxy's, the
// transport's) find ctx's cancellation through Value, as they would
// through a WithValue.
type forwardingContext struct {
	context.Context
	f *forwarding
}

func (c *forwardingContext) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return c.f
	}
	return c.Context.Value(key)
}

// nopLogger is ReverseProxy's ErrorLog: the gateway logs each exchange's
// failure itself, once, in its access-log line.
var nopLogger = log.New(io.Discard, "", 0)
