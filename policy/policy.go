// Package policy owns the route table and the authorization rules: which
// route a request belongs to (host, cleaned path, method; first match in file
// order wins), what that route demands of a verified token (scopes, claim
// checks), and how claims become header values. It decides; it never
// forwards, never verifies a signature and never touches a network. It knows
// HTTP only as far as a URL path and a host name.
//
// Everything here is computed once, by Compile, from a validated
// configuration into immutable values; a reload compiles a new Table and the
// caller swaps it. The per-request functions (Table.Match, CleanPath,
// Table.Authorize, HeaderValue) allocate little or nothing and never panic on
// request data.
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/cors"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/resource"
)

// Mode is a route's auth.mode.
type Mode int

const (
	Required Mode = iota // a valid token is needed
	Optional             // anonymous is forwarded; a present token must be valid
	Public               // no token is looked at
)

func (m Mode) String() string {
	switch m {
	case Optional:
		return config.ModeOptional
	case Public:
		return config.ModePublic
	}
	return config.ModeRequired
}

// Errors of CleanPath. All mean 400: the gateway refuses to guess what an
// upstream would make of such a path.
var (
	ErrEncodedSlash   = errors.New("the path contains an encoded slash or backslash")
	ErrBadPath        = errors.New("the path contains a NUL or other control character or a ';' parameter, or is not absolute")
	ErrDoubleEncoding = errors.New("the path is percent-encoded twice (%25 followed by two hex digits)")
	ErrNotUTF8        = errors.New("the decoded path is not valid UTF-8")
	// ErrNotPlain is a described path that cleaning would change (dot
	// segments, repeated slashes): the decision service refuses it, since
	// the ingress forwards the path as sent, not the one decided on.
	ErrNotPlain = errors.New("the path has dot segments or repeated slashes, which an ingress would forward as sent")
)

// Route is one compiled, immutable route. Its fields are read by the proxy
// and by `portcullis explain`; they must not be modified.
type Route struct {
	Name  string // unique; the route label of every metric
	Index int    // position in the file, 0-based

	Upstream    *url.URL      // base URL; its path is prepended by ForwardPath
	Transport   Transport     // upstream_protocol and tls: the zero value is the shared transport
	StripPrefix bool          // ForwardPath removes Prefix
	Prefix      string        // match.path_prefix, "" for an exact-path route
	Path        string        // match.path, "" for a prefix route
	Timeout     time.Duration // upstream response deadline
	StreamIdle  time.Duration // longest pause of a streaming response; 0: none
	MaxBody     int64         // largest request body forwarded; 0: no limit

	Mode Mode
	// Audit (auth.enforce: false): every check runs and its decision is
	// recorded, but the request is forwarded whatever it is.
	Audit   bool
	Issuers []string // issuer names; nil = any configured issuer (token.Verifier enforces it)
	AllOf   []string // every one of these scopes is required; nil = none
	AnyOf   []string // at least one of these scopes is required; nil = none
	Claims  []ClaimCheck

	Headers            []HeaderRule // claim headers this route sets, in name order
	StripAuthorization bool
	WebSocket          bool // an RFC 6455 handshake may become a tunnel (the proxy checks its shape)
	// ResourceParam is the resource_metadata parameter of this route's
	// challenges (RFC 9728 §5.1), "" when it names no resource.
	ResourceParam string
	// CORS is the route's cors policy (its own block or defaults.cors);
	// nil when it has none, and then no CORS header is ever written.
	CORS *cors.Policy
	// RateLimits are the route's rate limits (its own rate_limit or
	// defaults.rate_limit), in file order; nil when it has none.
	RateLimits []RateLimit

	hosts   []string // lower case, no port, no trailing dot; "*.x" kept as is
	methods []string // upper case; nil = any

	// need is AllOf followed by the AnyOf scopes not already in AllOf, without
	// duplicates; need[:nAll] are the all_of scopes and anyIdx the positions
	// of the any_of scopes. Built once so that Authorize only scans slices.
	need   []string
	nAll   int
	anyIdx []int
}

// ClaimCheck is one claim rule (auth.claims). Routes hold them sorted by
// path, so that the first failing check is the same on every run.
type ClaimCheck struct {
	Path ClaimPath
	Op   ClaimOp
	// Values are strings, bools or finite numbers as decoded from YAML:
	// exactly one for Equals and Contains, at least one otherwise.
	Values []any
}

// ClaimOp is how a ClaimCheck compares a claim with its values. Every
// comparison is of JSON type and value (see Authorize); the operators only
// say whether the claim is a scalar or an array, and how many of the
// values it must meet.
type ClaimOp uint8

const (
	Equals      ClaimOp = iota // a plain value: the claim is a scalar equal to it
	OneOf                      // the claim is a scalar equal to one of the values
	Contains                   // the claim is an array holding the value
	ContainsAny                // the claim is an array holding at least one of the values
	ContainsAll                // the claim is an array holding every one of the values
)

// String is the operator as written in YAML; "equals" for a plain value.
func (o ClaimOp) String() string {
	switch o {
	case OneOf:
		return config.ClaimOneOf
	case Contains:
		return config.ClaimContains
	case ContainsAny:
		return config.ClaimContainsAny
	case ContainsAll:
		return config.ClaimContainsAll
	}
	return "equals"
}

// Array reports whether the operator checks an array claim.
func (o ClaimOp) Array() bool { return o == Contains || o == ContainsAny || o == ContainsAll }

// Want says in words what the check wants, its values written as JSON so
// that a string is told from a number: `"acme"`, `one of ["acme","globex"]`,
// `an array containing "admins"`. For `portcullis explain` and logs.
func (c ClaimCheck) Want() string {
	switch c.Op {
	case Equals:
		return JSONText(c.Values[0])
	case OneOf:
		return "one of " + JSONText(c.Values)
	case Contains:
		return "an array containing " + JSONText(c.Values[0])
	case ContainsAny:
		return "an array containing any of " + JSONText(c.Values)
	}
	return "an array containing all of " + JSONText(c.Values)
}

// JSONText renders a claim value (or configured values) as compact JSON,
// the form it has in a token.
func JSONText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// HeaderRule renders one claim into one header.
type HeaderRule struct {
	Name  string // canonical MIME header key, computed once at compile time
	Claim ClaimPath
}

// Decision is the outcome of Authorize.
type Decision struct {
	Allowed bool
	Reason  outcome.Reason // set when !Allowed: InsufficientScope or ClaimMismatch
	Missing []string       // scopes that were required and absent (for logs)
	Claim   string         // with outcome.ClaimMismatch: the claim path that failed (for logs)
}

// Table is a compiled route table; it is immutable and safe for concurrent use.
type Table struct {
	routes       []*Route
	claimHeaders []string
	scopeClaims  map[string][]ClaimPath // issuer name -> where its scopes are
	index        index
	unmatched    *cors.Policy // defaults.cors, for requests no route takes
}

// Compile builds the table from a validated configuration. It still checks
// everything it relies on and returns an error, naming the field, for input
// that validation should have refused: a table that compiled is one that
// Match and Authorize can use without further checks.
func Compile(cfg *config.Config) (*Table, error) {
	if cfg == nil {
		return nil, errors.New("policy: no configuration")
	}
	t := &Table{scopeClaims: make(map[string][]ClaimPath, len(cfg.Issuers))}
	for i, is := range cfg.Issuers {
		if is.Name == "" {
			return nil, fmt.Errorf("policy: issuers[%d].name: empty", i)
		}
		if _, dup := t.scopeClaims[is.Name]; dup {
			return nil, fmt.Errorf("policy: issuers[%d].name: %q is defined twice", i, is.Name)
		}
		paths := make([]ClaimPath, 0, len(is.ScopeClaims))
		for j, s := range is.ScopeClaims {
			p, err := ParseClaimPath(s)
			if err != nil {
				return nil, fmt.Errorf("policy: issuers[%d].scope_claims[%d]: %w", i, j, err)
			}
			paths = append(paths, p)
		}
		t.scopeClaims[is.Name] = paths
	}

	// Each resource's challenge parameter, built once for all its routes.
	resources := map[string]string{}
	for i, res := range cfg.Resources {
		u, err := resource.MetadataURL(res.Resource)
		if err != nil {
			return nil, fmt.Errorf("policy: resources[%d]: %w", i, err)
		}
		resources[res.Name] = resource.ChallengeParam(u)
	}

	headers := map[string]bool{}
	sh := shared{upstreams: map[string]*url.URL{}, headers: map[string][]HeaderRule{}}
	t.routes = make([]*Route, 0, len(cfg.Routes))
	for i := range cfg.Routes {
		r, err := compileRoute(i, &cfg.Routes[i], t.scopeClaims, resources, &sh)
		if err == nil {
			r.RateLimits, err = compileRateLimits(&cfg.Routes[i], cfg.RateLimits)
		}
		if err != nil {
			name := cfg.Routes[i].Name
			return nil, fmt.Errorf("policy: routes[%d] (%q): %w", i, name, err)
		}
		for _, h := range r.Headers {
			headers[config.FoldHeader(h.Name)] = true
		}
		t.routes = append(t.routes, r)
	}
	t.claimHeaders = make([]string, 0, len(headers))
	for h := range headers {
		t.claimHeaders = append(t.claimHeaders, h)
	}
	slices.Sort(t.claimHeaders)
	t.index = buildIndex(t.routes)
	unmatched, err := cors.Compile(cfg.Defaults.CORS, nil)
	if err != nil {
		return nil, fmt.Errorf("policy: defaults.cors.%w", err)
	}
	t.unmatched = unmatched
	return t, nil
}

// UnmatchedCORS is the cors policy of requests that match no route
// (defaults.cors), so that browser code reads their 404; nil when there is
// none.
func (t *Table) UnmatchedCORS() *cors.Policy { return t.unmatched }

// shared hands out one copy of what routes hold alike, their upstream URL and
// their claim headers, which Match and the forwarder only read: a table of
// 10,000 routes that send the same headers to the same service kept 10,000
// copies of each (4 MB of its 9).
type shared struct {
	upstreams map[string]*url.URL
	headers   map[string][]HeaderRule
}

func (sh *shared) upstream(raw string) (*url.URL, error) {
	if u, ok := sh.upstreams[raw]; ok {
		return u, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	sh.upstreams[raw] = u
	return u, nil
}

// headerRules returns rules, or an equal slice handed out before.
func (sh *shared) headerRules(rules []HeaderRule) []HeaderRule {
	if len(rules) == 0 {
		return nil
	}
	// Each part is length-prefixed: a claim path may hold any byte, NUL
	// included, so no separator could keep {X-A: "p\x00X-B\x00q"} apart
	// from {X-A: p, X-B: q}, and sharing the first's rules with the second
	// would leave its X-B unset and unstripped.
	var key strings.Builder
	for _, h := range rules {
		for _, part := range [...]string{h.Name, h.Claim.raw} {
			key.WriteString(strconv.Itoa(len(part)))
			key.WriteByte(':')
			key.WriteString(part)
		}
	}
	if old, ok := sh.headers[key.String()]; ok {
		return old
	}
	sh.headers[key.String()] = rules
	return rules
}

func compileRoute(i int, c *config.Route, issuers map[string][]ClaimPath, resources map[string]string, sh *shared) (*Route, error) {
	r := &Route{
		Name:               c.Name,
		Index:              i,
		StripPrefix:        c.StripPrefix,
		Timeout:            c.Timeout.D(),
		StreamIdle:         c.StreamIdleTimeout.D(),
		StripAuthorization: c.Forward.StripAuthorization,
		WebSocket:          c.WebSocket,
		// Absent (a Config that was not normalized) enforces: the safe side.
		Audit: c.Auth.Enforce != nil && !*c.Auth.Enforce,
	}
	if c.Name == "" {
		return nil, errors.New("name: empty")
	}
	if c.MaxBodyBytes != nil {
		r.MaxBody = int64(*c.MaxBodyBytes)
	}
	if c.Resource != "" {
		param, ok := resources[c.Resource]
		if !ok {
			return nil, fmt.Errorf("resource: no resource is named %q", c.Resource)
		}
		r.ResourceParam = param
	}

	u, err := sh.upstream(c.Upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	r.Upstream = u
	if r.Transport, err = compileTransport(c); err != nil {
		return nil, err
	}

	if err := compileMatch(r, &c.Match); err != nil {
		return nil, err
	}

	switch c.Auth.Mode {
	case config.ModeRequired, "":
		r.Mode = Required // the zero value fails closed
	case config.ModeOptional:
		r.Mode = Optional
	case config.ModePublic:
		r.Mode = Public
	default:
		return nil, fmt.Errorf("auth.mode: unknown mode %q", c.Auth.Mode)
	}

	for j, name := range c.Auth.Issuers {
		if _, ok := issuers[name]; !ok {
			return nil, fmt.Errorf("auth.issuers[%d]: no issuer is named %q", j, name)
		}
	}
	if len(c.Auth.Issuers) > 0 {
		r.Issuers = slices.Clone(c.Auth.Issuers)
	}

	if err := compileScopes(r, &c.Auth.Scopes); err != nil {
		return nil, err
	}

	keys := make([]string, 0, len(c.Auth.Claims))
	for k := range c.Auth.Claims {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p, err := ParseClaimPath(k)
		if err != nil {
			return nil, fmt.Errorf("auth.claims[%q]: %w", k, err)
		}
		check, err := compileClaim(p, c.Auth.Claims[k])
		if err != nil {
			return nil, fmt.Errorf("auth.claims[%q]: %w", k, err)
		}
		r.Claims = append(r.Claims, check)
	}

	seen := map[string]string{}
	headers := make([]HeaderRule, 0, len(c.Forward.ClaimsToHeaders))
	for name, claim := range c.Forward.ClaimsToHeaders {
		if !config.IsToken(name) {
			return nil, fmt.Errorf("forward.claims_to_headers[%q]: not a valid header name", name)
		}
		folded := config.FoldHeader(name)
		if config.ReservedHeader(name) {
			return nil, fmt.Errorf("forward.claims_to_headers[%q]: the gateway owns this header; it cannot come from a claim", name)
		}
		if other, dup := seen[folded]; dup {
			return nil, fmt.Errorf("forward.claims_to_headers[%q]: same header as %q", name, other)
		}
		seen[folded] = name
		p, err := ParseClaimPath(claim)
		if err != nil {
			return nil, fmt.Errorf("forward.claims_to_headers[%q]: %w", name, err)
		}
		headers = append(headers, HeaderRule{Name: textproto.CanonicalMIMEHeaderKey(name), Claim: p})
	}
	slices.SortFunc(headers, func(a, b HeaderRule) int { return strings.Compare(a.Name, b.Name) })
	r.Headers = sh.headerRules(headers)
	if r.CORS, err = cors.Compile(c.CORS, r.methods); err != nil {
		return nil, fmt.Errorf("cors.%w", err)
	}
	return r, nil
}

// compileClaim checks one claim rule as Authorize relies on it: a known
// operator, as many values as it takes (an empty list is a check that
// always or never passes), each a scalar it can compare.
func compileClaim(p ClaimPath, rule config.ClaimRule) (ClaimCheck, error) {
	c := ClaimCheck{Path: p}
	switch rule.Op {
	case "":
		c.Op = Equals
	case config.ClaimOneOf:
		c.Op = OneOf
	case config.ClaimContains:
		c.Op = Contains
	case config.ClaimContainsAny:
		c.Op = ContainsAny
	case config.ClaimContainsAll:
		c.Op = ContainsAll
	default:
		return c, fmt.Errorf("unknown operator %q", rule.Op)
	}
	switch n := len(rule.Values); {
	case (c.Op == Equals || c.Op == Contains) && n != 1:
		return c, fmt.Errorf("%s takes exactly one value, not %d", c.Op, n)
	case n == 0:
		return c, fmt.Errorf("%s takes at least one value", c.Op)
	}
	c.Values = make([]any, len(rule.Values))
	for i, v := range rule.Values {
		x, err := claimValue(v)
		if err != nil {
			return c, err
		}
		c.Values[i] = x
	}
	return c, nil
}

func compileMatch(r *Route, m *config.Match) error {
	switch {
	case m.Path != "" && m.PathPrefix != "":
		return errors.New("match: path and path_prefix are exclusive")
	case m.Path != "":
		if err := checkConfigPath(m.Path); err != nil {
			return fmt.Errorf("match.path: %w", err)
		}
		r.Path = m.Path
	case m.PathPrefix != "":
		if err := checkConfigPath(m.PathPrefix); err != nil {
			return fmt.Errorf("match.path_prefix: %w", err)
		}
		r.Prefix = m.PathPrefix
	default:
		// Neither: like an empty hosts or methods list, no constraint.
		r.Prefix = "/"
	}

	for j, h := range m.Hosts {
		// Checked as validation checks it (the configured pattern, in
		// lower case), then reduced to the form requests are compared in.
		if err := config.CheckHost(strings.ToLower(h)); err != nil {
			return fmt.Errorf("match.hosts[%d]: %w", j, err)
		}
		n := hostName(h)
		if !slices.Contains(r.hosts, n) {
			r.hosts = append(r.hosts, n)
		}
	}

	for j, meth := range m.Methods {
		u := strings.ToUpper(meth)
		if !config.IsToken(u) {
			return fmt.Errorf("match.methods[%d]: %q is not a method", j, meth)
		}
		if !slices.Contains(r.methods, u) {
			r.methods = append(r.methods, u)
		}
	}
	return nil
}

// checkConfigPath refuses a configured path that no request could match:
// requests are matched on the cleaned path, so the configured one must be in
// that form too.
func checkConfigPath(p string) error {
	c, err := CleanPath(&url.URL{Path: p})
	if err != nil {
		return err
	}
	if c != p {
		return fmt.Errorf("%q is not a clean absolute path (did you mean %q?)", p, c)
	}
	return nil
}

func compileScopes(r *Route, s *config.Scopes) error {
	for j, sc := range s.AllOf {
		if err := config.CheckScope(sc); err != nil {
			return fmt.Errorf("auth.scopes.all_of[%d]: %w", j, err)
		}
		if !slices.Contains(r.need, sc) {
			r.need = append(r.need, sc)
		}
	}
	r.nAll = len(r.need)
	for j, sc := range s.AnyOf {
		if err := config.CheckScope(sc); err != nil {
			return fmt.Errorf("auth.scopes.any_of[%d]: %w", j, err)
		}
		k := slices.Index(r.need, sc)
		if k < 0 {
			k = len(r.need)
			r.need = append(r.need, sc)
		}
		if !slices.Contains(r.anyIdx, k) {
			r.anyIdx = append(r.anyIdx, k)
		}
	}
	if len(s.AllOf) > 0 {
		r.AllOf = slices.Clone(s.AllOf)
	}
	if len(s.AnyOf) > 0 {
		r.AnyOf = slices.Clone(s.AnyOf)
	}
	return nil
}

// ClaimNames returns, sorted and without duplicates, every top-level claim
// that the table may read from a token of the named issuer: its scope claims
// and every route's claim checks and claim headers. Nothing else of a
// verified token is ever looked at after verification, so the verifier keeps
// only these (token.Issuer.Claims); a cached token then costs a third less
// memory.
func (t *Table) ClaimNames(issuer string) []string {
	set := map[string]bool{}
	add := func(p ClaimPath) {
		for _, n := range p.topLevel() {
			set[n] = true
		}
	}
	for _, p := range t.scopeClaims[issuer] {
		add(p)
	}
	for _, r := range t.routes {
		for _, c := range r.Claims {
			add(c.Path)
		}
		for _, h := range r.Headers {
			add(h.Claim)
		}
		for _, l := range r.RateLimits {
			if l.Key == KeyClaim {
				add(l.Claim)
			}
		}
	}
	// Never nil: to the verifier, nil means every claim.
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Routes returns the routes in file order.
func (t *Table) Routes() []*Route { return t.routes }

// ClaimHeaders returns every header name that any route sets from claims,
// in lower case with '_' replaced by '-' (the form to compare incoming header
// names against after the same folding), sorted and without duplicates.
func (t *Table) ClaimHeaders() []string { return t.claimHeaders }
