// Package outcome is the one vocabulary of why the gateway refuses a
// request, and the one table of what each refusal is: its HTTP status, its
// OAuth error code and WWW-Authenticate challenge, whether it counts as an
// authentication failure, the auth decision it is logged and counted under,
// and the fixed text the client reads.
//
// It is a package of its own because every stage produces reasons (token
// verification, the policy's authorization, the request path's own checks,
// the upstream) and no stage owns the others' reasons: token and policy
// return a Reason, and proxy writes, logs and counts a refusal by looking up
// its Row. Adding a reason is adding a constant and a row; a test holds that
// every constant has one.
//
// It must never hold request data: descriptions are fixed texts, so that a
// response never echoes a token, a claim or a path.
package outcome

import "net/http"

// Reason is why a request was refused. The values are the reason label of
// portcullis_auth_failures_total and the reason field of the access log, so
// they must never change.
type Reason string

// Reasons of token verification (401 unless said otherwise).
const (
	Missing      Reason = "missing"
	Malformed    Reason = "malformed"
	BadSignature Reason = "bad_signature"
	UnknownKey   Reason = "unknown_key"
	BadAlgorithm Reason = "bad_algorithm"
	Expired      Reason = "expired"
	NotYetValid  Reason = "not_yet_valid"
	BadIssuer    Reason = "bad_issuer"
	BadAudience  Reason = "bad_audience"
	BadType      Reason = "bad_type"
	MissingClaim Reason = "missing_claim"
	// KeysUnavailable is not the client's fault: the issuer's key set has
	// never been loaded (the IdP has been unreachable since start). It is
	// 503 and no auth failure.
	KeysUnavailable Reason = "keys_unavailable"
	// Inactive: the issuer's introspection endpoint says the token is not
	// active (RFC 7662 §2.2: revoked, expired, or never issued).
	Inactive Reason = "inactive"
	// Revoked: the issuer's revocation list names the token (its jti, or
	// its subject before the token's iat).
	Revoked Reason = "revoked"
	// IntrospectionUnavailable: the introspection endpoint is down, slow
	// or answers nonsense. The token may be good, so it is 503 and no auth
	// failure; nothing is forwarded (fail closed).
	IntrospectionUnavailable Reason = "introspection_unavailable"
	// RevocationUnavailable: the issuer's revocation list has never been
	// loaded, so no token of it can be cleared. 503, no auth failure.
	RevocationUnavailable Reason = "revocation_unavailable"
)

// Reasons of authorization (403).
const (
	InsufficientScope Reason = "insufficient_scope"
	ClaimMismatch     Reason = "claim_mismatch"
)

// Reasons of the request path, the upstream and the stream: never auth
// failures.
const (
	// MethodNotAllowed: CONNECT, or a method with a lower-case letter
	// (which routes, matching methods exactly, would take as another
	// method than an upstream that upper-cases it serves).
	MethodNotAllowed Reason = "method_not_allowed"
	// MethodOverride: a method-override header (X-HTTP-Method-Override,
	// X-HTTP-Method, X-Method-Override) names another method than the
	// request's own. Frameworks that honour it (Rails, Symfony, Express's
	// method-override, ASP.NET Core) would serve a method that no route
	// authorized, so the request is refused before routing.
	MethodOverride Reason = "method_override"
	// BadHost: the host the request is routed on and the upstream told
	// (Host, or a trusted proxy's X-Forwarded-Host) is not exactly one
	// valid host: two X-Forwarded-Host headers or a comma-separated list
	// (Express reads the first, Rack the last), a value that no Host
	// header could be, or one with more than one ':' outside brackets
	// (a bare IPv6 address to the route table, a name and port to
	// Express, which cuts at the first).
	BadHost            Reason = "bad_host"
	BadPath            Reason = "bad_path"
	NoRoute            Reason = "no_route"
	Overloaded         Reason = "overloaded"
	UpstreamTimeout    Reason = "upstream_timeout"
	UpstreamError      Reason = "upstream_error"
	UpstreamBadUpgrade Reason = "upstream_bad_upgrade"
	// BodyTooLarge: the request body is over the route's max_body_bytes.
	BodyTooLarge  Reason = "body_too_large"
	ClientTimeout Reason = "client_timeout"
	ClientGone    Reason = "client_gone"
	// StreamIdle ends a response already under way: nothing more is
	// written, and the status sent stays the one logged.
	StreamIdle Reason = "stream_idle"
	// CORSRefused: a CORS preflight that the route's cors policy does not
	// allow (its origin, method or a header). It is answered 403 without
	// any Access-Control-* header, which makes the browser fail the call
	// it was asking about; nothing is forwarded.
	CORSRefused Reason = "cors_refused"
	// RateLimited: a rate limit of the route (rate_limit) is spent. 429,
	// never an auth failure; the proxy sets Retry-After per request, from
	// the limit that refused (the row has none), and the RateLimit
	// headers.
	RateLimited Reason = "rate_limited"
)

// Reasons of the decision service: the call itself, not the request it
// describes, is refused. Never auth failures.
const (
	// UntrustedCaller: the caller is not in server.trusted_proxies, so the
	// request it describes is not believed.
	UntrustedCaller Reason = "untrusted_caller"
	// BadDescription: the call does not describe one request (a header
	// missing, repeated or malformed).
	BadDescription Reason = "bad_description"
)

// Decisions, the values of the auth decision metric and log field.
const (
	Allowed         = "allowed"
	Anonymous       = "anonymous"
	Unauthenticated = "unauthenticated"
	Forbidden       = "forbidden"
)

// Challenge is the WWW-Authenticate header a refusal carries (RFC 6750 §3).
type Challenge uint8

const (
	NoChallenge Challenge = iota
	// BearerChallenge: `Bearer realm="portcullis"`, with no error code,
	// for a request that sent no token (§3.1).
	BearerChallenge
	// InvalidTokenChallenge adds error="invalid_token" and the description.
	InvalidTokenChallenge
	// InsufficientScopeChallenge adds error="insufficient_scope", the
	// description and the scopes the route requires.
	InsufficientScopeChallenge
)

// Row is what one reason looks like to the client, the logs and the metrics.
type Row struct {
	Status    int
	Error     string // the JSON body's "error", and the challenge's error code
	Challenge Challenge
	// AuthFailure: counted in portcullis_auth_failures_total.
	AuthFailure bool
	// Decision is the auth decision a request refused for this reason is
	// counted under; "" for refusals before any auth decision.
	Decision string
	// RetryAfter is the Retry-After header, "" for none.
	RetryAfter string
	// Description is the error_description: fixed text.
	Description string
	// Silent: nothing is written (the client is gone, or the response is
	// under way); Status, when set, is what the access log and the metrics
	// record.
	Silent bool
	// Close asks for the connection to be closed after the answer.
	Close bool
}

// ClientClosedRequest is the status recorded when the client went away
// before a response (nginx's 499); nothing is written.
const ClientClosedRequest = 499

func invalidToken(description string) Row {
	return Row{Status: http.StatusUnauthorized, Error: "invalid_token", Challenge: InvalidTokenChallenge,
		AuthFailure: true, Decision: Unauthenticated, Description: description}
}

// rows is the table. Reasons not in it are refused as malformed tokens by
// Of, so that a reason added without a row fails closed.
var rows = map[Reason]Row{
	Missing: {Status: http.StatusUnauthorized, Error: "unauthorized", Challenge: BearerChallenge,
		AuthFailure: true, Decision: Unauthenticated, Description: "a bearer token is required"},
	Malformed:    invalidToken("the token is malformed"),
	BadSignature: invalidToken("the token signature is invalid"),
	UnknownKey:   invalidToken("the token is signed by an unknown key"),
	BadAlgorithm: invalidToken("the token's signing algorithm is not accepted"),
	Expired:      invalidToken("the token has expired"),
	NotYetValid:  invalidToken("the token is not valid yet"),
	BadIssuer:    invalidToken("the token's issuer is not accepted"),
	BadAudience:  invalidToken("the token's audience is not accepted"),
	BadType:      invalidToken("the token's type is not accepted"),
	MissingClaim: invalidToken("the token lacks a required claim"),
	KeysUnavailable: {Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable",
		Decision: Unauthenticated, RetryAfter: "5", Description: "the issuer's signing keys are not available yet"},
	Inactive: invalidToken("the token is not active"),
	Revoked:  invalidToken("the token has been revoked"),
	IntrospectionUnavailable: {Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable",
		Decision: Unauthenticated, RetryAfter: "5", Description: "the token cannot be checked right now"},
	RevocationUnavailable: {Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable",
		Decision: Unauthenticated, RetryAfter: "5", Description: "the issuer's revocation list is not available yet"},

	InsufficientScope: {Status: http.StatusForbidden, Error: "insufficient_scope", Challenge: InsufficientScopeChallenge,
		AuthFailure: true, Decision: Forbidden, Description: "the token lacks a required scope"},
	ClaimMismatch: {Status: http.StatusForbidden, Error: "insufficient_scope", Challenge: InsufficientScopeChallenge,
		AuthFailure: true, Decision: Forbidden, Description: "the token lacks a required claim value"},

	MethodNotAllowed: {Status: http.StatusMethodNotAllowed, Error: "method_not_allowed",
		Description: "CONNECT is not served: the gateway opens no tunnels"},
	MethodOverride: {Status: http.StatusBadRequest, Error: "invalid_request",
		Description: "a method-override header names another method than the request's, which is the one routes match"},
	BadHost: {Status: http.StatusBadRequest, Error: "invalid_request",
		Description: "the host (Host, or a trusted proxy's X-Forwarded-Host) must be exactly one valid host: it is the host the request is routed on"},
	BadPath: {Status: http.StatusBadRequest, Error: "invalid_request", Description: "the request path is refused"},
	NoRoute: {Status: http.StatusNotFound, Error: "not_found", Description: "no route matches this request"},
	Overloaded: {Status: http.StatusServiceUnavailable, Error: "temporarily_unavailable", RetryAfter: "1",
		Description: "the gateway is at its limit of concurrent requests"},
	UpstreamTimeout: {Status: http.StatusGatewayTimeout, Error: "gateway_timeout", Description: "the upstream did not answer in time"},
	UpstreamError:   {Status: http.StatusBadGateway, Error: "bad_gateway", Description: "the upstream could not be reached"},
	UpstreamBadUpgrade: {Status: http.StatusBadGateway, Error: "bad_gateway",
		Description: "the upstream switched protocols without being asked to"},
	ClientTimeout: {Status: http.StatusRequestTimeout, Error: "request_timeout", Close: true,
		Description: "the request body stopped arriving"},
	ClientGone: {Status: ClientClosedRequest, Silent: true},
	BodyTooLarge: {Status: http.StatusRequestEntityTooLarge, Error: "request_too_large", Close: true,
		Description: "the request body is larger than this route accepts"},
	UntrustedCaller: {Status: http.StatusForbidden, Error: "access_denied",
		Description: "decisions are answered to trusted proxies only"},
	BadDescription: {Status: http.StatusBadRequest, Error: "invalid_request",
		Description: "the call does not describe one request"},
	StreamIdle: {Silent: true},
	CORSRefused: {Status: http.StatusForbidden, Error: "cors_refused",
		Description: "the cross-origin request this preflight asks about is not allowed"},
	RateLimited: {Status: http.StatusTooManyRequests, Error: "rate_limited",
		Description: "too many requests: retry after the time Retry-After gives"},
}

// Of returns the row of r. An unknown reason gets the malformed-token row
// (401, an auth failure): a refusal is never turned into something softer
// by a missing row.
func Of(r Reason) Row {
	if row, ok := rows[r]; ok {
		return row
	}
	return rows[Malformed]
}

// Reasons lists every reason that has a row, for tests and documentation.
func Reasons() []Reason {
	out := make([]Reason, 0, len(rows))
	for r := range rows {
		out = append(out, r)
	}
	return out
}
