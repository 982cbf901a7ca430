package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/portcullis/portcullis/jwks"
)

var issuerName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// issuers checks the issuers and returns the names that routes may use.
func (v *validator) issuers(iss []Issuer) map[string]bool {
	names := map[string]bool{}
	byName := map[string]int{}
	byIssuer := map[string]int{}
	for i := range iss {
		is := &iss[i]
		p := fmt.Sprintf("issuers[%d]", i)

		switch {
		case is.Name == "":
			v.errorf(p+".name", CodeRequired, "is required: routes and metrics refer to the issuer by it")
		case !issuerName.MatchString(is.Name):
			v.errorf(p+".name", CodeBadName, "%q must be 1 to 64 letters, digits, '_' or '-' (it becomes a metric label)", is.Name)
		default:
			if j, dup := byName[is.Name]; dup {
				v.errorf(p+".name", CodeDuplicate, "%q is already the name of issuers[%d] (line %d)", is.Name, j, iss[j].Line)
			} else {
				byName[is.Name] = i
			}
		}
		if is.Name != "" {
			names[is.Name] = true // even when invalid: that is reported once, above
		}

		if is.Issuer == "" {
			v.errorf(p+".issuer", CodeRequired, "is required: it must equal the iss claim of the tokens, byte for byte")
		} else if j, dup := byIssuer[is.Issuer]; dup {
			v.errorf(p+".issuer", CodeDuplicate, "%q is already the issuer of %q (line %d): a token is sent to an issuer by its iss claim, so each may be configured once", showURL(is.Issuer), iss[j].Name, iss[j].Line)
		} else {
			byIssuer[is.Issuer] = i
		}

		v.keySource(p, is)
		v.algorithms(p, is.Algorithms)
		v.introspection(p, is)
		v.revocation(p, is.Revocation)
		v.issuerClient(p, is)

		if is.RefreshInterval < Duration(time.Second) {
			v.errorf(p+".refresh_interval", CodeOutOfRange, "%s is too short: must be at least 1s", is.RefreshInterval)
		}
		switch {
		case is.MinRefreshInterval < Duration(time.Second):
			v.errorf(p+".min_refresh_interval", CodeOutOfRange, "%s is too short: must be at least 1s, or every token with an unknown kid would cost a fetch", is.MinRefreshInterval)
		case is.MinRefreshInterval > is.RefreshInterval && is.RefreshInterval >= Duration(time.Second):
			v.errorf(p+".min_refresh_interval", CodeConflict, "%s is longer than refresh_interval %s", is.MinRefreshInterval, is.RefreshInterval)
		}
		if c := is.TokenCache; c.MaxEntries < 0 || c.MaxEntries > 1_000_000 {
			v.errorf(p+".token_cache.max_entries", CodeOutOfRange, "%d is out of range: must be between 0 (off) and 1000000", c.MaxEntries)
		}
		if c := is.TokenCache; c.MaxTTL <= 0 || c.MaxTTL > Duration(time.Hour) {
			v.errorf(p+".token_cache.max_ttl", CodeOutOfRange, "%s is out of range: must be greater than 0 and at most 1h", c.MaxTTL)
		}
		if is.ClockSkew > Duration(5*time.Minute) {
			v.errorf(p+".clock_skew", CodeOutOfRange, "%s is too long: must be at most 5m (skew extends the life of every expired token)", is.ClockSkew)
		}

		for j, c := range is.RequiredClaims {
			if c == "" {
				v.errorf(fmt.Sprintf("%s.required_claims[%d]", p, j), CodeEmpty, "must not be empty")
			}
		}
		if !slices.Contains(is.RequiredClaims, "exp") && !v.broken(p+".required_claims") {
			v.warnf(p+".required_claims", CodeExpNotRequired, "does not include exp: a token without an exp claim is accepted and never expires")
		}
		for j, t := range is.TokenTypes {
			if strings.TrimSpace(t) == "" {
				v.errorf(fmt.Sprintf("%s.token_types[%d]", p, j), CodeEmpty, "must not be empty")
			}
		}
		for j, c := range is.ScopeClaims {
			if err := ValidClaimPath(c); err != nil {
				v.errorf(fmt.Sprintf("%s.scope_claims[%d]", p, j), CodeBadClaimPath, "%v", err)
			}
		}
		for j, a := range is.Audiences {
			if a == "" {
				v.errorf(fmt.Sprintf("%s.audiences[%d]", p, j), CodeEmpty, "must not be empty")
			}
		}
		if len(is.Audiences) == 0 {
			v.warnf(p+".audiences", CodeAudienceNotChecked, "aud is not checked: tokens minted for any audience of this issuer are accepted")
		}
		if !validClaimName(is.AudienceClaim) {
			v.errorf(p+".audience_claim", CodeBadClaimPath, "%q is not a claim name: write one top-level claim, such as aud or client_id", is.AudienceClaim)
		}
	}
	return names
}

// validClaimName reports whether s can name a top-level claim: not empty,
// and free of spaces and control characters, which no provider puts in a
// claim name and which would only hide a typo.
func validClaimName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// keySource checks where the issuer's keys come from: jwks_uri, or the
// issuer's discovery document.
func (v *validator) keySource(p string, is *Issuer) {
	if is.JWKSURI != "" {
		v.remoteURL(p+".jwks_uri", is.JWKSURI, true, "keys are fetched over plain http: anyone on the network path can substitute their own keys and mint accepted tokens; use https")
		return
	}

	if !is.Discovery && is.Introspection.Enabled() {
		return // opaque tokens only: introspection, checked there
	}
	if !is.Discovery {
		v.errorf(p+".discovery", CodeNoKeySource, "is false and jwks_uri is empty, so there is no way to find this issuer's keys: set jwks_uri, or set discovery: true")
		return
	}
	if is.Issuer == "" {
		return // already reported
	}
	u, err := url.Parse(is.Issuer)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !validPort(u):
		v.errorf(p+".issuer", CodeBadURL, "%q is not an http(s) URL, so its keys cannot be discovered: set jwks_uri", showURL(is.Issuer))
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(is.Issuer, "#"):
		v.errorf(p+".issuer", CodeBadURL, "%q: an issuer used for discovery has no user info, query or fragment (OpenID Connect Discovery §3); set jwks_uri instead", showURL(is.Issuer))
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		v.warnf(p+".issuer", CodePlainHTTP, "discovery and keys are fetched over plain http: anyone on the network path can substitute their own keys; use https")
	}
}

// algorithms checks an issuer's allow-list of JWS algorithms.
func (v *validator) algorithms(p string, algs []string) {
	if len(algs) == 0 {
		v.errorf(p+".algorithms", CodeRequired, "is required: list the algorithms this issuer signs with, e.g. [RS256]; an explicit allow-list is what stops a token from choosing how it is verified (RFC 8725 §3.1)")
		return
	}
	seen := map[string]int{}
	for j, a := range algs {
		ap := fmt.Sprintf("%s.algorithms[%d]", p, j)
		switch up := strings.ToUpper(a); {
		case up == "NONE":
			v.errorf(ap, CodeRefusedAlgorithm, "%q is refused: it means an unsigned token, which anyone can forge", a)
		case up == "HS256" || up == "HS384" || up == "HS512":
			v.errorf(ap, CodeRefusedAlgorithm, "%q is refused: HMAC algorithms use a shared secret, so whoever can verify a token can also mint one, and allowing them beside public keys invites algorithm confusion (a token signed with the public key as the HMAC secret); use an asymmetric algorithm such as RS256 or ES256", a)
		case jwks.Supported(a):
			if line, dup := seen[a]; dup {
				v.errorf(ap, CodeDuplicate, "%q is listed twice (first on line %d)", a, line)
			}
			seen[a] = v.line(ap)
		default:
			if k := slices.IndexFunc(jwks.Algorithms, func(s string) bool { return strings.EqualFold(s, a) }); k >= 0 {
				v.errorf(ap, CodeUnknownValue, "%q: algorithm names are case-sensitive, write %q", a, jwks.Algorithms[k])
			} else {
				v.errorf(ap, CodeUnknownValue, "unknown algorithm %q: use one of %s", a, strings.Join(jwks.Algorithms, ", "))
			}
		}
	}
}
