package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// MaxStoreTimeout bounds rate_limit_store.timeout: it is added to every
// limited request while Redis is slow, so a value past it would turn a slow
// store into slow requests everywhere.
const MaxStoreTimeout = Duration(5 * time.Second)

// redisSchemes are the URL schemes of rate_limit_store.url: a server,
// Sentinel or Cluster, each plain or over TLS (package ratelimit).
var redisSchemes = []string{"redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"}

// MaxRouteRateLimits bounds the limits of one route.
const MaxRouteRateLimits = 16

// MaxBurstSpan bounds burst-1 intervals of a rate (the time a full burst
// takes to earn back): ratelimit refuses a limit past it.
const MaxBurstSpan = 366 * 24 * time.Hour

// rateLimits checks the named policies and returns them by name (a name
// given twice, an error reported here, keeps its first entry).
func (v *validator) rateLimits(ps []RateLimitPolicy) map[string]RateLimitPolicy {
	policies := map[string]RateLimitPolicy{}
	byName := map[string]int{}
	for i := range ps {
		pl := &ps[i]
		p := fmt.Sprintf("rate_limits[%d]", i)
		switch {
		case pl.Name == "":
			v.errorf(p+".name", CodeRequired, "is required: routes name the policy by it, and it is the policy label of its metric")
		case !issuerName.MatchString(pl.Name):
			v.errorf(p+".name", CodeBadName, "%q must be 1 to 64 letters, digits, '_' or '-' (it becomes a metric label)", pl.Name)
		default:
			if j, dup := byName[pl.Name]; dup {
				v.errorf(p+".name", CodeDuplicate, "%q is already the name of rate_limits[%d] (line %d)", pl.Name, j, v.line(fmt.Sprintf("rate_limits[%d]", j)))
			} else {
				byName[pl.Name] = i
			}
		}
		if _, seen := policies[pl.Name]; pl.Name != "" && !seen {
			policies[pl.Name] = *pl
		}
		v.rateLimitKey(p+".key", pl.Key)
		v.rate(p, pl.Rate, pl.Burst)
	}
	return policies
}

// routeRateLimits checks one rate_limit list (a route's own, or
// defaults.rate_limit) against the policies; public says whether the
// route verifies no token, so that a limit keyed by the token is warned.
func (v *validator) routeRateLimits(p string, ls []RateLimit, policies map[string]RateLimitPolicy, public bool) {
	if len(ls) > MaxRouteRateLimits {
		v.errorf(p, CodeOutOfRange, "%d limits are more than %d: every one is spent on every request", len(ls), MaxRouteRateLimits)
	}
	seen := map[string]int{}
	for j, l := range ls {
		ep := fmt.Sprintf("%s[%d]", p, j)
		if l.Policy != "" {
			for _, k := range []struct {
				key string
				set bool
			}{{"key", l.Key != ""}, {"rate", l.Rate != ""}, {"burst", l.Burst != 0 || v.present(ep+".burst")}} {
				if k.set {
					v.errorf(ep+"."+k.key, CodeConflict, "policy %q already says %s: set policy alone, or key and rate without policy", l.Policy, k.key)
				}
			}
			pl, known := policies[l.Policy]
			switch k, dup := seen[l.Policy]; {
			case !known:
				v.errorf(ep+".policy", CodeUnknownValue, "no entry of rate_limits is named %q", l.Policy)
			case dup:
				v.errorf(ep+".policy", CodeDuplicate, "policy %q is already listed at %s[%d]", l.Policy, p, k)
			default:
				seen[l.Policy] = j
				if public && keyReadsToken(pl.Key) {
					v.warnf(ep+".policy", CodeIgnored, "policy %q is keyed by %s, but the route is public, so no token is read: every request is counted under its client address", l.Policy, pl.Key)
				}
			}
			continue
		}
		if v.rateLimitKey(ep+".key", l.Key) && public && keyReadsToken(l.Key) {
			v.warnf(ep+".key", CodeIgnored, "the route is public, so no token is read: every request is counted under its client address (key client_ip)")
		}
		v.rate(ep, l.Rate, l.Burst)
	}
}

// keyReadsToken reports whether a well-formed key is read from the
// verified token (a claim, or its issuer).
func keyReadsToken(key string) bool {
	kind, _, err := ParseRateLimitKey(key)
	return err == nil && (kind == KeyKindClaim || kind == KeyKindIssuer)
}

// rateLimitKey checks a key; it reports whether the key is well-formed.
func (v *validator) rateLimitKey(p, key string) bool {
	if key == "" {
		v.errorf(p, CodeRequired, "is required: client_ip, issuer, route or a claim path such as sub")
		return false
	}
	if _, _, err := ParseRateLimitKey(key); err != nil {
		v.errorf(p, CodeBadClaimPath, "%v", err)
		return false
	}
	return true
}

// rate checks the rate and burst of the entry at p.
func (v *validator) rate(p, rate string, burst int) {
	var interval time.Duration
	if rate == "" {
		v.errorf(p+".rate", CodeRequired, "is required: N/s, N/m, N/h or N/<duration> (\"100/s\", \"6000/m\")")
	} else if count, period, err := ParseRate(rate); err != nil {
		v.errorf(p+".rate", CodeInvalid, "%v", err)
	} else if interval = period / time.Duration(count); interval < time.Microsecond {
		// Redis's clock counts microseconds: a finer rate cannot be kept.
		v.errorf(p+".rate", CodeOutOfRange, "%q is more than one request a microsecond: the counters keep time in microseconds", rate)
	} else if r := interval % time.Microsecond; r != 0 {
		interval += time.Microsecond - r // as the stores round it (ratelimit.Limit.Interval)
	}
	if (burst != 0 || v.present(p+".burst")) && (burst < 1 || burst > MaxRateCount) {
		v.errorf(p+".burst", CodeOutOfRange, "%d is out of range: from 1 to %d (leave it out for the rate's count)", burst, MaxRateCount)
	} else if interval > 0 && burst > 1 && int64(burst-1) > int64(MaxBurstSpan/interval) {
		v.errorf(p+".burst", CodeOutOfRange, "%d at %s spans more than a year of requests: a counter would be remembered that long", burst, rate)
	}
}

// rateLimitStore checks rate_limit_store.
func (v *validator) rateLimitStore(s *RateLimitStore) {
	const p = "rate_limit_store"
	switch s.OnStoreError {
	case OnStoreErrorAllow, OnStoreErrorDeny, OnStoreErrorLocal:
	default:
		v.errorf(p+".on_store_error", CodeUnknownValue, "%q is not a mode: use local (count in this process alone), allow or deny", s.OnStoreError)
	}
	if s.Timeout <= 0 || s.Timeout > MaxStoreTimeout {
		v.errorf(p+".timeout", CodeOutOfRange, "%s is out of range: more than 0 and at most %s (every limited request waits for it while Redis is slow)", s.Timeout, MaxStoreTimeout)
	}
	if !s.Enabled() {
		for _, k := range []struct {
			key string
			set bool
		}{{"password_file", s.PasswordFile != ""}, {"tls", s.TLS.Enabled()}} {
			if k.set {
				v.errorf(p+"."+k.key, CodeIgnored, "url is not set, so counters are kept in memory and this would be silently ignored: set url, or remove it")
			}
		}
		return
	}
	u, err := url.Parse(s.URL)
	switch {
	case err != nil:
		v.errorf(p+".url", CodeBadURL, "%s", notAURL(s.URL, err))
		return
	case !slices.Contains(redisSchemes, u.Scheme):
		v.errorf(p+".url", CodeBadURL, "%q must be a redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster:// URL", showURL(s.URL))
		return
	case u.Host == "":
		v.errorf(p+".url", CodeBadURL, "%q names no host", showURL(s.URL))
		return
	}
	if _, set := u.User.Password(); set || u.Query().Has("password") {
		v.errorf(p+".url", CodeInvalid, "the URL carries a password: put it in a file and name it in password_file, so that it stays out of the configuration")
	}
	if u.Query().Has("skip_verify") {
		// go-redis would accept any certificate Redis shows, with no
		// acknowledgement and no warning.
		v.errorf(p+".url", CodeInsecureTLS, "skip_verify turns off the verification of Redis's certificate, so anyone on the network path could read the password and change every counter: give Redis's CA in tls.ca_file instead, or, if this is really meant, set tls.insecure_skip_verify with insecure_skip_verify_acknowledged: true")
	}
	if !strings.HasPrefix(u.Scheme, "rediss") && !s.TLS.Enabled() && s.PasswordFile != "" && !isLoopback(u.Hostname()) {
		v.warnf(p+".url", CodePlainHTTP, "the password (password_file) and every counter cross the network in clear text: anyone on the path can read the password and change the counters; use rediss:// or set tls")
	}
	if !strings.HasPrefix(u.Scheme, "rediss") && s.TLS.Enabled() {
		// TLS settings turn TLS on: say so rather than guess which was meant.
		v.warnf(p+".tls", CodeConflict, "the URL is redis:// but tls is set: the connection uses TLS (write rediss:// to say so)")
	}
	v.clientTLS(p+".tls", s.TLS, "Redis's", "read the password and change every counter")
}

// rateLimitsInUse checks rate_limits, rate_limit_store, defaults.rate_limit
// and every route's own rate_limit, and warns about a policy that no route
// names. A route that took defaults.rate_limit is not checked again.
func (v *validator) rateLimitsInUse(c *Config) {
	policies := v.rateLimits(c.RateLimits)
	v.rateLimitStore(&c.RateLimitStore)
	v.routeRateLimits("defaults.rate_limit", c.Defaults.RateLimit, policies, false)
	used := map[string]bool{}
	for i := range c.Routes {
		r := &c.Routes[i]
		if p := fmt.Sprintf("routes[%d].rate_limit", i); v.present(p) {
			v.routeRateLimits(p, r.RateLimit, policies, r.Auth.Mode == ModePublic)
		}
		for _, l := range r.RateLimit {
			used[l.Policy] = true // "" for an inline limit: no policy has that name
		}
	}
	for i, pl := range c.RateLimits {
		if pl.Name != "" && !used[pl.Name] && len(c.Routes) > 0 {
			v.warnf(fmt.Sprintf("rate_limits[%d].name", i), CodeIgnored, "no route names policy %q, so it limits nothing", pl.Name)
		}
	}
}
