package config

import (
	"fmt"
	"slices"
	"strings"
)

// Problem is one mistake in the file, or one warning about it.
//
// Msg is written for the operator and its wording may change from one
// release to the next; Code is the kind of mistake, stable, for programs
// and tests to switch on. Together with Field and Line it says which rule
// fired where.
type Problem struct {
	File  string // path as given to Load, or the name given to Parse
	Line  int    // 1-based YAML line; 0 when the file as a whole is at fault
	Field string // dotted path, e.g. "routes[2].auth.issuers[0]"
	Code  Code   // the kind of mistake, e.g. CodeUnknownKey
	Msg   string
}

// Code is the kind of a Problem. The values are stable: a code is never
// renamed or given a new meaning, and a new rule gets a code of its own
// only when no existing one describes it. They are coarse on purpose: a
// code names the rule that fired (the host syntax, the algorithm
// allow-list), and Field says which setting broke it.
type Code string

// The file and its YAML.
const (
	// CodeUnreadable: the file cannot be opened or read.
	CodeUnreadable Code = "unreadable"
	// CodeTooLarge: the file is larger than MaxFileSize.
	CodeTooLarge Code = "too_large"
	// CodeSyntax: the file is not valid YAML, or not UTF-8 text.
	CodeSyntax Code = "syntax"
	// CodeEmptyFile: the file holds no document, or only a null one.
	CodeEmptyFile Code = "empty_file"
	// CodeMultipleDocuments: a second YAML document follows the first.
	CodeMultipleDocuments Code = "multiple_documents"
	// CodeAliasExpansion: aliases expand to more values than the decoder
	// visits (a "billion laughs" file).
	CodeAliasExpansion Code = "alias_expansion"
	// CodeBadMerge: a merge key (<<) refers back to its own mapping, or
	// takes something other than a mapping or a list of mappings.
	CodeBadMerge Code = "bad_merge"
)

// The shape of the file: keys and the kinds of values.
const (
	// CodeUnknownKey: a key the schema does not have at that place,
	// including an unknown auth.claims operator.
	CodeUnknownKey Code = "unknown_key"
	// CodeDuplicateKey: a key written twice in one mapping.
	CodeDuplicateKey Code = "duplicate_key"
	// CodeWrongType: a value of the wrong kind (a string where a list is
	// expected, a list where a claim check wants one value, the top level
	// not a mapping, a key that is not a string).
	CodeWrongType Code = "wrong_type"
)

// Values that break a rule of their setting.
const (
	// CodeRequired: a setting that must be written is absent or empty
	// (a name, an issuer's iss value, algorithms, an upstream, a route's
	// path, the other half of tls, the routes themselves).
	CodeRequired Code = "required"
	// CodeEmpty: an entry that was written but is empty: an audience, a
	// required claim, a token type, or the list of a claim check.
	CodeEmpty Code = "empty"
	// CodeOutOfRange: a number or duration outside its bounds, a timeout
	// of 0 included.
	CodeOutOfRange Code = "out_of_range"
	// CodeBadDuration: a string that is not a duration ("30", "5d", "-5s").
	CodeBadDuration Code = "bad_duration"
	// CodeUnknownValue: not one of the words the setting allows (a log
	// level or format, an auth mode, an algorithm name).
	CodeUnknownValue Code = "unknown_value"
	// CodeDuplicate: a value listed twice where each must be unique: an
	// issuer's name or iss, a route's name, an algorithm, a host, a
	// method, a header (in any of its spellings).
	CodeDuplicate Code = "duplicate"
	// CodeConflict: settings that contradict each other: path and
	// path_prefix, strip_prefix with an exact path, a
	// min_refresh_interval above refresh_interval, a route timeout that
	// server.write_timeout cuts short (a warning).
	CodeConflict Code = "conflict"
	// CodeIgnored: a setting that would have no effect: auth issuers,
	// scopes or claims on a public route, claims_to_headers on one (a
	// warning).
	CodeIgnored Code = "ignored"
	// CodeReserved: a name the gateway keeps for itself: the route name
	// "unmatched", a header that carries framing, credentials or
	// provenance.
	CodeReserved Code = "reserved"
	// CodeInvalid: a value refused for a reason no other code names (a
	// claim check against a number that is not finite).
	CodeInvalid Code = "invalid"
)

// The syntax of a kind of value.
const (
	// CodeBadName: an issuer name that is not 1 to 64 letters, digits,
	// '_' or '-'.
	CodeBadName Code = "bad_name"
	// CodeBadAddress: a listen address that is not host:port, or a
	// trusted proxy that is neither a CIDR nor an IP address.
	CodeBadAddress Code = "bad_address"
	// CodeBadURL: a jwks_uri, an issuer used for discovery, or an
	// upstream that is not a URL of the kind it must be.
	CodeBadURL Code = "bad_url"
	// CodeBadPath: a match path or path_prefix that no cleaned, decoded
	// request path could equal.
	CodeBadPath Code = "bad_path"
	// CodeBadHost: a match.hosts entry that is not a host pattern.
	CodeBadHost Code = "bad_host"
	// CodeBadMethod: a match.methods entry that is not an HTTP token.
	CodeBadMethod Code = "bad_method"
	// CodeBadScope: a required scope that no token could carry.
	CodeBadScope Code = "bad_scope"
	// CodeBadHeader: a claims_to_headers name that is not a header name.
	CodeBadHeader Code = "bad_header"
	// CodeBadOrigin: a cors.allowed_origins entry that is not an origin
	// as browsers send it (scheme://host[:port]) or a wildcard of one.
	CodeBadOrigin Code = "bad_origin"
	// CodeBadClaimPath: a malformed claim path (scope_claims, auth.claims,
	// claims_to_headers) or claim name (audience_claim).
	CodeBadClaimPath Code = "bad_claim_path"
)

// The security rules.
const (
	// CodeRefusedAlgorithm: "none" or an HMAC algorithm in an issuer's
	// allow-list.
	CodeRefusedAlgorithm Code = "refused_algorithm"
	// CodeRefusedMethod: CONNECT in match.methods; it is never served.
	CodeRefusedMethod Code = "refused_method"
	// CodeListenerOverlap: admin_listen would be reachable on the proxy's
	// port.
	CodeListenerOverlap Code = "listener_overlap"
	// CodeNoKeySource: an issuer with neither jwks_uri nor discovery.
	CodeNoKeySource Code = "no_key_source"
	// CodeNoIssuers: a route verifies tokens, but no issuer is configured.
	CodeNoIssuers Code = "no_issuers"
	// CodeUnknownIssuer: a route's auth.issuers names no configured issuer.
	CodeUnknownIssuer Code = "unknown_issuer"
)

// Warnings: the gateway starts, but the operator should know.
const (
	// CodePlainHTTP: keys or discovery fetched over plain http from a
	// host that is not loopback, or a secret the file names (the Redis
	// password, tracing headers) sent there in clear text.
	CodePlainHTTP Code = "plain_http"
	// CodeAudienceNotChecked: an issuer without audiences.
	CodeAudienceNotChecked Code = "audience_not_checked"
	// CodeExpNotRequired: an issuer whose required_claims lack exp.
	CodeExpNotRequired Code = "exp_not_required"
	// CodeShadowedRoute: a route that an earlier one keeps from ever
	// matching.
	CodeShadowedRoute Code = "shadowed_route"
	// CodeInsecureTLS: a route's upstream certificate is not verified
	// (tls.insecure_skip_verify). An error unless the route acknowledges
	// it (tls.insecure_skip_verify_acknowledged), then a warning.
	CodeInsecureTLS Code = "insecure_tls"
	// CodeTrustsEveryone: a server.trusted_proxies entry that covers every
	// address (0.0.0.0/0, ::/0), so that any client's forwarding headers
	// are believed.
	CodeTrustsEveryone Code = "trusts_everyone"
)

// codedError is an error that knows the Code of the problem it becomes:
// what Duration's UnmarshalYAML returns, so that the decoder can tell a
// value of the wrong kind from a string that is not a duration. Its text
// is the message.
type codedError struct {
	code Code
	msg  string
}

func (e *codedError) Error() string { return e.msg }

// codedf returns a *codedError with a formatted message.
func codedf(code Code, format string, args ...any) error {
	return &codedError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Field == "" {
		return loc + ": " + p.Msg
	}
	return loc + ": " + p.Field + ": " + p.Msg
}

// Problems is every mistake found in one file, in line order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// tidy drops repeated problems (an anchor reused by several routes reports
// its own mistakes once per use, at the same line) and sorts by line. The
// sort is stable so that problems on one line keep the order in which they
// were found: decoding first, then validation, field by field.
func tidy(ps Problems) Problems {
	if len(ps) == 0 {
		return nil
	}
	seen := make(map[Problem]bool, len(ps))
	out := make(Problems, 0, len(ps))
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b Problem) int { return a.Line - b.Line })
	return out
}
