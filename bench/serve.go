package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/proxy"
)

// Child roles. The harness starts its own binary with -serve ROLE, so that
// the baselines are separate processes, pinned and measured exactly like
// the gateway, and the upstream's CPU time is not the harness's.
const (
	roleBackends = "backends"  // the upstreams (HTTP/1.1 and gRPC) and the JWKS server
	roleGateway  = "gateway"   // portcullis in this binary, for CPU profiles
	roleGRPCLoad = "grpc-load" // the gRPC scenarios' load generator (grpc.go)
)

func serveChild(ctx context.Context, o options, stdout io.Writer) error {
	switch o.serve {
	case roleBackends:
		return serveBackends(ctx, o, stdout)
	case Bare, BareJWX, TunedBare:
		return serveBaseline(ctx, o, stdout)
	case roleGateway:
		return serveGateway(ctx, o)
	case roleGRPCLoad:
		return grpcLoad(ctx, o, stdout)
	}
	return fmt.Errorf("-serve %q: want %s, %s, %s, %s, %s or %s", o.serve, roleBackends, Bare, BareJWX, TunedBare, roleGateway, roleGRPCLoad)
}

// upstreamBody is the upstream's whole answer: small, like most API
// responses, so that the proxies' own work dominates.
var upstreamBody = []byte(`{"id":42,"status":"shipped","items":3}` + "\n")

// smokeHeader marks the smoke request, the one request of a run whose
// answer says what the upstream saw. The load never sends it: an echo on
// every answer would be one response header more for the proxy that
// forwards claims, and none for the baselines, which forward none.
const smokeHeader = "X-Bench-Smoke"

// upstream answers every request with upstreamBody; to the smoke request,
// it also echoes the X-User-Id it received as X-Seen-User-Id, so that the
// harness can check, once per run, that the claim headers reached it.
func upstream(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	if r.Header.Get(smokeHeader) != "" {
		if u := r.Header.Get("X-User-Id"); u != "" {
			h["X-Seen-User-Id"] = []string{u}
		}
	}
	_, _ = w.Write(upstreamBody)
}

// serveBackends serves the upstream, on a second port the JWKS, and on a
// third the gRPC upstream (cleartext HTTP/2, see grpc.go).
func serveBackends(ctx context.Context, o options, stdout io.Writer) error {
	doc, err := os.ReadFile(o.jwksFile)
	if err != nil {
		return err
	}
	upLn, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	jwksLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	jwksMux := http.NewServeMux()
	jwksMux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	servers := []*http.Server{
		{Handler: http.HandlerFunc(upstream), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute},
		{Handler: jwksMux, ReadHeaderTimeout: 5 * time.Second},
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	grpcSrv := newGRPCUpstream()
	go func() { _ = grpcSrv.Serve(grpcLn) }()
	defer grpcSrv.Stop()
	fmt.Fprintf(stdout, "ready upstream=http://%s jwks=http://%s/jwks grpc=http://%s\n", upLn.Addr(), jwksLn.Addr(), grpcLn.Addr())
	return serveUntil(ctx, servers, []net.Listener{upLn, jwksLn})
}

// serveBaseline runs "bare": the ReverseProxy anyone would write (Rewrite
// with SetURL and SetXForwarded), or "bare+jwx": the same behind one
// jwt.Parse per request with the issuer's key set, fetched once at start,
// and the issuer and audience checked. It has no cache, no route table and
// no headers: it is the cost of a proxy and of jwx, nothing more.
// "tuned-bare" is "bare" with a BufferPool: the fastest proxy of the same
// shape, the real limit for portcullis. With -tls-cert and -tls-key the
// baseline serves TLS with HTTP/2 by ALPN (as server.tls does); with -h2c
// it speaks cleartext HTTP/2 both to its clients, by prior knowledge (as
// server.h2c does), and to its upstream (as upstream_protocol: h2c does).
func serveBaseline(ctx context.Context, o options, stdout io.Writer) error {
	target, err := url.Parse(o.upstream)
	if err != nil || target.Host == "" {
		return fmt.Errorf("-upstream %q: %v", o.upstream, err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		// portcullis's own transport, so that the comparison is of the
		// request path and not of connection reuse (with net/http's
		// default of two idle connections per host, 32 clients would make
		// the bare proxy dial).
		Transport: proxy.NewTransport(),
	}
	if o.serve == TunedBare {
		rp.BufferPool = proxy.NewBufferPool()
	}
	if o.h2c {
		// portcullis's transport with an h2c route's protocol, as
		// proxy.newRouteTransport sets it: prior knowledge, no Upgrade.
		tr := proxy.NewTransport()
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
		rp.Transport = tr
	}
	var h http.Handler = rp
	if o.serve == BareJWX {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		set, err := jwk.Fetch(fctx, o.jwksURL)
		cancel()
		if err != nil {
			return fmt.Errorf("bare+jwx: keys: %w", err)
		}
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				http.Error(w, "a bearer token is required", http.StatusUnauthorized)
				return
			}
			_, err := jwt.Parse([]byte(raw),
				jwt.WithKeySet(set),
				jwt.WithValidate(true),
				jwt.WithIssuer(benchIssuer),
				jwt.WithAudience(benchAudience),
				jwt.WithAcceptableSkew(30*time.Second))
			if err != nil {
				http.Error(w, "invalid token", http.StatusUnauthorized)
				return
			}
			rp.ServeHTTP(w, r)
		})
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	// The timeouts and header limit of portcullis's defaults.
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		// What the gateway's port speaks (gateway.proxyProtocols).
		Protocols: new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(o.h2c)
	if o.tlsCert != "" {
		srv.Protocols.SetHTTP2(true)
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return err
		}
		// Served with ServeTLS (see serveUntil), as the gateway is: it
		// sets the ALPN protocols from srv.Protocols.
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	fmt.Fprintf(stdout, "ready listen=%s\n", ln.Addr())
	return serveUntil(ctx, []*http.Server{srv}, []net.Listener{ln})
}

// serveUntil serves until ctx ends (SIGTERM), then closes at once: nothing
// a bench child serves needs a graceful drain. A server with a TLSConfig
// serves TLS.
func serveUntil(ctx context.Context, servers []*http.Server, lns []net.Listener) error {
	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func() {
			if s.TLSConfig != nil {
				errc <- s.ServeTLS(lns[i], "", "")
				return
			}
			errc <- s.Serve(lns[i])
		}()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	for _, s := range servers {
		_ = s.Close()
	}
	return nil
}

// serveGateway runs portcullis from its packages (config.Load,
// gateway.New, Serve: what `portcullis serve` does, less watching the file
// for reloads) inside this binary, so
// that a CPU profile can be taken of the real request path: the binary
// has no profiling endpoint, and should not grow one for a benchmark. The
// profile starts on SIGUSR1, after the warm-up, and is written on SIGTERM,
// with a heap profile (in-use memory after a GC) next to it.
func serveGateway(ctx context.Context, o options) error {
	cfg, err := config.Load(o.config)
	if err != nil {
		return err
	}
	// The binary's logger, batched access log included, to stderr.
	log, stopLog, err := gateway.NewLogger(cfg.Log, os.Stderr)
	if err != nil {
		return err
	}
	defer stopLog()
	g, err := gateway.New(cfg, log, metrics.New())
	if err != nil {
		return err
	}
	f, err := os.Create(o.cpuProfile)
	if err != nil {
		return err
	}
	var (
		mu        sync.Mutex
		profiling bool
	)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		select {
		case <-usr1:
			mu.Lock()
			profiling = pprof.StartCPUProfile(f) == nil
			// Contention too: a gap to tuned-bare that grows with the
			// gateway's cores is a lock or a channel, which a CPU
			// profile does not show.
			runtime.SetMutexProfileFraction(mutexProfileFraction)
			runtime.SetBlockProfileRate(blockProfileRate)
			mu.Unlock()
		case <-ctx.Done():
		}
	}()
	serr := g.Serve(ctx)
	mu.Lock()
	if profiling {
		pprof.StopCPUProfile()
	} else {
		serr = errors.Join(serr, errors.New("gateway: the CPU profile was never started (no SIGUSR1)"))
	}
	mu.Unlock()
	// The gateway is still referenced below, so its route table and token
	// cache are in the heap profile as they were under load.
	runtime.GC()
	var errs []error
	for _, name := range []string{"heap", "mutex", "block"} {
		out, err := os.Create(strings.TrimSuffix(o.cpuProfile, ".pprof") + "." + name + ".pprof")
		if err == nil {
			err = errors.Join(pprof.Lookup(name).WriteTo(out, 0), out.Close())
		}
		errs = append(errs, err)
	}
	runtime.KeepAlive(g)
	return errors.Join(append(errs, serr, f.Close())...)
}

// The contention profiles' sampling while the CPU profile runs: one mutex
// contention event in mutexProfileFraction, and every blocking event of
// blockProfileRate ns or more (shorter ones in proportion). They cost the
// profiled run a few percent; the measured runs take no profile at all.
const (
	mutexProfileFraction = 5
	blockProfileRate     = 10_000
)
