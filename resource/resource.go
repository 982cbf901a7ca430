// Package resource owns the gateway's OAuth 2.0 Protected Resource Metadata
// (RFC 9728): the documents that tell a client which authorization servers
// issue tokens for a protected resource and how to present them, the
// well-known URLs they are served at, and the resource_metadata parameter
// that points a WWW-Authenticate challenge at them (§5.1).
//
// It is a top-level package because it describes the resource to clients:
// it is neither token verification (token/ decides whether a token is good)
// nor route policy (policy/ decides what a good token may do). The gateway
// loads the documents once into an immutable Set, serves the Set before its
// route table without asking for a token, and appends a precomputed
// ChallengeParam to the challenges of routes that name a resource.
//
// It must never serve a document whose "resource" differs from the
// identifier its URL was derived from: §3.3 tells clients to discard such a
// document, so serving one breaks discovery while looking like it works.
// NewSet derives every URL from the document's own resource and refuses two
// documents that would share one. It must never reveal configuration beyond
// the documents: an unknown path gets the same fixed 404 whatever is
// configured, and nothing of the request is echoed.
package resource

import (
	"fmt"
	"slices"
)

// Metadata is one protected resource's document (RFC 9728 §2). The JSON
// member names are exactly those the RFC registers; members left empty are
// omitted. The signed_metadata member is not supported.
type Metadata struct {
	// Resource is the resource identifier (REQUIRED): an https URL with no
	// query and no fragment, in lowercase scheme and host, because clients
	// compare it with the URL they derived byte for byte (§3.3). http is
	// accepted for loopback hosts (localhost, 127.0.0.1, ::1) only, for
	// development.
	Resource string `json:"resource"`
	// AuthorizationServers are the issuer identifiers (RFC 8414) of the
	// authorization servers whose tokens the resource accepts: https URLs
	// without query or fragment.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// JWKSURI is the https URL of the resource's own public keys (for
	// signed responses), not the issuers' keys.
	JWKSURI string `json:"jwks_uri,omitempty"`
	// ScopesSupported are the scope values (RFC 6749 §3.3 scope-tokens)
	// used in requests for tokens to reach the resource. RECOMMENDED.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported are the RFC 6750 ways of presenting a bearer
	// token. Only "header" is accepted: the gateway reads the token from the
	// Authorization header alone, so advertising "body" or "query" would
	// send clients down a path that always fails. Empty means unspecified
	// (the member is omitted), not "none".
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	// ResourceSigningAlgValuesSupported are the JWS algorithms the resource
	// signs responses with; "none" is refused (§2).
	ResourceSigningAlgValuesSupported []string `json:"resource_signing_alg_values_supported,omitempty"`
	// ResourceName is a human-readable name for end users.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is an https URL of developer documentation.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
	// ResourcePolicyURI is an https URL of how the resource uses data.
	ResourcePolicyURI string `json:"resource_policy_uri,omitempty"`
	// ResourceTOSURI is an https URL of the terms of service.
	ResourceTOSURI string `json:"resource_tos_uri,omitempty"`
	// TLSClientCertificateBoundAccessTokens (RFC 8705) must stay false: the
	// gateway does not check a token's certificate binding, and a document
	// must not promise a protection that is not enforced.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// AuthorizationDetailsTypesSupported are the RFC 9396 authorization
	// details types the resource understands.
	AuthorizationDetailsTypesSupported []string `json:"authorization_details_types_supported,omitempty"`
	// DPoPSigningAlgValuesSupported must stay empty, and
	// DPoPBoundAccessTokensRequired false: the gateway verifies no DPoP
	// proofs (RFC 9449), and treats the DPoP scheme as no token at all.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required,omitempty"`
}

// MemberError is a document refused for one of its members. Member is the
// JSON member name, with an index for an element of an array member
// ("authorization_servers[1]").
type MemberError struct {
	Resource string // the document's resource, as configured
	Member   string
	Problem  string
}

func (e *MemberError) Error() string {
	if e.Resource == "" {
		return fmt.Sprintf("protected resource metadata: %s: %s", e.Member, e.Problem)
	}
	return fmt.Sprintf("protected resource metadata for %q: %s: %s", e.Resource, e.Member, e.Problem)
}

// Validate checks every member it can: the resource identifier and every
// URL, the scope and algorithm lists, and that the document promises only
// what the gateway enforces (header bearer tokens, no certificate or DPoP
// binding). The first broken rule is returned as a *MemberError.
func (m Metadata) Validate() error {
	refuse := func(member, problem string) error {
		return &MemberError{Resource: m.Resource, Member: member, Problem: problem}
	}
	if _, err := parseIdentifier(m.Resource); err != nil {
		return refuse("resource", err.Error())
	}
	for i, as := range m.AuthorizationServers {
		if _, err := checkURL(as, noQuery); err != nil {
			return refuse(fmt.Sprintf("authorization_servers[%d]", i), "not an issuer identifier: "+err.Error())
		}
	}
	if err := checkList("authorization_servers", m.AuthorizationServers, refuse); err != nil {
		return err
	}
	for _, link := range []struct{ member, url string }{
		{"jwks_uri", m.JWKSURI},
		{"resource_documentation", m.ResourceDocumentation},
		{"resource_policy_uri", m.ResourcePolicyURI},
		{"resource_tos_uri", m.ResourceTOSURI},
	} {
		if link.url == "" {
			continue
		}
		if _, err := checkURL(link.url, queryAllowed); err != nil {
			return refuse(link.member, err.Error())
		}
	}
	// The syntax of each scope is config.CheckScope's, the one home of
	// that rule, which validation applies to scopes_supported.
	if err := checkList("scopes_supported", m.ScopesSupported, refuse); err != nil {
		return err
	}
	for i, b := range m.BearerMethodsSupported {
		switch b {
		case "header":
		case "body", "query":
			return refuse(fmt.Sprintf("bearer_methods_supported[%d]", i),
				fmt.Sprintf("%q is not honoured: the gateway reads bearer tokens from the Authorization header only", b))
		default:
			return refuse(fmt.Sprintf("bearer_methods_supported[%d]", i), fmt.Sprintf("%q is no RFC 6750 method", b))
		}
	}
	if err := checkList("bearer_methods_supported", m.BearerMethodsSupported, refuse); err != nil {
		return err
	}
	for i, a := range m.ResourceSigningAlgValuesSupported {
		if a == "none" {
			return refuse(fmt.Sprintf("resource_signing_alg_values_supported[%d]", i), `"none" must not be used (RFC 9728 §2)`)
		}
	}
	if err := checkList("resource_signing_alg_values_supported", m.ResourceSigningAlgValuesSupported, refuse); err != nil {
		return err
	}
	if err := checkList("authorization_details_types_supported", m.AuthorizationDetailsTypesSupported, refuse); err != nil {
		return err
	}
	if m.TLSClientCertificateBoundAccessTokens {
		return refuse("tls_client_certificate_bound_access_tokens", "the gateway does not check certificate-bound tokens (RFC 8705)")
	}
	if len(m.DPoPSigningAlgValuesSupported) > 0 {
		return refuse("dpop_signing_alg_values_supported", "the gateway verifies no DPoP proofs (RFC 9449)")
	}
	if m.DPoPBoundAccessTokensRequired {
		return refuse("dpop_bound_access_tokens_required", "the gateway verifies no DPoP proofs (RFC 9449)")
	}
	return nil
}

// checkList refuses empty and repeated values in an array member: both are
// configuration mistakes that a client would have to guess about.
func checkList(member string, values []string, refuse func(member, problem string) error) error {
	for i, v := range values {
		if v == "" {
			return refuse(fmt.Sprintf("%s[%d]", member, i), "empty value")
		}
		if slices.Index(values[:i], v) >= 0 {
			return refuse(fmt.Sprintf("%s[%d]", member, i), fmt.Sprintf("%q is listed twice", v))
		}
	}
	return nil
}
