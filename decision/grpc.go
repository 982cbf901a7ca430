package decision

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"golang.org/x/net/http/httpguts"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/proxy"
)

// GRPC is Envoy's ext_authz gRPC service (envoy.service.auth.v3.
// Authorization): each Check describes one request in a CheckRequest,
// which is read into the request it describes and decided by
// proxy.Handler.Decide exactly as the HTTP endpoint's calls are. The
// decision, written as the HTTP endpoint would answer it, is then
// translated into a CheckResponse.
//
// A decision, allowed or refused, is a CheckResponse and a nil error: a
// gRPC error says that the service failed (Envoy then applies its
// failure_mode_allow and status_on_error), never that a request was
// refused.
type GRPC struct {
	authv3.UnimplementedAuthorizationServer
	handler *proxy.Handler
}

// NewGRPC returns the service deciding with h. Only callers (gRPC peers)
// in the server.trusted_proxies of h's runtime are believed, as for the
// HTTP endpoint.
func NewGRPC(h *proxy.Handler) *GRPC { return &GRPC{handler: h} }

// Check decides the request that req describes.
func (g *GRPC) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	call := grpcCall(ctx)
	w := &answer{header: make(http.Header)}
	// Trust is settled before the description is read at all.
	if !g.handler.Runtime().Trusted(call.RemoteAddr) {
		g.handler.RefuseCall(w, call, outcome.UntrustedCaller)
	} else if described, ok := describeCheck(call, req.GetAttributes()); !ok {
		g.handler.RefuseCall(w, call, outcome.BadDescription)
	} else {
		g.handler.Decide(w, described)
	}
	if err := ctx.Err(); err != nil {
		// Envoy gave up on the call: nobody reads the answer, and a
		// decision made with a cancelled context (an introspection
		// call cut short) is not one to report.
		return nil, status.FromContextError(err).Err()
	}
	return w.checkResponse()
}

// checkMethod is the path of the request that stands for a Check call
// where the decision service counts and logs the call itself (a refused
// one): the gRPC method, as an HTTP/2 request names it.
const checkMethod = authv3.Authorization_Check_FullMethodName

// grpcCall is the request a Check call is, for the proxy's log and
// metrics and for describe to build on: a POST of the gRPC method, from
// the peer's address (what server.trusted_proxies is checked against, for
// the call and for the X-Forwarded-* headers of the request it describes),
// to the call's :authority, carrying the call's context so that the
// decision's own work (an introspection request) ends when Envoy stops
// waiting.
func grpcCall(ctx context.Context) *http.Request {
	r := &http.Request{
		Method:     http.MethodPost,
		URL:        &url.URL{Path: checkMethod},
		RequestURI: checkMethod,
		Proto:      "HTTP/2.0", ProtoMajor: 2,
		Header: make(http.Header),
		Body:   http.NoBody,
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		// A TCP peer is "ip:port", as http.Request.RemoteAddr is; any
		// other (a unix socket) is in no trusted prefix.
		r.RemoteAddr = p.Addr.String()
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if a := md.Get(":authority"); len(a) == 1 {
			r.Host = a[0]
		}
	}
	return r.WithContext(ctx)
}

// describeCheck builds the request that an ext_authz CheckRequest
// describes, with describe (the same rules as the HTTP shapes): the
// method, the host (Envoy sends :authority as host), and path as the
// request target. Envoy's path is the request line's target, query
// included; its query field is documented as always empty, so a query
// there that path does not carry describes another request, and is no
// description. The headers come from headers (names lower-cased, repeated
// ones joined with ',') or, with Envoy's encode_raw_headers, from
// header_map (repeated ones kept apart, so that two Authorization headers
// are refused as when proxied); a call with both is not guessed at.
//
// The downstream peer Envoy saw (source.address) is added to the end of
// X-Forwarded-For, as a proxy adds its own peer: client_ip limits then
// count by it (or, when it is a trusted proxy, by what it forwarded), never
// by an X-Forwarded-For the client wrote and Envoy passed on (as it does
// unless use_remote_address is set).
func describeCheck(call *http.Request, attrs *authv3.AttributeContext) (*http.Request, bool) {
	h := attrs.GetRequest().GetHttp()
	if h == nil {
		return nil, false
	}
	if q := h.GetQuery(); q != "" && !strings.HasSuffix(h.GetPath(), "?"+q) {
		return nil, false
	}
	raw := h.GetHeaderMap().GetHeaders()
	if len(raw) > 0 && len(h.GetHeaders()) > 0 {
		return nil, false
	}
	header := make(http.Header, len(h.GetHeaders())+len(raw))
	for name, v := range h.GetHeaders() {
		if !addHeader(header, name, v) {
			return nil, false
		}
	}
	for _, hv := range raw {
		v := hv.GetValue()
		if len(hv.GetRawValue()) > 0 {
			v = string(hv.GetRawValue())
		}
		if !addHeader(header, hv.GetKey(), v) {
			return nil, false
		}
	}
	if peer := attrs.GetSource().GetAddress().GetSocketAddress(); peer.GetAddress() != "" {
		if ip, err := netip.ParseAddr(peer.GetAddress()); err == nil {
			header["X-Forwarded-For"] = append(header["X-Forwarded-For"], ip.String())
		}
	}
	base := call.WithContext(call.Context())
	base.Header = header
	return describe(base, h.GetMethod(), h.GetHost(), h.GetPath(), true)
}

// addHeader adds one described header to h. Pseudo-headers (:authority,
// :path, :method, :scheme) are the described host, target and method,
// read from their own fields, and host is :authority's HTTP/1 name: like
// net/http, the described request keeps them out of its header. A name or
// value that no HTTP request could carry (a CR, an LF, a NUL) makes the
// whole description refused: it must never reach the log or a header.
func addHeader(h http.Header, name, v string) bool {
	if strings.HasPrefix(name, ":") || strings.EqualFold(name, "host") {
		return true
	}
	if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(v) {
		return false
	}
	// Two names that differ only in case (which Envoy never sends) are
	// one header with two values, as on the wire.
	k := http.CanonicalHeaderKey(name)
	h[k] = append(h[k], v)
	return true
}

// answer is the http.ResponseWriter a Check's decision is written to, as
// the HTTP endpoint would send it, to be read back as a CheckResponse.
type answer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *answer) Header() http.Header { return a.header }

func (a *answer) WriteHeader(code int) {
	if a.status == 0 && code >= 200 {
		a.status = code
	}
}

func (a *answer) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.body.Write(b)
}

// checkResponse is the decision as Envoy reads it. Only a 200 allows:
// anything else, a status the table does not know included, is denied
// (fail closed); a decision that wrote nothing is a failure of the
// service.
func (a *answer) checkResponse() (*authv3.CheckResponse, error) {
	switch a.status {
	case 0:
		return nil, status.Error(codes.Internal, "no decision was made")
	case http.StatusOK:
		return a.ok(), nil
	}
	return a.denied(), nil
}

// ok is an allowed decision: its claim headers to set on the request
// Envoy forwards, and every other claim header name to remove from it.
//
// The claim headers are the allowed answer's headers but the decision's
// own (proxy.DecisionOwnHeaders), and the names to remove its list
// (proxy.HeadersToRemoveHeader, which the HTTP endpoint sends Envoy as
// is), so that both come from the one runtime that decided, even across a
// reload. Each is set with OVERWRITE_IF_EXISTS_OR_ADD, which replaces
// every copy the client sent.
//
// HeadersToRemove names the claim headers this decision does not set:
// Envoy applies headers_to_remove after the headers it sets, so naming a
// header that is set would remove the token's value too. Together the two
// cover every claim header name, and a client's own copy of a claim
// header never reaches the upstream: replaced where the token sets it,
// removed where it does not. The list header itself is the HTTP
// service's wire shape and is not sent, and neither are Cache-Control
// (Envoy does not cache a CheckResponse) nor X-Request-Id: in an Envoy
// deployment the request id is Envoy's own x-request-id, which the
// described request carries, so the access log already has it.
func (a *answer) ok() *authv3.CheckResponse {
	remove := splitNames(a.header.Get(proxy.HeadersToRemoveHeader))
	var set []*corev3.HeaderValueOption
	for k, vals := range a.header {
		if slices.Contains(proxy.DecisionOwnHeaders, k) {
			continue
		}
		for _, v := range vals {
			set = append(set, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: strings.ToLower(k), Value: v},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			})
		}
	}
	slices.SortFunc(set, func(x, y *corev3.HeaderValueOption) int { return strings.Compare(x.Header.Key, y.Header.Key) })
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers:         set,
			HeadersToRemove: remove,
		}},
	}
}

// deniedHeaders are the refusal's headers that Envoy sends the client:
// the challenge, Retry-After, a 405's Allow (which RFC 9110 §15.5.6 says
// a 405 must carry), a 429's RateLimit fields and the body's headers:
// what the proxy and the HTTP decision shapes answer. Connection (a
// hop's, which Envoy's reply decides) and X-Request-Id (Envoy's own, as
// for an allowed decision) are not.
var deniedHeaders = []string{"WWW-Authenticate", "Retry-After", "Allow", "RateLimit", "RateLimit-Policy",
	"Content-Type", "Cache-Control", "X-Content-Type-Options"}

// denied is a refusal: Envoy answers the client with its status, headers
// and JSON body, exactly what the proxy would have answered.
func (a *answer) denied() *authv3.CheckResponse {
	var headers []*corev3.HeaderValueOption
	for _, name := range deniedHeaders {
		for _, v := range a.header.Values(name) {
			headers = append(headers, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: strings.ToLower(name), Value: v},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			})
		}
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(grpcCode(a.status))},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(a.status)},
			Headers: headers,
			Body:    a.body.String(),
		}},
	}
}

// grpcCode is the CheckResponse status of a refusal with HTTP status s.
// Envoy denies on any code but OK and answers the client with the denied
// response's own HTTP status, so the code is for Envoy's logs and for
// other clients of the service: the code that the status means, from the
// one table that the proxy's gRPC-shaped refusals use too.
func grpcCode(s int) codes.Code { return codes.Code(outcome.GRPCCode(s)) }

// splitNames splits a comma-separated list of header names.
func splitNames(list string) []string {
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}
