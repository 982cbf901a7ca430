package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Targets: the processes a scenario compares.
const (
	Portcullis = "portcullis" // the built binary, generated configuration
	Bare       = "bare"       // httputil.ReverseProxy, no auth
	BareJWX    = "bare+jwx"   // the same plus one jwx jwt.Parse per request
	// TunedBare is "bare" as a careful operator would write it: the same
	// ReverseProxy and transport (proxy.NewTransport) plus a BufferPool of
	// 32 KiB buffers, as portcullis has. Without the pool ReverseProxy
	// allocates a 32 KiB buffer per response, which "bare" pays and
	// portcullis does not: a ratio to "bare" flatters portcullis, a ratio
	// to TunedBare does not (issue 13). In h2 and gRPC scenarios it speaks
	// what portcullis speaks there (h2 over TLS; h2c both sides).
	TunedBare = "tuned-bare"
	// DecisionEndpoint is the same binary and configuration as Portcullis,
	// called on its decision endpoint (decision.listen) in the Envoy
	// ext_authz HTTP shape: GET /envoy<path> with the original Host and
	// the client's bearer token, answered 200 with the claim headers and
	// no body. It forwards nothing, so its yardstick is Portcullis
	// proxying the same request (upstream round trip included).
	DecisionEndpoint = "decision"
)

// Token modes: how the load presents tokens.
const (
	// Reused: 1,000 distinct tokens, each sent again and again, as clients
	// that hold their token until it expires do (the common case).
	Reused = "reused"
	// Fresh: every request carries a token never sent before (the worst
	// case for a gateway that remembers verified tokens).
	Fresh = "fresh"
)

// reusedTokens is how many distinct tokens the reused mode cycles over.
const reusedTokens = 1000

// Protocols: what the load speaks to the proxy under test.
const (
	// HTTP1 (the default, no part in the name): HTTP/1.1 keep-alive, wrk.
	HTTP1 = ""
	// H2 is HTTP/2 over TLS (ALPN h2), driven by h2load: the proxy listens
	// with TLS (server.tls), and Connections is the number of concurrent
	// streams, spread over h2Conns connections. h2load sends the same
	// headers on every request, so one token (the first reused one) is
	// sent throughout: every request after the first is a cache hit, as in
	// the reused mode.
	H2 = "h2"
	// GRPC is a unary gRPC call (grpc.testing.TestService/UnaryCall, a
	// small payload echoed) in cleartext HTTP/2 both sides: the load
	// (bench -serve grpc-load, grpc-go) to the proxy (server.h2c), the
	// proxy to a grpc-go upstream (upstream_protocol: h2c). Each call
	// carries one of the reused tokens in its metadata; Connections is the
	// number of calls in flight, spread over h2Conns connections.
	GRPC = "grpc"
)

// h2Conns is how many connections an h2 or gRPC load opens: the streams
// are multiplexed over them (32 streams: 4 connections of 8).
const h2Conns = 4

// Scenario is one measured situation. Its name is its definition:
//
//	[decision-]<alg>-<reused|fresh>[-<N>routes][-noheaders][-c<N>][-nolog][-h2|-grpc]
//
// for example "rs256-reused", "es256-fresh-10000routes",
// "rs256-reused-c1", "decision-rs256-reused" or "rs256-reused-h2".
// Defaults: 10 routes, three claim headers forwarded, 32 connections (or
// streams), access log on (portcullis's own default), HTTP/1.1.
type Scenario struct {
	// Decision compares portcullis's decision endpoint with portcullis
	// proxying the same request, instead of portcullis with a baseline.
	Decision    bool
	Alg         string // RS256, ES256 or EdDSA
	Tokens      string // Reused or Fresh
	Routes      int
	Headers     bool // the route forwards three claims as headers
	Connections int
	AccessLog   bool
	Protocol    string // HTTP1, H2 or GRPC
}

var algNames = map[string]string{"rs256": "RS256", "es256": "ES256", "eddsa": "EdDSA"}

// ParseScenario reads a scenario name.
func ParseScenario(name string) (Scenario, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(name)), "-")
	s := Scenario{Routes: 10, Headers: true, Connections: 32, AccessLog: true}
	if parts[0] == DecisionEndpoint {
		s.Decision = true
		parts = parts[1:]
	}
	if len(parts) < 2 {
		return s, fmt.Errorf("scenario %q: want [decision-]<alg>-<reused|fresh>[-<N>routes][-noheaders][-c<N>][-nolog][-h2|-grpc]", name)
	}
	alg, ok := algNames[parts[0]]
	if !ok {
		return s, fmt.Errorf("scenario %q: algorithm %q is not rs256, es256 or eddsa", name, parts[0])
	}
	s.Alg = alg
	switch parts[1] {
	case Reused, Fresh:
		s.Tokens = parts[1]
	default:
		return s, fmt.Errorf("scenario %q: %q is not reused or fresh", name, parts[1])
	}
	seen := map[string]bool{}
	for _, p := range parts[2:] {
		kind := p
		switch {
		case p == "noheaders":
			s.Headers = false
		case p == "nolog":
			s.AccessLog = false
		case p == H2 || p == GRPC:
			kind = "protocol"
			s.Protocol = p
		case strings.HasSuffix(p, "routes"):
			kind = "routes"
			n, err := strconv.Atoi(strings.TrimSuffix(p, "routes"))
			if err != nil || n < 1 || n > 100_000 {
				return s, fmt.Errorf("scenario %q: %q: routes must be 1 to 100000", name, p)
			}
			s.Routes = n
		case strings.HasPrefix(p, "c"):
			kind = "c"
			n, err := strconv.Atoi(p[1:])
			if err != nil || n < 1 || n > 1024 {
				return s, fmt.Errorf("scenario %q: %q: connections must be 1 to 1024", name, p)
			}
			s.Connections = n
		default:
			return s, fmt.Errorf("scenario %q: unknown part %q", name, p)
		}
		if seen[kind] {
			return s, fmt.Errorf("scenario %q: %q given twice", name, kind)
		}
		seen[kind] = true
	}
	if s.Protocol != HTTP1 {
		// h2load cannot vary a header per request, and the decision
		// endpoint is an HTTP/1.1 call in Envoy's shape.
		if s.Tokens != Reused || s.Decision {
			return s, fmt.Errorf("scenario %q: %s is measured with reused tokens only, and not for the decision endpoint", name, s.Protocol)
		}
		if s.Connections < h2Conns || s.Connections%h2Conns != 0 {
			return s, fmt.Errorf("scenario %q: %s spreads its streams over %d connections: c<N> must be a multiple of %d", name, s.Protocol, h2Conns, h2Conns)
		}
	}
	return s, nil
}

// Name is the canonical name: ParseScenario(s.Name()) == s.
func (s Scenario) Name() string {
	var b strings.Builder
	if s.Decision {
		b.WriteString(DecisionEndpoint + "-")
	}
	b.WriteString(strings.ToLower(s.Alg))
	b.WriteString("-" + s.Tokens)
	if s.Routes != 10 {
		fmt.Fprintf(&b, "-%droutes", s.Routes)
	}
	if !s.Headers {
		b.WriteString("-noheaders")
	}
	if s.Connections != 32 {
		fmt.Fprintf(&b, "-c%d", s.Connections)
	}
	if !s.AccessLog {
		b.WriteString("-nolog")
	}
	if s.Protocol != HTTP1 {
		b.WriteString("-" + s.Protocol)
	}
	return b.String()
}

// Targets are the processes measured, baseline second. Reused tokens are
// compared with the bare proxy; a fresh token per request with the bare
// proxy doing one jwx parse per request (issue 4's yardstick). What jwx
// costs over the bare proxy is read across the two (see render). Both
// also run the tuned bare proxy, third, which every ratio is read against
// as well (issue 13's yardstick). h2 and gRPC scenarios compare with the
// tuned bare proxy only, speaking the same protocol. A decision scenario
// compares the decision endpoint with portcullis proxying the same
// request: a decision should cost no more than a proxied request less its
// upstream round trip.
func (s Scenario) Targets() []string {
	switch {
	case s.Decision:
		return []string{DecisionEndpoint, Portcullis}
	case s.Protocol != HTTP1:
		return []string{Portcullis, TunedBare}
	case s.Tokens == Fresh:
		return []string{Portcullis, BareJWX, TunedBare}
	}
	return []string{Portcullis, Bare, TunedBare}
}

// Tuned reports whether the scenario runs the tuned bare proxy, so that
// its ratios are read against it too.
func (s Scenario) Tuned() bool { return slices.Contains(s.Targets(), TunedBare) }

// roundOrder is the order the targets run in a round: as given in odd
// rounds, reversed in even ones (A B, B A, A B, ...), so that whatever the
// machine does to the first or second run of a round after the quiet wait
// falls on both targets alike.
func roundOrder(targets []string, round int) []string {
	if round%2 == 1 {
		return targets
	}
	out := slices.Clone(targets)
	slices.Reverse(out)
	return out
}

// Baseline is the target the ratios divide by.
func (s Scenario) Baseline() string { return s.Targets()[1] }

// The default sets. The full set covers the scenarios and targets;
// the quick set is one of each kind.
var (
	fullScenarios = []string{
		"rs256-reused", "es256-reused", "eddsa-reused",
		"rs256-fresh", "es256-fresh", "eddsa-fresh",
		"rs256-reused-1000routes", "rs256-reused-10000routes",
		"rs256-reused-noheaders",
		"rs256-reused-c1",
		"es256-fresh-10000routes", // the memory target: 10,000 routes and a full token cache
	}
	quickScenarios = []string{"rs256-reused", "es256-fresh", "rs256-reused-c1"}
	fullProfiles   = []string{"rs256-reused", "rs256-fresh", "es256-fresh-10000routes"}
	// decisionScenarios are in neither set (they would add a quarter to
	// -quick): run them by name.
	decisionScenarios = []string{"decision-rs256-reused"}
	// protocolScenarios are in neither set either (they need h2load, and
	// the gRPC one a second load generator): run them by name.
	protocolScenarios = []string{"rs256-reused-h2", "rs256-reused-grpc"}
)

// parseScenarios reads a comma-separated list; duplicates are dropped.
func parseScenarios(list string) ([]Scenario, error) {
	var out []Scenario
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		if strings.TrimSpace(name) == "" {
			continue
		}
		s, err := ParseScenario(name)
		if err != nil {
			return nil, err
		}
		if !seen[s.Name()] {
			seen[s.Name()] = true
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenario in %q", list)
	}
	return out, nil
}

func scenarioHelp() string {
	return `Scenarios are named by what they measure:

  [decision-]<alg>-<reused|fresh>[-<N>routes][-noheaders][-c<N>][-nolog][-h2|-grpc]

  decision   measure the decision endpoint (Envoy ext_authz HTTP shape) against
             portcullis proxying the same request (instead of portcullis against
             a baseline)
  alg        rs256, es256 or eddsa (tokens signed with RS256, ES256, EdDSA)
  reused     1,000 distinct tokens, each sent many times (compared with "bare")
  fresh      a token never sent before on every request (compared with "bare+jwx")
             (both are read against "tuned-bare" too: bare with a BufferPool)
  Nroutes    the size of the route table (default 10); the request matches the last route
  noheaders  the route forwards no claim headers (default: three)
  cN         N connections (default 32); c1 is the latency case
  nolog      access_log: false (default true, as in portcullis)
  h2         HTTP/2 over TLS with h2load, N streams over 4 connections (reused
             only; one token throughout), against tuned-bare serving h2 too
  grpc       unary gRPC calls in h2c both sides with bench's own load
             generator, N calls in flight over 4 connections (reused only),
             against tuned-bare in h2c too

Full set:  ` + strings.Join(fullScenarios, " ") + `
Quick set: ` + strings.Join(quickScenarios, " ") + `
Decisions: ` + strings.Join(decisionScenarios, " ") + ` (by name only: -scenarios)
Protocols: ` + strings.Join(protocolScenarios, " ") + ` (by name only: -scenarios)
`
}
