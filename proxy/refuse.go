package proxy

import (
	"encoding/json"
	"net/http"

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
	if row.Close {
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
	writeError(w, row.Status, row.Error, description)
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
