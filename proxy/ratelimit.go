package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/ratelimit"
	"github.com/portcullis/portcullis/token"
)

// Rate limits (routes[].rate_limit) are spent in two phases, each in one
// call to the store (one round trip to Redis):
//
//   - before authentication, right after the in-flight cap: the limits
//     keyed by client_ip, which need nothing of the token, so that a flood
//     is refused before it costs a signature check;
//   - after authentication and authorization passed (or were only recorded,
//     in audit mode): the limits keyed by identity (a claim, the issuer,
//     the route), so that a forged or under-scoped token spends nobody's
//     quota.
//
// A store's Take is all-or-nothing within a phase: a request refused by one
// limit spends nothing of the others of that phase (a client_ip limit spent
// in the first phase stays spent when the second refuses).

// The response fields of draft-ietf-httpapi-ratelimit-headers (-10/-11):
// Structured Field lists of items named by policy, with parameters q
// (quota) and w (window, seconds) for a policy, r (remaining) and t
// (seconds until the quota is back in full) for the current state.
// The names are in Go's canonical form ("Ratelimit"), the form a parsed
// response's map has, so that the upstream's own fields are found and
// replaced; names are case-insensitive on the wire.
const (
	rateLimitHeader       = "Ratelimit"
	rateLimitPolicyHeader = "Ratelimit-Policy"
)

// routeLimits are one route's limits, compiled for the request path.
type routeLimits struct {
	all []limitSpec
	// before and after are the positions in all of the limits of each
	// phase.
	before, after []int
	// policyHeader is the RateLimit-Policy value: every limit of the route.
	policyHeader []string
}

// limitSpec is one limit of a route.
type limitSpec struct {
	name  string // policy name or "<route>[<i>]": label and namespace
	key   policy.RateKey
	claim policy.ClaimPath
	limit ratelimit.Limit
	item  string // the limit's Structured Field item name: "name", quoted
	// routeKey is the counter key of a route-keyed limit, the same for
	// every request: hashed once here, not per request.
	routeKey string
}

// compileLimits builds the request path's view of the table's rate
// limits, by route index; nil when no route has any.
func compileLimits(table *policy.Table) []*routeLimits {
	var out []*routeLimits
	for _, r := range table.Routes() {
		if len(r.RateLimits) == 0 {
			continue
		}
		if out == nil {
			out = make([]*routeLimits, len(table.Routes()))
		}
		rl := &routeLimits{}
		var policies []string
		for i, l := range r.RateLimits {
			s := limitSpec{
				name:  l.Name,
				key:   l.Key,
				claim: l.Claim,
				limit: ratelimit.Limit{Count: l.Count, Period: l.Period, Burst: l.Burst},
				item:  sfString(l.Name),
			}
			if l.Key == policy.KeyRoute {
				s.routeKey = ratelimit.Key(l.Name, "")
			}
			rl.all = append(rl.all, s)
			if l.BeforeAuth() {
				rl.before = append(rl.before, i)
			} else {
				rl.after = append(rl.after, i)
			}
			policies = append(policies, s.item+";q="+strconv.FormatInt(l.Count, 10)+";w="+strconv.FormatInt(int64(l.Period/time.Second), 10))
		}
		rl.policyHeader = []string{strings.Join(policies, ", ")}
		out[r.Index] = rl
	}
	return out
}

// limitsOf returns route's limits, nil when it has none.
func (rt *Runtime) limitsOf(route *policy.Route) *routeLimits {
	if route.Index < len(rt.limits) {
		return rt.limits[route.Index]
	}
	return nil
}

// limited is what the phases so far decided, for the response headers,
// and what one phase found that the next may need again.
type limited struct {
	tightest ratelimit.Result
	spec     *limitSpec
	// ip is the client's address (clientIP) once a phase needed it.
	ip string
	// reqs is what is left of the store requests of every limit of the
	// route, allocated once for both phases, each taking its part.
	reqs []ratelimit.Request
}

// spend spends the limits of one phase (phase: the positions in rl.all)
// for r, tok being its verified token (nil before authentication or for an
// anonymous request). It returns false when the request was answered: 429,
// or nothing for a client that went away.
func (h *Handler) spend(rt *serving, rec *recorder, r *http.Request, ex *exchange, rl *routeLimits, phase []int, tok *token.Token, st *limited) bool {
	if st.reqs == nil {
		st.reqs = make([]ratelimit.Request, len(rl.all))
	}
	reqs := st.reqs[:len(phase):len(phase)]
	st.reqs = st.reqs[len(phase):]
	for i, at := range phase {
		s := &rl.all[at]
		key := s.routeKey
		if key == "" {
			prefix, value, ok := limitValue(s, tok)
			if !ok {
				// No value for the key (anonymous, or a token without
				// the claim): counted under the client's address,
				// apart from the values of the key itself.
				if st.ip == "" {
					st.ip = rt.clientIP(r)
				}
				prefix, value = "ip:", st.ip
			}
			// Concatenated here, where the value does not escape: no
			// allocation for a short one.
			key = ratelimit.Key(s.name, prefix+value)
		}
		reqs[i] = ratelimit.Request{Key: key, Limit: s.limit}
	}
	results, err := rt.limiter.Take(r.Context(), reqs)
	if err != nil {
		if errors.Is(err, context.Canceled) || r.Context().Err() != nil {
			ex.reason, ex.status = outcome.ClientGone, outcome.ClientClosedRequest
			return false
		}
		// Only an invalid limit gets here, which configuration
		// refuses at load time: fail open, and say so.
		h.log.Error("rate limit not applied", zap.String("route", ex.route.Name), zap.Error(err))
		return true
	}
	series := rt.rateSeries[ex.route.Index]
	allowed := ratelimit.Allowed(results)
	var refusedBy *limitSpec
	var refusedAt int
	var refused ratelimit.Result
	for i, res := range results {
		at := phase[i]
		switch {
		case allowed:
			series[at].Allowed.Inc()
		case !res.Allowed:
			series[at].Limited.Inc()
			if refusedBy == nil || res.RetryAfter > refused.RetryAfter {
				refusedBy, refusedAt, refused = &rl.all[at], at, res
			}
		}
		if st.spec == nil || res.Remaining < st.tightest.Remaining {
			st.tightest, st.spec = res, &rl.all[at]
		}
	}
	hdr := rec.Header()
	if !allowed {
		ex.reason, ex.limitedBy = outcome.RateLimited, uint16(refusedAt+1)
		hdr[rateLimitPolicyHeader] = rl.policyHeader
		hdr.Set(rateLimitHeader, refusedBy.item+";r=0;t="+strconv.FormatInt(seconds(refused.Reset), 10))
		hdr.Set("Retry-After", strconv.FormatInt(max(seconds(refused.RetryAfter), 1), 10))
		refuse(rec, outcome.RateLimited, "", "")
		return false
	}
	return true
}

// setRateLimitHeaders sets the RateLimit fields of an allowed response:
// every limit of the route as RateLimit-Policy, the tightest as RateLimit.
func setRateLimitHeaders(hdr http.Header, rl *routeLimits, st *limited) {
	if st.spec == nil {
		return
	}
	hdr[rateLimitPolicyHeader] = rl.policyHeader
	hdr[rateLimitHeader] = []string{st.spec.item + ";r=" + strconv.FormatInt(st.tightest.Remaining, 10) +
		";t=" + strconv.FormatInt(seconds(st.tightest.Reset), 10)}
}

// refusedBy is the name of the limit that refused ex, "" when none did.
func (rt *Runtime) refusedBy(ex *exchange) string {
	if ex.limitedBy == 0 || ex.route == nil {
		return ""
	}
	return rt.limitsOf(ex.route).all[ex.limitedBy-1].name
}

// removeUpstreamRateLimit drops an upstream's own RateLimit fields on a
// route whose limits the gateway reports: two sets would contradict each
// other.
func removeUpstreamRateLimit(route *policy.Route, h http.Header) {
	if len(route.RateLimits) > 0 {
		delete(h, rateLimitHeader)
		delete(h, rateLimitPolicyHeader)
	}
}

// seconds is d in whole seconds, rounded up.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// limitValue is the value a limit counts a request under, as a prefix
// that keeps the kinds of values apart ("iss:", "claim:") and the value:
// false when the request has none (the key is a claim or the issuer and
// there is no token, or the token lacks the claim). A route key has its
// counter's key made once (limitSpec.routeKey) and never comes here.
func limitValue(s *limitSpec, tok *token.Token) (prefix, value string, ok bool) {
	switch s.key {
	case policy.KeyIssuer:
		if tok == nil {
			return "", "", false
		}
		return "iss:", tok.Issuer, true
	case policy.KeyClaim:
		if tok == nil {
			return "", "", false
		}
		v, ok := s.claim.Lookup(tok.Claims)
		if !ok {
			return "", "", false
		}
		text, ok := policy.HeaderValue(v)
		if !ok {
			return "", "", false
		}
		return "claim:", text, true
	}
	return "", "", false // client_ip: the caller's address
}

// clientIP is the address a client_ip limit counts a request under: the
// connection's peer, or, when the peer is one of server.trusted_proxies,
// the right-most X-Forwarded-For address that is not (the left-most ones
// are the client's to write). IPv6 addresses count by their /64, which is
// what one subscriber gets: counting each address would let one client
// take 2^64 quotas.
func (rt *Runtime) clientIP(r *http.Request) string {
	peer := peerAddr(r.RemoteAddr)
	if peer.IsValid() && trustedAddr(rt.trustedProxies, peer) {
		vals := r.Header.Values("X-Forwarded-For")
	walk:
		for i := len(vals) - 1; i >= 0; i-- {
			// The hops right to left, cut in place: no slice of them.
			for v := vals[i]; ; {
				j := strings.LastIndexByte(v, ',')
				a, err := netip.ParseAddr(strings.TrimSpace(v[j+1:]))
				if err != nil {
					// A hop that is not an address: stop at the
					// last one that was.
					break walk
				}
				a = a.Unmap()
				peer = a
				if !trustedAddr(rt.trustedProxies, a) {
					break walk
				}
				if j < 0 {
					break // on to the header line before
				}
				v = v[:j]
			}
		}
	}
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if peer.Is6() {
		p, _ := peer.Prefix(64)
		return p.String()
	}
	return peer.String()
}

func peerAddr(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// rateLimitPairs are the (route, policy) labels of every limit of the
// table: the rate-limit series a reload keeps.
func rateLimitPairs(table *policy.Table, limits []*routeLimits) map[[2]string]bool {
	keep := map[[2]string]bool{}
	for _, r := range table.Routes() {
		if r.Index < len(limits) && limits[r.Index] != nil {
			for _, s := range limits[r.Index].all {
				keep[[2]string{r.Name, s.name}] = true
			}
		}
	}
	return keep
}

// bindRateSeries resolves the decision series of every limit of every
// route, by route index and by position in routeLimits.all.
func bindRateSeries(m *metrics.Metrics, table *policy.Table, limits []*routeLimits) [][]metrics.RateLimitSeries {
	if limits == nil {
		return nil
	}
	out := make([][]metrics.RateLimitSeries, len(limits))
	for _, r := range table.Routes() {
		rl := limits[r.Index]
		if rl == nil {
			continue
		}
		out[r.Index] = make([]metrics.RateLimitSeries, len(rl.all))
		for i, s := range rl.all {
			out[r.Index][i] = m.RateLimitRoute(r.Name, s.name)
		}
	}
	return out
}

// sfString writes s as a Structured Field string (RFC 8941 §3.3.3), the
// RateLimit fields' policy names: printable ASCII only, with '"' and '\\'
// escaped. A limit's name comes from its route's, which may hold other
// characters (profil-été[0]); each byte outside printable ASCII becomes
// '?', since a field a strict client cannot parse helps nobody.
func sfString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
