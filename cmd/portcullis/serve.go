package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/metrics"
)

func serveCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(stderr, "portcullis serve: -config FILE is required")
		return errUsage
	}
	cfg, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	for _, w := range cfg.Warnings {
		log.Warn("configuration", zap.String("problem", w.String()))
	}
	g, err := newGateway(cfg, log, metrics.New())
	if err != nil {
		return err
	}
	return g.serve(ctx)
}

// loadConfig loads and validates the file; on failure it prints every problem
// with its line and returns errReported.
func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, errReported
	}
	return cfg, nil
}

func validateCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(stderr, "portcullis validate: -config FILE is required")
		return errUsage
	}
	cfg, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, "warning: "+w.String())
	}
	fmt.Fprintf(stdout, "%s: ok (%d issuers, %d routes)\n", *path, len(cfg.Issuers), len(cfg.Routes))
	return nil
}

// newLogger builds the process logger from the log section.
func newLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.SecondsDurationEncoder
	var encoder zapcore.Encoder
	if c.Format == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	core := zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core), nil
}

// serve runs both listeners until ctx is done (SIGTERM or SIGINT), then
// stops accepting and lets in-flight requests finish within shutdown_grace.
func (g *gateway) serve(ctx context.Context) error {
	s := g.cfg.Server
	proxyLn, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	adminLn, err := net.Listen("tcp", s.AdminListen)
	if err != nil {
		proxyLn.Close()
		return fmt.Errorf("server.admin_listen: %w", err)
	}
	errLog := zap.NewStdLog(g.log.Named("http"))
	proxySrv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: s.ReadHeaderTimeout.D(),
		ReadTimeout:       s.ReadTimeout.D(),
		WriteTimeout:      s.WriteTimeout.D(),
		IdleTimeout:       s.IdleTimeout.D(),
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ErrorLog:          errLog,
	}
	adminSrv := &http.Server{
		Handler:           g.admin(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          errLog,
	}
	if s.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(s.TLS.CertFile, s.TLS.KeyFile)
		if err != nil {
			proxyLn.Close()
			adminLn.Close()
			return fmt.Errorf("server.tls: %w", err)
		}
		proxySrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		proxyLn = tls.NewListener(proxyLn, proxySrv.TLSConfig)
	}

	keysCtx, stopKeys := context.WithCancel(context.Background())
	defer stopKeys()
	g.start(keysCtx)

	errc := make(chan error, 2)
	go func() { errc <- proxySrv.Serve(proxyLn) }()
	go func() { errc <- adminSrv.Serve(adminLn) }()
	g.log.Info("serving",
		zap.String("listen", proxyLn.Addr().String()),
		zap.String("admin_listen", adminLn.Addr().String()),
		zap.Int("routes", len(g.cfg.Routes)),
		zap.Int("issuers", len(g.cfg.Issuers)),
		zap.Bool("tls", s.TLS.Enabled()),
		zap.Int("pid", os.Getpid()))

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("listener failed: %w", err)
	}
	g.draining.Store(true)
	g.log.Info("shutting down", zap.Duration("grace", s.ShutdownGrace.D()))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.ShutdownGrace.D())
	defer cancel()
	// The admin port stays up while the proxy drains, so the drain can be
	// watched; /readyz is what load balancers use to stop sending.
	perr := proxySrv.Shutdown(shutdownCtx)
	_ = adminSrv.Shutdown(shutdownCtx)
	if errors.Is(perr, context.DeadlineExceeded) {
		g.log.Warn("shutdown grace expired; closing remaining connections")
		_ = proxySrv.Close()
		_ = adminSrv.Close()
	}
	g.log.Info("stopped")
	return nil
}
