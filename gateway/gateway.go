// Package gateway assembles one running portcullis from a configuration:
// the issuers' key sets, the verifier, the route table, the proxy handler
// and the admin handler (/metrics, /healthz, /readyz); serves them on their
// listeners until told to stop; and reloads a new configuration in place.
// It also builds the process logger from the log section (log.go), so that
// the binary and the load harness's profiled gateway log alike.
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
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/decision"
	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/proxy"
	"github.com/portcullis/portcullis/remote"
	"github.com/portcullis/portcullis/resource"
	"github.com/portcullis/portcullis/token"
	"github.com/portcullis/portcullis/tracing"
)

// Gateway is one running portcullis. Its configuration can be replaced
// while it serves (Reload); everything a request reads is swapped at once.
type Gateway struct {
	log     *zap.Logger
	metrics *metrics.Metrics
	handler *proxy.Handler

	// state is the configuration in force with its key sets. Readers load
	// it without a lock; mu serializes the writers (Start, Reload).
	state atomic.Pointer[state]
	mu    sync.Mutex
	// keysCtx is the parent of every key set's refresh loop, set by Start.
	keysCtx context.Context
	// running is the configuration the gateway was built with (without
	// its routes): what its listeners, logger, tracing and rate-limit
	// store were made from. A reload compares the settings that need a
	// restart with it, not with the file loaded last (needsRestart).
	running *config.Config
	// started is closed by Start (Started): a reload before then is
	// refused, so whatever reloads must wait for it.
	started chan struct{}

	// transport carries every runtime's requests to the upstreams: the
	// pooled proxy.NewTransport, or explain's, which captures what would
	// be forwarded instead. noVerify (explain's too) skips signatures.
	transport http.RoundTripper
	noVerify  bool
	// dryRun is explain's gateway: it must spend no shared quota, so its
	// rate limits count in a store of its own, never in Redis.
	dryRun bool
	// transports are the routes' own transports (upstream_protocol, tls),
	// for the gateway's life as transport is; nil for explain, whose
	// transport captures every route's requests.
	transports *proxy.Transports

	// readTimeout and writeTimeout are the proxy listener's, from the
	// configuration the gateway was built with. A forwarded exchange takes
	// the connection's deadlines over from them, so every runtime, reloaded
	// ones included, must be told the ones the listener has; a reload
	// cannot change them (needsRestart).
	readTimeout, writeTimeout time.Duration

	// rateLimits keep the routes' rate-limit counters for the gateway's
	// life (ratelimit.go): a reload must not reset a quota.
	rateLimits *rateLimits

	// draining is set on SIGTERM: /readyz answers 503 from then on, so
	// that load balancers stop sending while in-flight requests finish.
	draining atomic.Bool

	// tracing is the tracer provider the gateway started with (nil:
	// tracing off), and traceTrust whose traceparent its spans continue:
	// the tracing block needs a restart, so every runtime, reloaded ones
	// included, gets these (needsRestart).
	tracing    *tracing.Tracing
	traceTrust proxy.TraceTrust

	// cert is the proxy listener's certificate (server.tls), set by Serve
	// once loaded and swapped in place by ReloadCertificate; nil without
	// TLS.
	cert atomic.Pointer[certificate]
}

// state is one configuration and the key sets that serve it.
type state struct {
	cfg           *config.Config // without its routes: those are compiled into the runtime
	issuers       []*keys        // in file order; issuers without a key source have none
	lists         []*list        // revocation lists, in file order
	introspectors []*introspector
	verifier      *token.Verifier
}

// keys is one issuer's key set with what identifies its source, so that a
// reload that does not change where and how keys are fetched keeps the set,
// its cached keys and its refresh loop.
type keys struct {
	source jwks.Source // source.Issuer is the issuer's name
	set    *jwks.KeySet
	stop   context.CancelFunc // nil until started
}

// ReloadTimeout bounds how long a reload waits for the keys of issuers it
// adds before their routes go live.
const ReloadTimeout = 30 * time.Second

// AccessLogger is the name of the logger that writes the access log: one
// line per request, message "request" (README, Logs).
const AccessLogger = "access"

// New builds everything from a validated configuration. Nothing is fetched
// or served until Start or Serve.
func New(cfg *config.Config, log *zap.Logger, m *metrics.Metrics) (*Gateway, error) {
	var spans *metrics.Tracing // nil m: tracing counts into collectors of its own
	if m != nil {
		spans = m.Tracing
	}
	t, err := tracing.New(context.Background(), cfg.Tracing, spans, log.Named("tracing"))
	if err != nil {
		return nil, err
	}
	g, err := newGateway(&Gateway{log: log, metrics: m, tracing: t, traceTrust: traceTrust(cfg.Tracing.TrustIncoming)}, cfg)
	if err != nil {
		_ = t.Shutdown(context.Background())
		return nil, err
	}
	if t != nil {
		s := t.Settings()
		log.Info("tracing on",
			zap.String("protocol", s.Protocol), zap.String("endpoint", s.Endpoint),
			zap.String("service_name", s.ServiceName), zap.String("sampler", s.Sampler),
			zap.Int("queue_size", s.QueueSize), zap.String("trust_incoming", cfg.Tracing.TrustIncoming))
	}
	return g, nil
}

// traceTrust maps tracing.trust_incoming to the request path's word.
func traceTrust(s string) proxy.TraceTrust {
	switch s {
	case config.TrustAlways:
		return proxy.TraceAlways
	case config.TrustNever:
		return proxy.TraceNever
	}
	return proxy.TraceTrustedProxies
}

func newGateway(g *Gateway, cfg *config.Config) (*Gateway, error) {
	g.started = make(chan struct{})
	if g.transport == nil {
		// One transport for the gateway's life, so that a reload keeps
		// the idle upstream connections (a new one per runtime dropped
		// them all and left the old ones open until their idle timeout).
		g.transport = proxy.NewTransport()
		g.transports = proxy.NewTransports()
	}
	g.readTimeout, g.writeTimeout = cfg.Server.ReadTimeout.D(), cfg.Server.WriteTimeout.D()
	rl, err := g.newRateLimits(cfg.RateLimitStore)
	if err != nil {
		return nil, err
	}
	g.rateLimits = rl
	st, rt, _, err := g.build(cfg, nil)
	if err != nil {
		rl.close()
		return nil, err
	}
	g.handler = proxy.New(rt, g.metrics, g.log.Named(AccessLogger))
	g.state.Store(st)
	g.running = st.cfg
	return g, nil
}

// source is where the issuer's keys come from; id is identity(is) with the
// digest of its CA file (remote.Identity.ReadCA).
func source(is config.Issuer, id remote.Identity) jwks.Source {
	return jwks.Source{
		Issuer:             is.Name,
		IssuerURL:          is.Issuer,
		JWKSURI:            is.JWKSURI,
		Discovery:          is.Discovery,
		Algorithms:         is.Algorithms,
		RefreshInterval:    is.RefreshInterval.D(),
		MinRefreshInterval: is.MinRefreshInterval.D(),
		Identity:           id,
	}
}

// identity is how the gateway's calls to an issuer verify it and present
// themselves, as the file says: paths, not yet the CA file's digest.
func identity(is config.Issuer) remote.Identity {
	return remote.Identity{
		CAFile:   is.TLS.CAFile,
		CertFile: is.TLS.CertFile,
		KeyFile:  is.TLS.KeyFile,
		Headers:  remote.HeaderLines(is.Headers),
	}
}

// verification is what the verifier needs of one configured issuer: keys
// are its key set, claims what the route table reads of its tokens.
// TestIssuerFieldsAreAllUsed holds that every field of config.Issuer reaches
// verification, source or the route table.
func verification(is config.Issuer, claims []string, keys token.Keys, in *introspector, rl *list) token.Issuer {
	v := token.Issuer{
		Name:           is.Name,
		Issuer:         is.Issuer,
		Audiences:      is.Audiences,
		AudienceClaim:  is.AudienceClaim,
		Algorithms:     is.Algorithms,
		ClockSkew:      is.ClockSkew.D(),
		RequiredClaims: is.RequiredClaims,
		TokenTypes:     is.TokenTypes,
		Claims:         claims,
		Keys:           keys,
		Cache: token.CacheOptions{
			MaxEntries: is.TokenCache.MaxEntries,
			MaxTTL:     is.TokenCache.MaxTTL.D(),
		},
		IntrospectJWTs: is.Introspection.IntrospectJWTs,
	}
	// Interfaces are set only when there is something behind them: a nil
	// pointer in an interface is not a nil interface.
	if in != nil {
		v.Introspection = in.client
	}
	if rl != nil {
		v.Revocation = rl.list
	}
	return v
}

// build makes the state and runtime of cfg. Key sets whose source is
// unchanged are taken from the old state, and so are the token caches of
// issuers that verify as before; the other key sets are new, not started,
// and also returned as added. old is nil for the first build.
func (g *Gateway) build(cfg *config.Config, old *state) (st *state, rt *proxy.Runtime, added *sources, err error) {
	var reuse []*keys
	var oldVerifier *token.Verifier
	var oldLists []*list
	var oldIntrospectors []*introspector
	if old != nil {
		reuse, oldVerifier = old.issuers, old.verifier
		oldLists, oldIntrospectors = old.lists, old.introspectors
	}
	added = &sources{}
	// The routes live on compiled in the route table; the state keeps the
	// rest of the file, which reloads compare against. With 10,000 routes
	// the parsed entries were 5-9 MB of heap kept for nothing.
	settings := *cfg
	settings.Routes, settings.Warnings = nil, nil
	st = &state{cfg: &settings}
	table, err := policy.Compile(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	// Before anything starts: a route whose TLS files cannot be read
	// fails the load (a reload keeps the old configuration).
	var upstreams []http.RoundTripper
	if g.transports != nil {
		if upstreams, err = g.transports.Routes(table); err != nil {
			return nil, nil, nil, err
		}
	}
	var issuers []token.Issuer
	for _, is := range cfg.Issuers {
		// The CA file is read at every build, and its digest is part of
		// each client's source below: a bundle rewritten under the same
		// path gets new clients that trust what it now holds, an unchanged
		// one keeps them (and the keys and cached answers they hold), and
		// one that cannot be read fails the reload.
		id, err := identity(is).ReadCA()
		if err != nil {
			return nil, nil, nil, fmt.Errorf("issuers.%s.tls.%w", is.Name, err)
		}
		var keySet token.Keys
		if is.JWKSURI != "" || is.Discovery {
			src := source(is, id)
			var k *keys
			for _, old := range reuse {
				if old.source.Same(src) {
					k = old
					break
				}
			}
			if k == nil {
				client, err := remote.NewClient(src.Identity, 2, 10*time.Second)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("issuers.%s.tls: %w", is.Name, err)
				}
				// The key set labels its own log lines with the issuer.
				k = &keys{source: src, set: jwks.New(src, client, g.log, g.metrics)}
				k.set.Trace(g.tracing.Provider())
				g.metrics.IssuerConfigured(is.Name)
				added.keys = append(added.keys, k)
			}
			st.issuers = append(st.issuers, k)
			keySet = k.set
		}
		in, err := g.introspectionFor(is, id, oldIntrospectors)
		if err != nil {
			return nil, nil, nil, err
		}
		if in != nil {
			st.introspectors = append(st.introspectors, in)
		}
		rl, isNew, err := g.listFor(is, id, oldLists)
		if err != nil {
			return nil, nil, nil, err
		}
		if rl != nil {
			st.lists = append(st.lists, rl)
			if isNew {
				added.lists = append(added.lists, rl)
			}
		}
		issuers = append(issuers, verification(is, table.ClaimNames(is.Name), keySet, in, rl))
	}
	verifier, err := token.NewVerifier(issuers, token.WithMetrics(g.metrics), token.WithCachesOf(oldVerifier))
	if err != nil {
		return nil, nil, nil, err
	}
	st.verifier = verifier
	if g.noVerify {
		verifier = verifier.WithoutSignatures()
	}
	var trusted []netip.Prefix
	for _, s := range cfg.Server.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("server.trusted_proxies: %w", err)
		}
		trusted = append(trusted, p)
	}
	var docs []resource.Metadata
	for _, r := range cfg.Resources {
		docs = append(docs, r.Metadata())
	}
	var resources *resource.Set
	if len(docs) > 0 {
		if resources, err = resource.NewSet(docs); err != nil {
			return nil, nil, nil, fmt.Errorf("resources: %w", err)
		}
	}
	rt = proxy.NewRuntime(table, verifier, proxy.Options{
		Resources:      resources,
		TrustedProxies: trusted,
		MaxInFlight:    cfg.Server.MaxInFlight,
		AccessLog:      cfg.Log.AccessLog,
		Transport:      g.transport,
		Upstreams:      upstreams,
		ReadTimeout:    g.readTimeout,
		WriteTimeout:   g.writeTimeout,
		RateLimiter:    g.rateLimits.store,
		Tracer:         g.tracing.Tracer(),
		TraceTrust:     g.traceTrust,
	})
	return st, rt, added, nil
}

// Config returns the configuration in force without its routes, which
// live on only in compiled form (Runtime.Table).
func (g *Gateway) Config() *config.Config { return g.state.Load().cfg }

// Handler is the proxy port's handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Decisions is the HTTP decision endpoint's handler (decision.listen):
// decisions with the proxy's routes and runtime, reloads included.
func (g *Gateway) Decisions() http.Handler { return decision.NewHTTP(g.handler, g.Config().Decision) }

// ProxyHandler is the request path itself, for the decision service's
// other transports (gRPC ext_authz).
func (g *Gateway) ProxyHandler() *proxy.Handler { return g.handler }

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
// background, until ctx ends; it does not wait for them.
func (g *Gateway) Start(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keysCtx = ctx
	select {
	case <-g.started:
	default:
		close(g.started)
	}
	go g.rateLimits.ping(ctx, g.log)
	st := g.state.Load()
	for _, k := range st.issuers {
		g.startKeys(k)
	}
	for _, l := range st.lists {
		g.startList(l)
	}
}

// Started is closed once Start has run. Serve calls Start only after it
// has opened the listeners and loaded the certificate, and Reload refuses
// to run before it ("reload before start"): a watcher started beside Serve
// waits for this before its first reload, or a change it saw meanwhile
// would be refused and not looked at again.
func (g *Gateway) Started() <-chan struct{} { return g.started }

func (g *Gateway) startKeys(k *keys) { g.startOnce(&k.stop, k.set.Start) }

// startOnce starts a key set's or a list's polling under g.keysCtx, unless
// stop says it was started already; stop is then what ends it.
func (g *Gateway) startOnce(stop *context.CancelFunc, start func(context.Context)) {
	if *stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(g.keysCtx)
	*stop = cancel
	start(ctx)
}

// Reload replaces the configuration: routes, issuers and policy are swapped
// at once, so that every request runs wholly under the old or wholly under
// the new one. Issuers whose key source did not change keep their key sets;
// new ones are fetched first, and if they do not load within ReloadTimeout
// (or ctx), nothing changes. Revocation lists it keeps are fetched again
// at once (refreshKept). Settings that only a restart can apply
// (listeners, the TLS files' names and h2c, server timeouts, log level and
// format) are logged and otherwise ignored; the certificate those files
// hold is reloaded by ReloadCertificate. The outcome is counted in
// portcullis_config_reloads_total.
func (g *Gateway) Reload(ctx context.Context, cfg *config.Config) error {
	err := g.reload(ctx, cfg)
	g.countReload(err)
	return err
}

func (g *Gateway) countReload(err error) {
	result := "success"
	if err != nil {
		result = "error"
	}
	g.metrics.ConfigReloads.WithLabelValues(result).Inc()
}

func (g *Gateway) reload(ctx context.Context, cfg *config.Config) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.keysCtx == nil {
		return errors.New("reload before start")
	}
	old := g.state.Load()
	st, rt, added, err := g.build(cfg, old)
	if err != nil {
		return err
	}
	for _, k := range added.keys {
		g.startKeys(k)
	}
	for _, l := range added.lists {
		g.startList(l)
	}
	if err := waitLoaded(ctx, added); err != nil {
		added.stop()
		g.unpublish(old, added)
		return err
	}
	g.handler.Swap(rt)
	g.state.Store(st)
	st.verifier.PublishSizes()
	for _, in := range st.introspectors {
		if !slices.Contains(old.introspectors, in) {
			in.client.PublishSize()
		}
	}
	refreshKept(ctx, st.lists, added.lists)
	for _, k := range old.issuers {
		if !slices.Contains(st.issuers, k) {
			k.stop()
			g.forgetIssuer(k.source.Issuer, st)
		}
	}
	g.forgetRemoved(old.cfg, cfg)
	for _, l := range old.lists {
		if !slices.Contains(st.lists, l) {
			l.stop()
			name := l.source.issuer
			if !slices.ContainsFunc(st.lists, func(n *list) bool { return n.source.issuer == name }) {
				g.metrics.Revocation.Entries.DeleteLabelValues(name)
				g.metrics.Revocation.LastSuccess.DeleteLabelValues(name)
			}
		}
	}
	if fields := needsRestart(g.running, cfg); len(fields) > 0 {
		g.log.Warn("configuration reloaded, but these settings need a restart to take effect",
			zap.Strings("fields", fields))
	}
	g.log.Info("configuration reloaded",
		zap.Int("routes", len(cfg.Routes)), zap.Int("issuers", len(cfg.Issuers)),
		zap.Int("issuers_added", len(added.keys)))
	return nil
}

// sources are the key sets and revocation lists a build added: they must
// load once before the configuration that needs them goes live.
type sources struct {
	keys  []*keys
	lists []*list
}

func (s *sources) stop() {
	for _, k := range s.keys {
		k.stop()
	}
	for _, l := range s.lists {
		l.stop()
	}
}

// refreshKept fetches every revocation list that a reload kept again, now
// and in parallel, and waits for them (bounded by ReloadTimeout): SIGHUP is
// how an operator makes a revocation published a moment ago take effect at
// once, without waiting for the next poll, and the reload is logged done
// only after. A failed fetch keeps the last good list (Refresh logs and
// counts it); the reload stands. The lists it added were fetched already.
func refreshKept(ctx context.Context, lists, added []*list) {
	ctx, cancel := context.WithTimeout(ctx, ReloadTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range lists {
		if !slices.Contains(added, l) {
			wg.Go(func() { _ = l.list.Refresh(ctx) })
		}
	}
	wg.Wait()
}

// waitLoaded waits for new key sets and revocation lists to load once,
// bounded by ReloadTimeout.
func waitLoaded(ctx context.Context, added *sources) error {
	if len(added.keys) == 0 && len(added.lists) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ReloadTimeout)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		var missing []string
		for _, k := range added.keys {
			if !k.set.Ready() {
				missing = append(missing, k.source.Issuer)
			}
		}
		for _, l := range added.lists {
			if !l.list.Ready() {
				missing = append(missing, l.source.issuer+" (revocation list)")
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("keys or revocation lists of new issuers %v did not load: %w", missing, ctx.Err())
		case <-t.C:
		}
	}
}

// unpublish undoes what a refused reload's sources published: their first
// fetches set key and entry gauges (0 while nothing loaded) for issuers the
// running configuration does not have, or over a running source's. A
// running source of the same issuer publishes its own again; the others'
// series go, so that no alert on a key count of 0 fires for an issuer that
// was never configured.
func (g *Gateway) unpublish(old *state, added *sources) {
	for _, k := range added.keys {
		name := k.source.Issuer
		if i := slices.IndexFunc(old.issuers, func(o *keys) bool { return o.source.Issuer == name }); i >= 0 {
			old.issuers[i].set.Republish()
		} else {
			g.metrics.JWKSKeys.DeleteLabelValues(name)
			g.metrics.JWKSLastSuccess.DeleteLabelValues(name)
		}
	}
	for _, l := range added.lists {
		name := l.source.issuer
		if i := slices.IndexFunc(old.lists, func(o *list) bool { return o.source.issuer == name }); i >= 0 {
			old.lists[i].list.Republish()
		} else {
			g.metrics.Revocation.Entries.DeleteLabelValues(name)
			g.metrics.Revocation.LastSuccess.DeleteLabelValues(name)
		}
	}
}

// forgetRemoved removes the gauges of the issuers the new configuration no
// longer names at all: their introspection caches and revocation lists
// are gone with them (forgetIssuer handles key sets and token caches).
func (g *Gateway) forgetRemoved(old, new *config.Config) {
	for _, is := range old.Issuers {
		if slices.ContainsFunc(new.Issuers, func(n config.Issuer) bool { return n.Name == is.Name }) {
			continue
		}
		g.metrics.Introspection.CacheEntries.DeleteLabelValues(is.Name)
		g.metrics.Revocation.Entries.DeleteLabelValues(is.Name)
		g.metrics.Revocation.LastSuccess.DeleteLabelValues(is.Name)
		g.metrics.TokenCacheEntries.DeleteLabelValues(is.Name)
	}
}

// forgetIssuer removes the series of an issuer the new configuration no
// longer has, so that a dashboard does not show a removed issuer's last key
// count forever (unless an issuer of the same name is still configured).
func (g *Gateway) forgetIssuer(name string, st *state) {
	for _, k := range st.issuers {
		if k.source.Issuer == name {
			return
		}
	}
	m := g.metrics
	m.JWKSKeys.DeleteLabelValues(name)
	m.JWKSLastSuccess.DeleteLabelValues(name)
	m.TokenCacheEntries.DeleteLabelValues(name)
}

// needsRestart names the settings that differ and that a reload cannot
// apply: the listeners are open and the logger is built. old is what the
// gateway runs with (Gateway.running): a setting changed by one reload is
// still not in effect at the next, and one put back needs nothing.
func needsRestart(old, new *config.Config) []string {
	var fields []string
	o, n := old.Server, new.Server
	diff := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			fields = append(fields, name)
		}
	}
	diff("server.listen", o.Listen, n.Listen)
	diff("server.admin_listen", o.AdminListen, n.AdminListen)
	diff("server.tls", o.TLS, n.TLS)
	diff("server.h2c", o.H2C, n.H2C)
	diff("server.read_header_timeout", o.ReadHeaderTimeout, n.ReadHeaderTimeout)
	diff("server.read_timeout", o.ReadTimeout, n.ReadTimeout)
	diff("server.write_timeout", o.WriteTimeout, n.WriteTimeout)
	diff("server.idle_timeout", o.IdleTimeout, n.IdleTimeout)
	diff("server.shutdown_grace", o.ShutdownGrace, n.ShutdownGrace)
	diff("server.drain_delay", o.DrainDelay, n.DrainDelay)
	diff("server.max_header_bytes", o.MaxHeaderBytes, n.MaxHeaderBytes)
	diff("decision", old.Decision, new.Decision)
	diff("rate_limit_store", old.RateLimitStore, new.RateLimitStore)
	diff("log.level", old.Log.Level, new.Log.Level)
	diff("log.format", old.Log.Format, new.Log.Format)
	diff("log.flush_interval", old.Log.FlushInterval, new.Log.FlushInterval)
	diff("tracing", old.Tracing, new.Tracing)
	return fields
}

// NotReady lists the issuers whose keys, or whose revocation list, have
// never been loaded.
func (g *Gateway) NotReady() []string {
	keys, lists := g.state.Load().notReady()
	return slices.Compact(slices.Sorted(slices.Values(append(keys, lists...))))
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
		keys, lists := g.state.Load().notReady()
		if len(keys) > 0 || len(lists) > 0 {
			body := map[string]any{"status": "not ready", "issuers_without_keys": keys}
			if len(lists) > 0 {
				body["issuers_without_revocation_list"] = lists
			}
			if keys == nil {
				body["issuers_without_keys"] = []string{}
			}
			writeJSON(w, http.StatusServiceUnavailable, body)
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
func (g *Gateway) KeySet(issuer string) *jwks.KeySet {
	for _, k := range g.state.Load().issuers {
		if k.source.Issuer == issuer {
			return k.set
		}
	}
	return nil
}

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

// ReloadFile loads path and reloads it. A file with problems changes
// nothing: every problem is logged with its line, and the failure counted.
func (g *Gateway) ReloadFile(ctx context.Context, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		var problems config.Problems
		if errors.As(err, &problems) {
			for _, p := range problems {
				g.log.Error("configuration reload refused; the running configuration stays", zap.String("problem", p.String()))
			}
		} else {
			g.log.Error("configuration reload refused; the running configuration stays", zap.Error(err))
		}
		g.countReload(err)
		return err
	}
	for _, w := range cfg.Warnings {
		g.log.Warn("configuration", zap.String("problem", w.String()))
	}
	if err := g.Reload(ctx, cfg); err != nil {
		g.log.Error("configuration reload failed; the running configuration stays", zap.Error(err))
		return err
	}
	return nil
}
