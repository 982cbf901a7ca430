package outcome

import "net/http"

// gRPC status codes (google.rpc.Code), by their wire numbers: the values
// of a grpc-status header. They are written out here rather than taken
// from google.golang.org/grpc/codes so that this package stays a leaf that
// the request path can import without gRPC's runtime.
const (
	grpcCanceled           = 1
	grpcUnknown            = 2
	grpcInvalidArgument    = 3
	grpcDeadlineExceeded   = 4
	grpcNotFound           = 5
	grpcPermissionDenied   = 7
	grpcResourceExhausted  = 8
	grpcFailedPrecondition = 9
	grpcUnimplemented      = 12
	grpcInternal           = 13
	grpcUnavailable        = 14
	grpcUnauthenticated    = 16
)

// GRPCCode is the gRPC status code of a refusal with HTTP status s: what a
// refusal says to a gRPC client (proxy writes it as grpc-status) and what
// the ext_authz service's CheckResponse carries (decision). It is the one
// table from the statuses of the outcome rows to gRPC codes; it follows
// google/rpc/code.proto's HTTP mapping, and the gRPC spec's
// (http-grpc-status-mapping.md) where the two differ on what a client
// should do: a 502 is UNAVAILABLE there, which clients retry, as a
// gateway that could not reach its upstream should be. A 404 (no route)
// is NOT_FOUND: the gateway knows no route for the call, which is not the
// upstream saying that it does not implement the method.
func GRPCCode(s int) uint32 {
	switch {
	case s == http.StatusBadRequest: // bad_path, method_override, bad_host, bad_description: the request is malformed
		return grpcInvalidArgument
	case s == http.StatusUnauthorized: // no token, or a bad one
		return grpcUnauthenticated
	case s == http.StatusForbidden: // insufficient scope or claim, untrusted_caller
		return grpcPermissionDenied
	case s == http.StatusNotFound: // no route
		return grpcNotFound
	case s == http.StatusMethodNotAllowed: // CONNECT, or a lower-case method
		return grpcUnimplemented
	case s == http.StatusRequestTimeout: // client_timeout: the request stopped arriving
		return grpcDeadlineExceeded
	case s == http.StatusRequestEntityTooLarge, s == http.StatusTooManyRequests: // body_too_large, rate_limited
		return grpcResourceExhausted
	case s == http.StatusBadGateway, s == http.StatusServiceUnavailable: // upstream down, keys or introspection unavailable, overloaded: retry later
		return grpcUnavailable
	case s == http.StatusGatewayTimeout: // upstream_timeout
		return grpcDeadlineExceeded
	case s == ClientClosedRequest:
		return grpcCanceled
	case s >= 400 && s < 500: // another refusal of the request
		return grpcFailedPrecondition
	case s >= 500:
		return grpcInternal
	}
	// A status that is neither 200 nor an error (a 204, a 3xx) is no
	// refusal the table makes: still not OK.
	return grpcUnknown
}
