package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/decision"
	"github.com/portcullis/portcullis/tracing"
)

// Serve runs the listeners (the proxy's, the admin one, and the decision
// service's HTTP and gRPC ones where configured) until ctx is done (SIGTERM
// or SIGINT), then stops accepting and lets in-flight requests finish
// within shutdown_grace.
func (g *Gateway) Serve(ctx context.Context) error {
	cfg := g.Config()
	s := cfg.Server
	// opened are the listeners bound so far: closed again when a later one,
	// or the certificate, fails.
	var opened []net.Listener
	closeOpened := func() {
		for _, ln := range opened {
			ln.Close()
		}
	}
	listen := func(field, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeOpened()
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		opened = append(opened, ln)
		return ln, nil
	}
	proxyLn, err := listen("server.listen", s.Listen)
	if err != nil {
		return err
	}
	adminLn, err := listen("server.admin_listen", s.AdminListen)
	if err != nil {
		return err
	}
	var decisionLn, grpcLn net.Listener
	if d := cfg.Decision.Listen; d != "" {
		if decisionLn, err = listen("decision.listen", d); err != nil {
			return err
		}
	}
	if d := cfg.Decision.GRPCListen; d != "" {
		if grpcLn, err = listen("decision.grpc_listen", d); err != nil {
			return err
		}
	}
	errLog := zap.NewStdLog(g.log.Named("http"))
	// ReadTimeout and WriteTimeout are the ones every runtime was told
	// (see Gateway.readTimeout).
	proxySrv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: s.ReadHeaderTimeout.D(),
		ReadTimeout:       g.readTimeout,
		WriteTimeout:      g.writeTimeout,
		IdleTimeout:       s.IdleTimeout.D(),
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
	// The decision endpoint has the proxy's limits: a call is a request
	// described in headers, and is answered without a body.
	decisionSrv := &http.Server{
		Handler:           g.Decisions(),
		ReadHeaderTimeout: s.ReadHeaderTimeout.D(),
		ReadTimeout:       g.readTimeout,
		WriteTimeout:      g.writeTimeout,
		IdleTimeout:       s.IdleTimeout.D(),
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
	// Over HTTP/2 the connection's write deadline is not the stream's: Go's
	// server clears it, and a stream's deadline only queues a reset behind
	// a frame write that is already blocked. A client that stops reading
	// would keep its streams' handlers (and max_in_flight slots) forever.
	// WriteByteTimeout closes a connection on which nothing could be
	// written for write_timeout while something waited to be.
	h2 := &http.HTTP2Config{WriteByteTimeout: g.writeTimeout}
	if h2.WriteByteTimeout <= 0 {
		h2.WriteByteTimeout = config.DefaultServer.WriteTimeout.D()
	}
	proxySrv.HTTP2, decisionSrv.HTTP2 = h2, h2
	adminSrv := &http.Server{
		Handler:           g.Admin(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          errLog,
	}
	proxySrv.Protocols = proxyProtocols(s)
	if s.TLS.Enabled() {
		cert, err := loadCertificate(s.TLS.CertFile, s.TLS.KeyFile)
		if err != nil {
			closeOpened()
			return fmt.Errorf("server.tls: %w", err)
		}
		// ServeTLS, not tls.NewListener: it sets the ALPN protocols
		// (h2, http/1.1) from Protocols on a copy of this configuration,
		// whose GetCertificate still reads the pair ReloadCertificate
		// swaps.
		proxySrv.TLSConfig = cert.tlsConfig()
		g.cert.Store(cert)
		g.metrics.TLS.Serving(cert.current.Load().Leaf.NotAfter)
	}

	keysCtx, stopKeys := context.WithCancel(context.Background())
	defer stopKeys()
	g.Start(keysCtx)

	errc := make(chan error, 4)
	go func() {
		if proxySrv.TLSConfig != nil {
			errc <- proxySrv.ServeTLS(proxyLn, "", "")
			return
		}
		errc <- proxySrv.Serve(proxyLn)
	}()
	go func() { errc <- adminSrv.Serve(adminLn) }()
	decisionAddr := ""
	if decisionLn != nil {
		decisionAddr = decisionLn.Addr().String()
		go func() { errc <- decisionSrv.Serve(decisionLn) }()
	}
	// The gRPC decision service (Envoy's ext_authz) decides with the same
	// handler, so a reload applies to it at once.
	var grpcSrv *decision.GRPCServer
	grpcAddr := ""
	if grpcLn != nil {
		grpcSrv = decision.NewGRPCServer(g.handler, decision.GRPCLimits{
			MaxHeaderBytes:   s.MaxHeaderBytes,
			HandshakeTimeout: s.ReadHeaderTimeout.D(),
			IdleTimeout:      s.IdleTimeout.D(),
		}, g.log.Named("grpc"))
		grpcAddr = grpcLn.Addr().String()
		go func() { errc <- grpcSrv.Serve(grpcLn) }()
	}
	g.log.Info("serving",
		zap.String("listen", proxyLn.Addr().String()),
		zap.String("admin_listen", adminLn.Addr().String()),
		zap.String("decision_listen", decisionAddr),
		zap.String("decision_grpc_listen", grpcAddr),
		zap.Int("routes", len(g.handler.Runtime().Table().Routes())),
		zap.Int("issuers", len(cfg.Issuers)),
		zap.Bool("tls", s.TLS.Enabled()),
		zap.Bool("h2c", s.H2C),
		zap.Int("pid", os.Getpid()))

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("listener failed: %w", err)
	}
	g.draining.Store(true)
	if grpcSrv != nil {
		// The gRPC health service says NOT_SERVING as /readyz says 503.
		grpcSrv.Drain()
	}
	if d := s.DrainDelay.D(); d > 0 {
		// /readyz already says 503; new requests are still served
		// while load balancers take this replica out of rotation.
		g.log.Info("draining: /readyz answers 503; still serving", zap.Duration("drain_delay", d))
		select {
		case <-time.After(d):
		case err := <-errc:
			return fmt.Errorf("listener failed: %w", err)
		}
	}
	g.log.Info("shutting down", zap.Duration("grace", s.ShutdownGrace.D()))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.ShutdownGrace.D())
	defer cancel()
	// The admin port stays up while the proxy drains, so the drain can be
	// watched; /readyz is what load balancers use to stop sending.
	derr := make(chan error, 1)
	go func() { derr <- decisionSrv.Shutdown(shutdownCtx) }()
	gerr := make(chan error, 1)
	go func() {
		if grpcSrv == nil {
			gerr <- nil
			return
		}
		// Past the grace, Shutdown has closed its connections itself.
		gerr <- grpcSrv.Shutdown(shutdownCtx)
	}()
	perr := proxySrv.Shutdown(shutdownCtx)
	_ = adminSrv.Shutdown(shutdownCtx)
	expired := errors.Is(perr, context.DeadlineExceeded)
	if errors.Is(<-derr, context.DeadlineExceeded) {
		expired = true
	}
	if errors.Is(<-gerr, context.DeadlineExceeded) {
		expired = true
	}
	if expired {
		g.log.Warn("shutdown grace expired; closing remaining connections")
		_ = proxySrv.Close()
		_ = decisionSrv.Close()
		_ = adminSrv.Close()
	}
	g.flushTraces(s.ShutdownGrace.D())
	g.rateLimits.close()
	g.log.Info("stopped")
	return nil
}

// proxyProtocols are what the proxy port speaks: HTTP/1.1 always; HTTP/2
// with TLS, offered by ALPN; and cleartext HTTP/2 with server.h2c, by prior
// knowledge only (net/http has no HTTP/1.1 "Upgrade: h2c" path: such a
// request reaches the proxy as HTTP/1.1, which removes the Upgrade). A
// WebSocket over HTTP/2 would need extended CONNECT (RFC 8441), which
// net/http does not advertise: browsers open an HTTP/1.1 connection for
// it, and a CONNECT over HTTP/2 is refused like any other.
func proxyProtocols(s config.Server) *http.Protocols {
	p := &http.Protocols{}
	p.SetHTTP1(true)
	p.SetHTTP2(s.TLS.Enabled())
	p.SetUnencryptedHTTP2(s.H2C)
	return p
}

// flushTraces exports the spans still queued once the listeners are shut
// down, within the smaller of tracing.ShutdownTimeout and grace: a
// collector that is down costs at most that much of the exit.
func (g *Gateway) flushTraces(grace time.Duration) {
	if g.tracing == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(tracing.ShutdownTimeout, grace))
	defer cancel()
	if err := g.tracing.Shutdown(ctx); err != nil {
		g.log.Warn("tracing: spans still queued at shutdown were not all exported", zap.Error(err))
	}
}
