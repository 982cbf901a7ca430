package proxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/token"
)

// Trace records what each stage of the pipeline decided about one request,
// for `portcullis explain`. A request carries one only when explain put it
// in the context (WithTrace); the request path pays one nil check per stage
// otherwise. Stages record; they never decide differently because a trace
// is present, so what explain shows is what serving does.
type Trace struct {
	Path   string        // the cleaned path, "" when it was refused
	Route  *policy.Route // nil when none matched
	Checks []Check
	Token  *token.Token // the verified token, when there was one
	Scopes []string     // the scopes the token carries
}

// Check is one stage's verdict.
type Check struct {
	Stage  string `json:"stage"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

type traceKey struct{}

// WithTrace returns a context whose requests record into tr.
func WithTrace(ctx context.Context, tr *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, tr)
}

func traceOf(ctx context.Context) *Trace {
	tr, _ := ctx.Value(traceKey{}).(*Trace)
	return tr
}

// cleaned records the path stage's success.
func (tr *Trace) cleaned(path string) {
	if tr != nil {
		tr.Path = path
		tr.add("path", true, "%s", path)
	}
}

// matched records the route stage's success.
func (tr *Trace) matched(r *policy.Route) {
	if tr != nil {
		tr.Route = r
		tr.add("route", true, "%s (auth mode %s)", r.Name, r.Mode)
	}
}

func (tr *Trace) add(stage string, ok bool, format string, args ...any) {
	if tr != nil {
		tr.Checks = append(tr.Checks, Check{Stage: stage, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
}

// verificationStages are the checks of token.Verifier, in its order, with
// the reasons that each one refuses a token for.
var verificationStages = []struct {
	stage   string
	reasons []outcome.Reason
}{
	{"token format", []outcome.Reason{outcome.Malformed}},
	{"issuer", []outcome.Reason{outcome.BadIssuer}},
	{"algorithm", []outcome.Reason{outcome.BadAlgorithm}},
	{"type", []outcome.Reason{outcome.BadType}},
	{"key", []outcome.Reason{outcome.UnknownKey, outcome.KeysUnavailable}},
	{"signature", []outcome.Reason{outcome.BadSignature}},
	{"time", []outcome.Reason{outcome.Expired, outcome.NotYetValid}},
	{"audience", []outcome.Reason{outcome.BadAudience}},
	{"required claims", []outcome.Reason{outcome.MissingClaim}},
}

// traceVerification records the verifier's checks: every stage before the
// one that refused passed, the refusing one failed with its reason, and
// when the token was accepted, every stage passed.
func (tr *Trace) traceVerification(tok *token.Token, err *token.Error) {
	if tr == nil {
		return
	}
	for _, s := range verificationStages {
		failed := err != nil && slices.Contains(s.reasons, err.Reason)
		if failed {
			tr.add(s.stage, false, "%s: %s", err.Reason, err.Description())
			return
		}
		if err == nil {
			tr.add(s.stage, true, "%s", passedDetail(s.stage, tok))
		} else {
			tr.add(s.stage, true, "passed")
		}
	}
}

func passedDetail(stage string, tok *token.Token) string {
	switch stage {
	case "issuer":
		return tok.Issuer
	case "algorithm":
		return tok.Algorithm
	case "key":
		if tok.KeyID == "" {
			return "a key without kid"
		}
		return "kid " + tok.KeyID
	case "signature":
		if tok.Unverified {
			return "NOT CHECKED (-no-verify)"
		}
		return "verified"
	case "time":
		if tok.Expiry.IsZero() {
			return "no exp"
		}
		return fmt.Sprintf("expires %s (in %s)", tok.Expiry.UTC().Format(time.RFC3339), time.Until(tok.Expiry).Round(time.Second))
	}
	return "passed"
}

// traceAuthorization records the scope and claim rules of the route.
func (tr *Trace) traceAuthorization(rt *Runtime, route *policy.Route, tok *token.Token, d policy.Decision) {
	if tr == nil {
		return
	}
	tr.Token = tok
	tr.Scopes = rt.table.Scopes(tok.Issuer, tok.Claims)
	present := strings.Join(tr.Scopes, " ")
	if len(route.AllOf) > 0 || len(route.AnyOf) > 0 {
		scopeOK := d.Allowed || d.Reason != outcome.InsufficientScope
		tr.add("scopes", scopeOK, "all_of [%s] any_of [%s]; token has [%s]%s",
			strings.Join(route.AllOf, " "), strings.Join(route.AnyOf, " "), present, missing(d))
		if !scopeOK {
			return
		}
	}
	for _, c := range route.Claims {
		failed := !d.Allowed && d.Reason == outcome.ClaimMismatch && d.Claim == c.Path.String()
		v, found := c.Path.Lookup(tok.Claims)
		have, hint := "absent", ""
		if found {
			have = policy.JSONText(v)
			if failed {
				hint = claimHint(c, v)
			}
		}
		tr.add("claim "+c.Path.String(), !failed, "want %s, token has %s%s", c.Want(), have, hint)
		if failed {
			return
		}
	}
}

// claimHint explains a claim check that failed because the claim has the
// other shape: a plain value or one_of against an array claim (what the
// plain form meant before it became exact), or an array operator against a
// scalar claim. validate cannot say this, since it never sees a token.
func claimHint(c policy.ClaimCheck, v any) string {
	_, isArray := v.([]any)
	if _, ok := v.([]string); ok {
		isArray = true
	}
	switch {
	case isArray && c.Op == policy.Equals:
		return fmt.Sprintf(" (an array never equals a value: {contains: %s} is probably what was meant)", policy.JSONText(c.Values[0]))
	case isArray && c.Op == policy.OneOf:
		return fmt.Sprintf(" (one_of passes only a claim that is a single value, never an array: {contains_any: %s} is probably what was meant)", policy.JSONText(c.Values))
	case !isArray && c.Op.Array():
		if _, isObject := v.(map[string]any); isObject {
			return fmt.Sprintf(" (%s checks an array claim; this one is an object)", c.Op)
		}
		return fmt.Sprintf(" (%s checks an array claim; for a claim that is a single value, write the value plainly, or use one_of)", c.Op)
	}
	return ""
}

func missing(d policy.Decision) string {
	if len(d.Missing) == 0 {
		return ""
	}
	return "; missing [" + strings.Join(d.Missing, " ") + "]"
}
