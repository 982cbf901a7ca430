package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/outcome"
)

// refuse answers a refused request with its reason's row of the outcome
// table (outcome.Of): status, Retry-After, the RFC 6750 §3 challenge (none
// for a request without a token's error, invalid_token for a bad token,
// insufficient_scope with the scopes required for a good one that may not
// pass) and the JSON body. scope is the required scopes, for
// insufficient_scope; resourceParam is the route's resource_metadata
// challenge parameter (RFC 9728 §5.1), "" when it names no resource.
func refuse(w http.ResponseWriter, reason outcome.Reason, scope, resourceParam string) {
	refuseAs(w, reason, outcome.Of(reason).Description, scope, resourceParam)
}

// refuseAs is refuse with another fixed description than the row's (a
// path refusal names the rule the path broke). It is never request or
// token data.
func refuseAs(w http.ResponseWriter, reason outcome.Reason, description, scope, resourceParam string) {
	row := outcome.Of(reason)
	h := w.Header()
	if row.RetryAfter != "" {
		h.Set("Retry-After", row.RetryAfter)
	}
	// A refusal that leaves the body unread (408, 413) closes an HTTP/1.x
	// connection, whose next request would begin inside that body. Over
	// HTTP/2 only the stream ends: there, Connection: close makes Go's
	// server send GOAWAY, which would drain a connection that other
	// clients' calls share (behind a load balancer) on one stream's word.
	if rec, ok := w.(*recorder); row.Close && (!ok || rec.http1) {
		h.Set("Connection", "close")
	}
	realm := `Bearer realm="portcullis"`
	if resourceParam != "" {
		realm += ", " + resourceParam
	}
	switch row.Challenge {
	case outcome.BearerChallenge:
		h.Set("WWW-Authenticate", realm)
	case outcome.InvalidTokenChallenge:
		h.Set("WWW-Authenticate", realm+`, error="invalid_token", error_description="`+description+`"`)
	case outcome.InsufficientScopeChallenge:
		c := realm + `, error="insufficient_scope", error_description="` + description + `"`
		if scope != "" {
			c += `, scope="` + scope + `"`
		}
		h.Set("WWW-Authenticate", c)
	}
	if rec, ok := w.(*recorder); ok && rec.grpc != "" {
		writeGRPC(rec, row.Status, description)
		return
	}
	writeError(w, row.Status, row.Error, description)
}

// grpcCall says whether a request is a gRPC call (application/grpc,
// application/grpc+proto, application/grpc-web...), a client that reads
// its status from grpc-status, not from the HTTP status or a JSON body,
// and with which Content-Type a refusal answers it: the call's own media
// type when it is one of grpcTypes (a client checks that the answer speaks
// its protocol and codec: connect-es reads an application/grpc answer to
// a gRPC-Web call as an unknown error), else the plainest of its family.
// It is always one of grpcTypes, never the client's own text; "" for a
// request that is no gRPC call.
func grpcCall(r *http.Request) string {
	if r.Method != http.MethodPost { // every gRPC call is a POST
		return ""
	}
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	mt = strings.TrimSpace(mt)
	const prefix = "application/grpc"
	if len(mt) < len(prefix) || !strings.EqualFold(mt[:len(prefix)], prefix) {
		return ""
	}
	if rest := mt[len(prefix):]; rest != "" && rest[0] != '+' && rest[0] != '-' {
		return "" // application/grpcx
	}
	for _, t := range grpcTypes {
		if strings.EqualFold(mt, t) {
			return t
		}
	}
	for _, family := range []string{"application/grpc-web-text", "application/grpc-web"} {
		if len(mt) >= len(family) && strings.EqualFold(mt[:len(family)], family) {
			return family
		}
	}
	return "application/grpc"
}

// writeGRPC writes a refusal as a gRPC client reads one: a trailers-only
// response (HTTP 200, headers and no body, PROTOCOL-HTTP2.md) whose
// grpc-status is the code of the row's status (outcome.GRPCCode, the one
// table) and grpc-message its fixed description. The headers set before
// (WWW-Authenticate, Retry-After) go with it. The recorder keeps the row's
// status, not the 200, for the metrics and the access log: a refused call
// is counted as the 401 or 403 it is, whatever shape it was written in.
func writeGRPC(rec *recorder, status int, description string) {
	h := rec.Header()
	h.Set("Content-Type", rec.grpc)
	h.Set("Grpc-Status", strconv.FormatUint(uint64(outcome.GRPCCode(status)), 10))
	h.Set("Grpc-Message", grpcMessage(description))
	if rec.status == 0 {
		// What recorder.WriteHeader does for a final status, which it
		// skips here since status is set: after an upstream's 1xx
		// (then a timeout), the gateway's own headers go back.
		rec.final()
		rec.status = status
	}
	rec.WriteHeader(http.StatusOK)
}

// grpcTypes are the Content-Types of gRPC and gRPC-Web that a refusal
// echoes (grpcCall).
var grpcTypes = []string{
	"application/grpc", "application/grpc+proto", "application/grpc+json",
	"application/grpc-web", "application/grpc-web+proto", "application/grpc-web+json",
	"application/grpc-web-text", "application/grpc-web-text+proto",
}

// grpcMessage percent-encodes s as grpc-message is (PROTOCOL-HTTP2.md):
// every byte outside printable ASCII, and '%' itself, as %XX.
func grpcMessage(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// writeError writes a JSON error body. The description is always one of
// our fixed texts, never request or token data.
func writeError(w http.ResponseWriter, status int, code, description string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, description})
}
