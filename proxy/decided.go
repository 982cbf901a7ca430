package proxy

import (
	"net/http"

	"github.com/portcullis/portcullis/cors"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/token"
)

// Bearer is what a request's Authorization header held.
type Bearer uint8

const (
	BearerNotRead   Bearer = iota // the route is public: the header is not looked at
	BearerNone                    // no bearer token (none, or another scheme)
	BearerMalformed               // refused before verification (two headers, too long, empty)
	BearerPresent                 // a token, handed to the verifier
)

// Outcome is what the request path decided about one request, stage by
// stage, as plain values: portcullis explain renders it, and since Serve
// runs the very code that ServeHTTP does, what explain shows is what
// serving does. No stage knows that explain exists.
type Outcome struct {
	Status int            // what the client got (101 for a relayed tunnel)
	Reason outcome.Reason // why it was refused (MethodNotAllowed: a CONNECT), or how its exchange failed; "" when it went well

	Path    string // the cleaned path; "" when it was refused
	PathErr error  // why the path was refused

	Route *policy.Route // nil when none matched (and for Metadata)
	// Metadata: the request asked for a protected resource's metadata
	// document (RFC 9728), which the gateway answered itself.
	Metadata bool

	Bearer   Bearer
	Token    *token.Token // the verified token
	TokenErr *token.Error // the bearer header's or the verifier's refusal, with the check that made it
	Authz    policy.Decision
	Decision string // the auth decision (outcome.Allowed, ...), "" before one was made

	// Upgrade is what became of an Upgrade header: "" for none, else the
	// access log's upgrade value; UpgradeWhy says why one was removed.
	Upgrade, UpgradeWhy string

	// CORS is what the route's cors policy (or defaults.cors, for a
	// request no route takes) made of the request; its Kind is NotCORS
	// without an Origin or without a policy. A preflight it answered has
	// Kind Preflight, and Route is the route of the method it asked about.
	CORS cors.Result
}

// Serve handles r exactly as ServeHTTP does, metrics and access log
// included, and returns what was decided.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request) Outcome {
	return h.serve(w, r, false).outcome()
}

// outcome is what ex decided, as explain and decisions read it.
func (ex *exchange) outcome() Outcome {
	return Outcome{
		Status:     ex.finalStatus(),
		Reason:     ex.reason,
		Path:       ex.path,
		PathErr:    ex.pathErr,
		Route:      ex.route,
		Metadata:   ex.metadata,
		Bearer:     ex.bearer,
		Token:      ex.tok,
		TokenErr:   ex.tokErr,
		Authz:      ex.authz,
		Decision:   ex.decision,
		Upgrade:    ex.upgrade.String(),
		UpgradeWhy: ex.upgrade.why(),
		CORS:       ex.cors,
	}
}
