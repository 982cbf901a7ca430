// Package gateway assembles one running portcullis from a configuration:
// the issuers' key sets, the verifier, the route table, the proxy handler
// and the admin handler (/metrics, /healthz, /readyz), and serves them on
// their listeners until told to stop.
//
// It is its own top-level package because this assembly is needed by more
// than the binary: tests of every kind (attack suite, provider profiles,
// end-to-end, benchmarks) build a real gateway from a real configuration
// through it. It owns the lifecycle, never a request's fate: that is proxy's.
// It must never import cmd, and nothing in proxy, policy, token or jwks may
// import it.
package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/proxy"
	"github.com/portcullis/portcullis/token"
)

// Gateway is one running portcullis: the key sets it keeps fresh, the proxy
// handler and the admin handler, built from one configuration.
type Gateway struct {
	cfg     *config.Config
	log     *zap.Logger
	metrics *metrics.Metrics
	keySets map[string]*jwks.KeySet // by issuer name
	names   []string                // issuer names in file order
	handler *proxy.Handler

	// draining is set on SIGTERM: /readyz answers 503 from then on, so
	// that load balancers stop sending while in-flight requests finish.
	draining atomic.Bool
}

// New builds everything from a validated configuration. Nothing is fetched
// or served until Start or Serve.
func New(cfg *config.Config, log *zap.Logger, m *metrics.Metrics) (*Gateway, error) {
	g := &Gateway{cfg: cfg, log: log, metrics: m, keySets: map[string]*jwks.KeySet{}}
	var issuers []token.Issuer
	for _, is := range cfg.Issuers {
		ks := jwks.New(jwks.Source{
			Issuer:             is.Name,
			IssuerURL:          is.Issuer,
			JWKSURI:            is.JWKSURI,
			Discovery:          is.Discovery,
			Algorithms:         is.Algorithms,
			RefreshInterval:    is.RefreshInterval.D(),
			MinRefreshInterval: is.MinRefreshInterval.D(),
		}, nil, log, m) // the key set labels its own log lines with the issuer
		g.keySets[is.Name] = ks
		g.names = append(g.names, is.Name)
		issuers = append(issuers, token.Issuer{
			Name:           is.Name,
			Issuer:         is.Issuer,
			Audiences:      is.Audiences,
			AudienceClaim:  is.AudienceClaim,
			Algorithms:     is.Algorithms,
			ClockSkew:      is.ClockSkew.D(),
			RequiredClaims: is.RequiredClaims,
			TokenTypes:     is.TokenTypes,
			Keys:           ks,
			Cache: token.CacheOptions{
				MaxEntries: is.TokenCache.MaxEntries,
				MaxTTL:     is.TokenCache.MaxTTL.D(),
			},
		})
	}
	verifier, err := token.NewVerifier(issuers, token.WithMetrics(m))
	if err != nil {
		return nil, err
	}
	table, err := policy.Compile(cfg)
	if err != nil {
		return nil, err
	}
	var trusted []netip.Prefix
	for _, s := range cfg.Server.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("server.trusted_proxies: %w", err)
		}
		trusted = append(trusted, p)
	}
	rt := proxy.NewRuntime(table, verifier, proxy.Options{TrustedProxies: trusted})
	g.handler = proxy.New(rt, proxy.HandlerOptions{
		Metrics:     m,
		Log:         log.Named("access"),
		AccessLog:   cfg.Log.AccessLog,
		MaxInFlight: cfg.Server.MaxInFlight,
	})
	return g, nil
}

// Handler is the proxy port's handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// parsePrefix reads a CIDR or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Start begins fetching and refreshing every issuer's keys in the
// background; it does not wait for them.
func (g *Gateway) Start(ctx context.Context) {
	for _, name := range g.names {
		g.keySets[name].Start(ctx)
	}
}

// NotReady lists the issuers whose keys have never been loaded.
func (g *Gateway) NotReady() []string {
	var missing []string
	for _, name := range g.names {
		if !g.keySets[name].Ready() {
			missing = append(missing, name)
		}
	}
	return missing
}

// Admin serves /metrics, /healthz and /readyz, on a port of its own.
func (g *Gateway) Admin() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", g.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if g.draining.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
			return
		}
		missing := g.NotReady()
		if len(missing) > 0 {
			slices.Sort(missing)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{
				"status": "not ready", "issuers_without_keys": missing,
			})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// KeySet returns the key set of the named issuer, nil if there is none.
func (g *Gateway) KeySet(issuer string) *jwks.KeySet { return g.keySets[issuer] }

// Metrics returns the gateway's collectors.
func (g *Gateway) Metrics() *metrics.Metrics { return g.metrics }

// WaitReady blocks until every issuer's keys have loaded once, or ctx ends.
func (g *Gateway) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for len(g.NotReady()) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("issuers without keys: %v: %w", g.NotReady(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}
