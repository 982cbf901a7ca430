package policy

import (
	"fmt"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/config"
)

// RateLimit is one limit a route's requests must stay under
// (routes[].rate_limit), compiled: what its counters are kept for, and the
// rate. The proxy spends against it; this package only says what it is.
type RateLimit struct {
	// Name is the shared policy's name, or "<route>[<i>]" for the route's
	// i-th inline limit: the policy label of the decisions metric and the
	// namespace of the limit's counters, so that a policy's counters are
	// shared by its routes and an inline limit's are its route's own. A
	// policy name cannot hold '[', so the two never meet.
	Name string
	Key  RateKey
	// Claim is the claim whose value is the key, for KeyClaim.
	Claim ClaimPath
	// Count requests per Period, in bursts of up to Burst.
	Count  int64
	Period time.Duration
	Burst  int64
}

// RateKey is what a rate limit counts requests by.
type RateKey uint8

const (
	KeyClientIP RateKey = iota // the client's address
	KeyIssuer                  // the verifying issuer's name
	KeyRoute                   // nothing: every request the limit covers together
	KeyClaim                   // a claim's value
)

// BeforeAuth reports whether the limit is checked before the token is
// verified: only client_ip limits are, which need nothing of the token.
func (l *RateLimit) BeforeAuth() bool { return l.Key == KeyClientIP }

// compileRateLimits compiles a route's rate_limit list, naming each entry's
// shared policy from policies.
func compileRateLimits(r *config.Route, policies []config.RateLimitPolicy) ([]RateLimit, error) {
	if len(r.RateLimit) == 0 {
		return nil, nil
	}
	out := make([]RateLimit, 0, len(r.RateLimit))
	for i, l := range r.RateLimit {
		name, key, rate, burst := r.Name+"["+strconv.Itoa(i)+"]", l.Key, l.Rate, l.Burst
		if l.Policy != "" {
			found := false
			for _, p := range policies {
				if p.Name == l.Policy {
					name, key, rate, burst, found = p.Name, p.Key, p.Rate, p.Burst, true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("rate_limit[%d]: no policy is named %q", i, l.Policy)
			}
		}
		c, err := compileRateLimit(name, key, rate, burst)
		if err != nil {
			return nil, fmt.Errorf("rate_limit[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func compileRateLimit(name, key, rate string, burst int) (RateLimit, error) {
	count, period, b, err := config.RateLimit{Rate: rate, Burst: burst}.Limit()
	if err != nil {
		return RateLimit{}, err
	}
	l := RateLimit{Name: name, Count: count, Period: period, Burst: b}
	kind, claim, err := config.ParseRateLimitKey(key)
	if err != nil {
		return RateLimit{}, err
	}
	switch kind {
	case config.KeyKindClientIP:
		l.Key = KeyClientIP
	case config.KeyKindIssuer:
		l.Key = KeyIssuer
	case config.KeyKindRoute:
		l.Key = KeyRoute
	default:
		l.Key = KeyClaim
		if l.Claim, err = ParseClaimPath(claim); err != nil {
			return RateLimit{}, err
		}
	}
	return l, nil
}

// String says what the limit is, for explain: "per-subject: 6000 per 1m0s,
// burst 200, by claim sub, after authentication".
func (l *RateLimit) String() string {
	by, when := "", "after authentication"
	switch l.Key {
	case KeyClientIP:
		by, when = "by client address", "before the token is read"
	case KeyIssuer:
		by = "by issuer"
	case KeyRoute:
		by = "all requests together"
	case KeyClaim:
		by = "by claim " + l.Claim.String()
	}
	return fmt.Sprintf("%s: %d per %s, burst %d, %s, %s", l.Name, l.Count, l.Period, l.Burst, by, when)
}
