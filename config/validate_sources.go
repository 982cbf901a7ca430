package config

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/resource"
)

// remoteURL checks the location of a document the gateway reads (a key
// set, a revocation list): http(s) with a host and no credentials, or a
// local file. plainHTTP is the warning for http off loopback.
func (v *validator) remoteURL(p, raw string, files bool, plainHTTP string) {
	u, err := url.Parse(raw)
	if err != nil {
		v.errorf(p, CodeBadURL, "%s", notAURL(raw, err))
		return
	}
	switch u.Scheme {
	case "http", "https":
		switch {
		case u.Host == "":
			v.errorf(p, CodeBadURL, "%q has no host", showURL(raw))
		case !validPort(u):
			v.errorf(p, CodeBadURL, "%q: the port must be a number from 1 to 65535", showURL(raw))
		case u.User != nil:
			v.errorf(p, CodeBadURL, "%q must not carry user info (credentials in a URL end up in logs)", showURL(raw))
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			v.warnf(p, CodePlainHTTP, "%s", plainHTTP)
		}
	case "file":
		if !files {
			v.errorf(p, CodeBadURL, "%q: the scheme must be https or http", showURL(raw))
		} else if u.Path == "" || (u.Host != "" && u.Host != "localhost") {
			v.errorf(p, CodeBadURL, "%q: a file URL needs an absolute path, with three slashes: file:///etc/portcullis/list.json", showURL(raw))
		}
	default:
		if files {
			v.errorf(p, CodeBadURL, "%q: the scheme must be https, http or file", showURL(raw))
		} else {
			v.errorf(p, CodeBadURL, "%q: the scheme must be https or http", showURL(raw))
		}
	}
}

// introspection checks an issuer's introspection block. Every key of it
// is ignored unless client_id turns it on, which is an error rather than a
// silent no-op.
func (v *validator) introspection(p string, is *Issuer) {
	in := is.Introspection
	p += ".introspection"
	if !in.Enabled() {
		if v.present(p) && !v.broken(p) {
			v.errorf(p+".client_id", CodeRequired, "is required: without it introspection is off and the rest of this block would be ignored")
		}
		return
	}
	switch in.Endpoint {
	case "":
		if !is.Discovery {
			v.errorf(p+".endpoint", CodeRequired, "is required when discovery is false: set the introspection URL, or turn discovery on to read introspection_endpoint")
		}
	default:
		v.remoteURL(p+".endpoint", in.Endpoint, false, "tokens and the client's credentials are sent over plain http: anyone on the network path can read them; use https")
	}
	secretKeys := func() {
		switch {
		case in.ClientSecretFile == "" && in.ClientSecretEnv == "":
			v.errorf(p+".client_secret_file", CodeRequired, "%s needs the client secret: set client_secret_file (a file holding it) or client_secret_env (an environment variable); it is never written in this file", in.AuthMethod)
		case in.ClientSecretFile != "" && in.ClientSecretEnv != "":
			v.errorf(p+".client_secret_env", CodeConflict, "set client_secret_file or client_secret_env, not both")
		}
		if in.PrivateKeyFile != "" || in.PrivateKeyAlgorithm != "" {
			v.errorf(p+".private_key_file", CodeIgnored, "is used by auth_method private_key_jwt only: remove it, or change auth_method")
		}
	}
	switch in.AuthMethod {
	case ClientSecretBasic, ClientSecretPost:
		secretKeys()
	case PrivateKeyJWT:
		if in.PrivateKeyFile == "" {
			v.errorf(p+".private_key_file", CodeRequired, "private_key_jwt needs the key that signs the client assertion (PEM or JWK)")
		}
		switch {
		case in.PrivateKeyAlgorithm == "":
			v.errorf(p+".private_key_algorithm", CodeRequired, "private_key_jwt needs the algorithm of the client assertion, e.g. RS256 or ES256")
		case !jwks.Supported(in.PrivateKeyAlgorithm):
			v.errorf(p+".private_key_algorithm", CodeUnknownValue, "%q is not an algorithm: use one of %s", in.PrivateKeyAlgorithm, strings.Join(jwks.Algorithms, ", "))
		}
		if in.ClientSecretFile != "" || in.ClientSecretEnv != "" {
			v.errorf(p+".client_secret_file", CodeIgnored, "private_key_jwt sends no secret: remove it, or change auth_method")
		}
	default:
		v.errorf(p+".auth_method", CodeUnknownValue, "%q is not a client authentication method: use client_secret_basic, client_secret_post or private_key_jwt", in.AuthMethod)
	}
	if in.Timeout <= 0 || in.Timeout > Duration(30*time.Second) {
		v.errorf(p+".timeout", CodeOutOfRange, "%s is out of range: must be greater than 0 and at most 30s (a request waits for it)", in.Timeout)
	}
	if in.CacheTTL < 0 || in.CacheTTL > Duration(time.Hour) {
		v.errorf(p+".cache_ttl", CodeOutOfRange, "%s is out of range: must be from 0 (no caching) to 1h", in.CacheTTL)
	}
	if in.NegativeCacheTTL < 0 || in.NegativeCacheTTL > Duration(5*time.Minute) {
		v.errorf(p+".negative_cache_ttl", CodeOutOfRange, "%s is out of range: must be from 0 (no caching) to 5m", in.NegativeCacheTTL)
	}
	if in.MaxEntries < 1 || in.MaxEntries > 1_000_000 {
		v.errorf(p+".max_entries", CodeOutOfRange, "%d is out of range: must be between 1 and 1000000 (cache_ttl: 0 turns caching off)", in.MaxEntries)
	}
	if in.MaxConcurrent < 1 || in.MaxConcurrent > 4096 {
		v.errorf(p+".max_concurrent", CodeOutOfRange, "%d is out of range: must be between 1 and 4096 (the calls to the endpoint in flight at once)", in.MaxConcurrent)
	}
	if in.IntrospectJWTs && is.JWKSURI == "" && !is.Discovery {
		v.errorf(p+".introspect_jwts", CodeConflict, "needs a key source (jwks_uri or discovery): a JWT is introspected only once its signature verified")
	}
}

// revocation checks an issuer's revocation list.
func (v *validator) revocation(p string, r Revocation) {
	p += ".revocation"
	if !r.Enabled() {
		if v.present(p) && !v.broken(p) {
			v.errorf(p+".uri", CodeRequired, "is required: without it there is no list and the rest of this block would be ignored")
		}
		return
	}
	v.remoteURL(p+".uri", r.URI, true, "the list is fetched over plain http: anyone on the network path can remove entries and un-revoke tokens; use https")
	if r.RefreshInterval < Duration(time.Second) {
		v.errorf(p+".refresh_interval", CodeOutOfRange, "%s is too short: must be at least 1s", r.RefreshInterval)
	}
	if r.MaxEntries < 1 || r.MaxEntries > 10_000_000 {
		v.errorf(p+".max_entries", CodeOutOfRange, "%d is out of range: must be between 1 and 10000000", r.MaxEntries)
	}
}

// resources checks the protected resources and returns their names.
func (v *validator) resources(rs []Resource) map[string]bool {
	names := map[string]bool{}
	byName := map[string]int{}
	for i, r := range rs {
		p := fmt.Sprintf("resources[%d]", i)
		switch {
		case r.Name == "":
			v.errorf(p+".name", CodeRequired, "is required: routes refer to the resource by it")
		case !issuerName.MatchString(r.Name):
			v.errorf(p+".name", CodeBadName, "%q must be 1 to 64 letters, digits, '_' or '-'", r.Name)
		default:
			if j, dup := byName[r.Name]; dup {
				v.errorf(p+".name", CodeDuplicate, "%q is already the name of resources[%d] (line %d)", r.Name, j, rs[j].Line)
			} else {
				byName[r.Name] = i
			}
		}
		names[r.Name] = true
		for j, sc := range r.ScopesSupported {
			if err := CheckScope(sc); err != nil {
				v.errorf(fmt.Sprintf("%s.scopes_supported[%d]", p, j), CodeBadScope, "%v", err)
			}
		}
		if err := r.Metadata().Validate(); err != nil {
			field, msg := p, err.Error()
			var me *resource.MemberError
			if errors.As(err, &me) {
				field, msg = p+"."+me.Member, me.Problem // a JSON member name, with its index
			}
			v.errorf(field, CodeInvalid, "%s", msg)
		}
	}
	if _, err := resource.NewSet(metadataOf(rs)); err != nil && len(v.problems) == 0 {
		v.errorf("resources", CodeDuplicate, "%v", err)
	}
	return names
}

// Metadata is the resource's RFC 9728 document.
func (r Resource) Metadata() resource.Metadata {
	return resource.Metadata{
		Resource:               r.Resource,
		AuthorizationServers:   r.AuthorizationServers,
		ScopesSupported:        r.ScopesSupported,
		BearerMethodsSupported: r.BearerMethodsSupported,
		ResourceName:           r.ResourceName,
		ResourceDocumentation:  r.ResourceDocumentation,
		ResourcePolicyURI:      r.ResourcePolicyURI,
		ResourceTOSURI:         r.ResourceTOSURI,
	}
}

func metadataOf(rs []Resource) []resource.Metadata {
	out := make([]resource.Metadata, len(rs))
	for i, r := range rs {
		out[i] = r.Metadata()
	}
	return out
}

// opaqueIssuer checks that a route which verifies tokens can tell which
// issuer introspects a token that is not a JWT (it carries no iss): at
// most one of the issuers it accepts has introspection.
func (v *validator) opaqueIssuer(p string, a *Auth, iss []Issuer) {
	if a.Mode == ModePublic {
		return
	}
	var with []string
	for _, is := range iss {
		if is.Introspection.Enabled() && (len(a.Issuers) == 0 || slices.Contains(a.Issuers, is.Name)) {
			with = append(with, is.Name)
		}
	}
	if len(with) > 1 {
		v.errorf(p+".issuers", CodeConflict, "the issuers this route accepts include %d with introspection (%s): an opaque token carries no iss, so list exactly one of them in auth.issuers", len(with), strings.Join(with, ", "))
	}
}

// issuerClient checks how the gateway calls an issuer: a client
// certificate comes with its key, and the headers are headers that may be
// set on a request without changing what it is, each named once.
func (v *validator) issuerClient(p string, is *Issuer) {
	v.certKeyPair(p+".tls", is.TLS.CertFile, is.TLS.KeyFile, "for mutual TLS")
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(is.Headers)) {
		hp := joinPath(p+".headers", name)
		canonical := http.CanonicalHeaderKey(name)
		first, dup := seen[canonical]
		why, reserved := issuerReservedHeaders[strings.ToLower(name)]
		switch {
		case !IsToken(name):
			v.errorf(hp, CodeBadHeader, "%q is not a header name", name)
		case reserved:
			v.errorf(hp, CodeReserved, "%s is not a header the gateway lets a configuration set: %s", name, why)
		case dup:
			// Both would be sent, as two values of one header.
			v.errorf(hp, CodeDuplicate, "%q is the same header as %q (names are case-insensitive)", name, first)
		case strings.ContainsAny(is.Headers[name], "\r\n\x00"):
			v.errorf(hp, CodeBadHeader, "the value holds a line break or NUL")
		}
		if !dup {
			seen[canonical] = name
		}
	}
}

// issuerReservedHeaders are the headers an issuer's headers may not name,
// in lower case, with why. Authorization is not among them: some IdPs want
// an API key on their key set, and the gateway never puts a configured
// header over one a call sets itself (introspection's client credentials).
var issuerReservedHeaders = map[string]string{
	"host":              "it changes what the request is",
	"content-length":    "it changes what the request is",
	"transfer-encoding": "it changes what the request is",
	"content-type":      "it changes what the request is (introspection sends a form)",
	"expect":            "it changes what the request is",
	"connection":        "it changes what the request is",
	"keep-alive":        "it changes what the request is",
	"proxy-connection":  "it changes what the request is",
	"upgrade":           "it changes what the request is",
	"te":                "it changes what the request is",
	"trailer":           "it changes what the request is",
	// Through an HTTPS_PROXY tunnel a request's own Proxy-Authorization
	// reaches the IdP, not the proxy.
	"proxy-authorization": "it would reach the IdP, not the proxy: put the proxy's credentials in the HTTPS_PROXY URL",
	// A fixed condition or range could make the IdP answer 304, 412 or a
	// part of the document to a call that needs all of it.
	"if-none-match":       "it makes the request conditional: the gateway's fetches set it themselves",
	"if-modified-since":   "it makes the request conditional: the gateway's fetches set it themselves",
	"if-match":            "it makes the request conditional",
	"if-unmodified-since": "it makes the request conditional",
	"if-range":            "it asks for part of the document",
	"range":               "it asks for part of the document",
	// Every call sets these, and a configured header never replaces one a
	// call sets, so it would never be sent.
	"accept":     "every call to an issuer sets it, so a configured one would never be sent",
	"user-agent": "every call to an issuer sets it, so a configured one would never be sent",
}
