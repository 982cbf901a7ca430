package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The syntax of rate limits (routes[].rate_limit, rate_limits): their
// rate and their key. Like claimpath.go, this is the one definition, read
// by validation and by the code that compiles the limits, so that the two
// never disagree.

// Bounds of a rate limit.
const (
	// MaxRateCount is the largest count of a rate, and the largest burst.
	MaxRateCount = 1_000_000_000
	// MinRatePeriod and MaxRatePeriod bound a rate's period: below a
	// second, Retry-After (whole seconds) could not say when to come back;
	// above a day, a counter is state kept for longer than a limit is
	// meant to be remembered.
	MinRatePeriod = time.Second
	MaxRatePeriod = 24 * time.Hour
)

// ParseRate reads a rate: "<N>/s", "<N>/m", "<N>/h" or "<N>/<duration>"
// ("10/15s", "100/1m"), N a whole number from 1 to MaxRateCount and the
// period from MinRatePeriod to MaxRatePeriod.
func ParseRate(s string) (count int64, period time.Duration, err error) {
	n, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, 0, fmt.Errorf("rate %q must be written N/s, N/m, N/h or N/<duration> (\"100/s\", \"6000/m\", \"10/15s\")", s)
	}
	count, err = strconv.ParseInt(strings.TrimSpace(n), 10, 64)
	if err != nil || count < 1 || count > MaxRateCount {
		return 0, 0, fmt.Errorf("rate %q: the count must be a whole number from 1 to %d", s, MaxRateCount)
	}
	switch per = strings.TrimSpace(per); per {
	case "s":
		period = time.Second
	case "m":
		period = time.Minute
	case "h":
		period = time.Hour
	default:
		if period, err = time.ParseDuration(per); err != nil || strings.HasPrefix(per, "-") {
			return 0, 0, fmt.Errorf("rate %q: the period must be s, m, h or a duration such as 15s", s)
		}
	}
	if period < MinRatePeriod || period > MaxRatePeriod {
		return 0, 0, fmt.Errorf("rate %q: the period must be from %s to %s", s, MinRatePeriod, MaxRatePeriod)
	}
	if period%time.Second != 0 {
		// The RateLimit-Policy header states the window in whole seconds.
		return 0, 0, fmt.Errorf("rate %q: the period must be whole seconds", s)
	}
	return count, period, nil
}

// Kinds of rate-limit key (ParseRateLimitKey).
const (
	KeyKindClientIP = KeyClientIP
	KeyKindIssuer   = KeyIssuer
	KeyKindRoute    = KeyRoute
	KeyKindClaim    = "claim"
)

// ParseRateLimitKey reads a rate-limit key: one of client_ip, issuer and
// route, or a claim path (claim is then the path), "claim:" in front
// forcing a claim path whatever follows.
func ParseRateLimitKey(s string) (kind, claim string, err error) {
	switch s {
	case "":
		return "", "", errors.New("key is empty: write client_ip, issuer, route or a claim path such as sub")
	case KeyClientIP, KeyIssuer, KeyRoute:
		return s, "", nil
	}
	path := strings.TrimPrefix(s, KeyClaimPrefix)
	if err := ValidClaimPath(path); err != nil {
		return "", "", err
	}
	return KeyKindClaim, path, nil
}

// Limit returns the rate of l and its burst (its count when burst is left
// out), or the error of a rate that does not parse. Only Rate and Burst
// are read, so that a named policy's are read as
// RateLimit{Rate: p.Rate, Burst: p.Burst}.Limit().
func (l RateLimit) Limit() (count int64, period time.Duration, burst int64, err error) {
	count, period, err = ParseRate(l.Rate)
	if err != nil {
		return 0, 0, 0, err
	}
	burst = int64(l.Burst)
	if burst == 0 {
		burst = count
	}
	return count, period, burst, nil
}
