package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/proxy"
	"github.com/portcullis/portcullis/token"
)

// gateway is one running portcullis: the key sets it keeps fresh, the proxy
// handler and the admin handler, built from one configuration.
type gateway struct {
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

// newGateway builds everything from a validated configuration. Nothing is
// fetched or served until start.
func newGateway(cfg *config.Config, log *zap.Logger, m *metrics.Metrics) (*gateway, error) {
	g := &gateway{cfg: cfg, log: log, metrics: m, keySets: map[string]*jwks.KeySet{}}
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
			Algorithms:     is.Algorithms,
			ClockSkew:      is.ClockSkew.D(),
			RequiredClaims: is.RequiredClaims,
			TokenTypes:     is.TokenTypes,
			Keys:           ks,
		})
	}
	verifier, err := token.NewVerifier(issuers)
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
	g.handler = proxy.New(rt, m, log.Named("access"), cfg.Log.AccessLog)
	return g, nil
}

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

// start begins fetching and refreshing every issuer's keys in the
// background; it does not wait for them.
func (g *gateway) start(ctx context.Context) {
	for _, name := range g.names {
		g.keySets[name].Start(ctx)
	}
}

// notReady lists the issuers whose keys have never been loaded.
func (g *gateway) notReady() []string {
	var missing []string
	for _, name := range g.names {
		if !g.keySets[name].Ready() {
			missing = append(missing, name)
		}
	}
	return missing
}

// admin serves /metrics, /healthz and /readyz, on a port of its own.
func (g *gateway) admin() http.Handler {
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
		missing := g.notReady()
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
