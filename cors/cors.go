// Package cors owns Cross-Origin Resource Sharing as the Fetch standard
// defines it: which origins' pages may read a route's responses, which
// preflights the gateway answers itself, and the Access-Control-* headers
// of every answer. A Policy is compiled once per route from its cors block
// (config.CORS); per request, Check says what the request is to CORS and
// whether the policy allows it, and SetHeaders writes what that result
// calls for. Both return or write plain values; neither forwards, refuses
// or logs anything: proxy does, in the order it calls them.
//
// It is a package of its own because CORS is a stage with its own rules
// (origins, preflights, credentials) that neither policy (which route, what
// token) nor proxy (moving bytes) owns, and because its mistakes have one
// consequence, other sites reading what their visitors may read, that is
// easiest to keep out when its code is in one place.
//
// It must never write an Access-Control-Allow-Origin that names an origin
// the policy does not list (reflecting the request's Origin is what turns
// CORS into a hole), never pair "*" with credentials, never allow a
// preflight for a method or a header the policy does not list, and never
// read or decide anything about tokens: a preflight carries none, and an
// allowed origin grants no authorization; the route's checks still run on
// the request that follows.
package cors

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/config"
)

// The request headers CORS reads and the response headers it writes, in
// their canonical form.
const (
	HeaderOrigin           = "Origin"
	HeaderRequestMethod    = "Access-Control-Request-Method"
	HeaderRequestHeaders   = "Access-Control-Request-Headers"
	HeaderAllowOrigin      = "Access-Control-Allow-Origin"
	HeaderAllowCredentials = "Access-Control-Allow-Credentials"
	HeaderAllowMethods     = "Access-Control-Allow-Methods"
	HeaderAllowHeaders     = "Access-Control-Allow-Headers"
	HeaderExposeHeaders    = "Access-Control-Expose-Headers"
	HeaderMaxAge           = "Access-Control-Max-Age"
	headerVary             = "Vary"
)

// Kind is what a request is to CORS.
type Kind uint8

const (
	// NotCORS: no Origin header. Nothing is written.
	NotCORS Kind = iota
	// Actual: a request with an Origin (a cross-origin fetch, or a
	// same-origin one that browsers also mark).
	Actual
	// Preflight: OPTIONS with Origin and Access-Control-Request-Method,
	// which the browser sends before a request that is not "simple" (one
	// with Authorization, for example) and which the gateway answers.
	Preflight
)

func (k Kind) String() string {
	switch k {
	case Actual:
		return "actual"
	case Preflight:
		return "preflight"
	}
	return "none"
}

// Refusal is why a policy does not allow a request; None when it does.
type Refusal uint8

const (
	None             Refusal = iota
	OriginNotAllowed         // the Origin is not listed (or is not one value)
	MethodNotAllowed         // a preflight asked for a method not in allowed_methods
	HeaderNotAllowed         // a preflight asked for a header not in allowed_headers
)

func (r Refusal) String() string {
	switch r {
	case OriginNotAllowed:
		return "origin not allowed"
	case MethodNotAllowed:
		return "method not allowed"
	case HeaderNotAllowed:
		return "header not allowed"
	}
	return "allowed"
}

// Result is what Check decided about one request. It is two bytes, so that
// the request path can keep it beside its other decisions for free; the
// origin and the method it was about are the request's own headers.
type Result struct {
	Kind    Kind
	Refusal Refusal
}

// Allowed reports whether the request is CORS and its policy allows it.
func (r Result) Allowed() bool { return r.Kind != NotCORS && r.Refusal == None }

// Policy is one compiled cors block. It is immutable and safe for
// concurrent use.
type Policy struct {
	anyOrigin   bool     // "*": any origin, never with credentials
	origins     []string // exact origins, lower case
	wildcards   []wildcard
	credentials bool
	methods     []string // upper case, as matched
	headers     []string // allowed request headers, as written (compared case-insensitively)

	// The values written, built once. Each is a slice of one element
	// whose capacity is one, handed to every response's header map: an
	// Add to it by anyone copies instead of writing into the shared array.
	allowMethods, allowHeaders, exposeHeaders, maxAge []string
}

// wildcard is "scheme://*.suffix[:port]": the request's origin must start
// with prefix ("https://"), end with suffix (".example.com:8443") and have
// at least one whole host label between them.
type wildcard struct{ prefix, suffix string }

var (
	valueTrue = []string{"true"}[:1:1]
	valueStar = []string{"*"}[:1:1]
	// varyOrigin: a response that names the origin differs by Origin,
	// and a shared cache must not hand it to another origin's page.
	varyOrigin = []string{HeaderOrigin}[:1:1]
	// varyPreflight: a preflight's answer also depends on what it asked.
	varyPreflight = []string{HeaderOrigin + ", " + HeaderRequestMethod + ", " + HeaderRequestHeaders}[:1:1]
)

// Compile builds the policy of a cors block; routeMethods are its route's
// match.methods, the default of allowed_methods. It returns nil, and no
// error, for a block that is absent or turned off. Keys left out take
// config.DefaultCORS, so that a Config that was not normalized compiles
// alike. It checks again what validation checked and refuses what it
// could not serve safely.
func Compile(c *config.CORS, routeMethods []string) (*Policy, error) {
	if !c.On() {
		return nil, nil
	}
	p := &Policy{credentials: c.AllowCredentials}
	if len(c.AllowedOrigins) == 0 {
		return nil, errors.New("allowed_origins: empty")
	}
	for j, raw := range c.AllowedOrigins {
		o := strings.ToLower(raw)
		switch {
		case o == "*" && p.credentials:
			return nil, fmt.Errorf(`allowed_origins[%d]: "*" with allow_credentials`, j)
		case o == "*":
			p.anyOrigin = true
		default:
			if err := config.CheckOrigin(o); err != nil {
				return nil, fmt.Errorf("allowed_origins[%d]: %w", j, err)
			}
			if scheme, host, ok := strings.Cut(o, "://*."); ok {
				p.wildcards = append(p.wildcards, wildcard{prefix: scheme + "://", suffix: "." + host})
			} else if !slices.Contains(p.origins, o) {
				p.origins = append(p.origins, o)
			}
		}
	}
	if p.anyOrigin && len(c.AllowedOrigins) > 1 {
		return nil, errors.New(`allowed_origins: "*" with other origins`)
	}

	methods := c.AllowedMethods
	if methods == nil {
		methods = routeMethods
		if len(methods) == 0 {
			methods = config.DefaultCORSMethods
		}
	}
	for j, m := range methods {
		m = strings.ToUpper(m)
		if !config.IsToken(m) || m == "*" {
			return nil, fmt.Errorf("allowed_methods[%d]: %q is not a method", j, m)
		}
		if !slices.Contains(p.methods, m) {
			p.methods = append(p.methods, m)
		}
	}
	var err error
	if p.headers, err = headerList("allowed_headers", c.AllowedHeaders, config.DefaultCORS.AllowedHeaders); err != nil {
		return nil, err
	}
	exposed, err := headerList("exposed_headers", c.ExposedHeaders, config.DefaultCORS.ExposedHeaders)
	if err != nil {
		return nil, err
	}
	maxAge := *config.DefaultCORS.MaxAge
	if c.MaxAge != nil {
		maxAge = *c.MaxAge
	}
	if maxAge > config.MaxCORSMaxAge {
		return nil, fmt.Errorf("max_age: %s is over %s", maxAge, config.MaxCORSMaxAge)
	}

	p.allowMethods = value(strings.Join(p.methods, ", "))
	p.allowHeaders = value(strings.Join(p.headers, ", "))
	if len(exposed) > 0 {
		p.exposeHeaders = value(strings.Join(exposed, ", "))
	}
	p.maxAge = value(strconv.FormatInt(int64(maxAge.D().Seconds()), 10))
	return p, nil
}

// headerList checks a list of header names; nil takes def.
func headerList(key string, list, def []string) ([]string, error) {
	if list == nil {
		list = def
	}
	var out []string
	for j, h := range list {
		if !config.IsToken(h) || h == "*" {
			return nil, fmt.Errorf("%s[%d]: %q is not a header name", key, j, h)
		}
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, h) }) {
			out = append(out, h)
		}
	}
	return out, nil
}

func value(s string) []string { return []string{s}[:1:1] }

// PreflightMethod reports whether a request is a CORS preflight (OPTIONS
// with one Origin and one Access-Control-Request-Method), and the method
// it asks about: the method the route that answers it must match. It reads
// nothing of a request that is not OPTIONS.
func PreflightMethod(method string, h http.Header) (string, bool) {
	if method != http.MethodOptions {
		return "", false
	}
	m := h[HeaderRequestMethod]
	if len(m) != 1 || m[0] == "" || len(h[HeaderOrigin]) == 0 {
		return "", false
	}
	return m[0], true
}

// Check says what a request with this method and these headers is to CORS
// and whether p allows it. It allocates nothing.
func (p *Policy) Check(method string, h http.Header) Result {
	origin := h[HeaderOrigin]
	if len(origin) == 0 {
		return Result{}
	}
	res := Result{Kind: Actual}
	asked, preflight := PreflightMethod(method, h)
	if preflight {
		res.Kind = Preflight
	}
	switch {
	case len(origin) != 1 || !p.allowsOrigin(origin[0]):
		res.Refusal = OriginNotAllowed
	case preflight && !config.TakesMethod(p.methods, asked):
		res.Refusal = MethodNotAllowed
	case preflight && p.refusedHeader(h[HeaderRequestHeaders]) != "":
		res.Refusal = HeaderNotAllowed
	}
	return res
}

// allowsOrigin reports whether origin, exactly as the request sent it, is
// one p lists. Browsers send scheme and host in lower case; an origin in
// another case matches nothing, which fails closed.
func (p *Policy) allowsOrigin(origin string) bool {
	if p.anyOrigin {
		return true
	}
	if slices.Contains(p.origins, origin) {
		return true
	}
	for _, w := range p.wildcards {
		if w.matches(origin) {
			return true
		}
	}
	return false
}

// matches reports whether origin is prefix, one or more whole host labels
// (letters, digits, hyphens) and suffix: "https://a.b.example.com" is
// under "https://*.example.com", and "https://example.com",
// "https://evil.com/.example.com" and "http://a.example.com" are not.
func (w wildcard) matches(origin string) bool {
	if len(origin) <= len(w.prefix)+len(w.suffix) || !strings.HasPrefix(origin, w.prefix) || !strings.HasSuffix(origin, w.suffix) {
		return false
	}
	labels := origin[len(w.prefix) : len(origin)-len(w.suffix)]
	dot := true // at the start of a label
	for i := 0; i < len(labels); i++ {
		switch c := labels[i]; {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-':
			dot = false
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return !dot
}

// refusedHeader returns the first header named in Access-Control-Request-
// Headers (a comma-separated list, possibly over several lines) that p
// does not allow, compared case-insensitively; "" when every one is.
func (p *Policy) refusedHeader(lists []string) string {
	for _, list := range lists {
		for list != "" {
			var name string
			name, list, _ = strings.Cut(list, ",")
			name = strings.Trim(name, " \t")
			if name == "" {
				continue
			}
			if !slices.ContainsFunc(p.headers, func(a string) bool { return strings.EqualFold(a, name) }) {
				return name
			}
		}
	}
	return ""
}

// RefusedHeader is the header of a HeaderNotAllowed refusal, for explain
// and logs: the first one of h's Access-Control-Request-Headers that p does
// not allow.
func (p *Policy) RefusedHeader(h http.Header) string { return p.refusedHeader(h[HeaderRequestHeaders]) }

// SetHeaders writes into dst the CORS headers that res calls for, given
// the request's headers h (its Origin is named back when allowed). A
// request that is not CORS gets only Vary: Origin, and one p does not
// allow no Access-Control-* header: the browser then keeps the response
// from the page. It allocates nothing beyond dst's own entries.
func (p *Policy) SetHeaders(dst, h http.Header, res Result) {
	if res.Kind == NotCORS {
		// The answer without Access-Control-Allow-Origin differs from
		// the one an allowed origin gets: a shared cache must not serve
		// it to that origin's page (the Fetch standard, "CORS protocol
		// and HTTP caches").
		dst[headerVary] = varyOrigin
		return
	}
	if !res.Allowed() {
		if !p.anyOrigin {
			// Another origin may be allowed the same URL: caches must
			// keep the answers apart.
			dst[headerVary] = varyOrigin
		}
		return
	}
	if p.anyOrigin {
		dst[HeaderAllowOrigin] = valueStar
	} else {
		dst[HeaderAllowOrigin] = h[HeaderOrigin][:1:1]
		dst[headerVary] = varyOrigin
	}
	if p.credentials {
		dst[HeaderAllowCredentials] = valueTrue
	}
	if res.Kind == Preflight {
		dst[HeaderAllowMethods] = p.allowMethods
		dst[HeaderAllowHeaders] = p.allowHeaders
		dst[HeaderMaxAge] = p.maxAge
		dst[headerVary] = varyPreflight
		return
	}
	if p.exposeHeaders != nil {
		dst[HeaderExposeHeaders] = p.exposeHeaders
	}
}

// RemoveFrom deletes every Access-Control-* response header from h: an
// upstream's, on a route whose policy the gateway applies. Two policies
// would otherwise reach the browser, and one of them nobody reviewed. It
// goes by the prefix, not by a list, so that the ones the gateway never
// writes go too (Access-Control-Allow-Private-Network, which would open
// the route to pages on public sites asking into a private network).
func RemoveFrom(h http.Header) {
	for k := range h {
		if len(k) > len(accessControl) && strings.EqualFold(k[:len(accessControl)], accessControl) {
			delete(h, k)
		}
	}
}

const accessControl = "Access-Control-"

// Methods returns the methods a preflight may ask for.
func (p *Policy) Methods() []string { return p.methods }
