package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"runtime/debug"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/metrics"
)

func serveCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, stderr); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(stderr, "portcullis serve: -config FILE is required")
		return errUsage
	}
	hup := notifyHangup()
	defer signal.Stop(hup)
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
	g, err := gateway.New(cfg, log, metrics.New())
	if err != nil {
		return err
	}
	// Loading a large file leaves garbage (YAML nodes, parse buffers) that
	// the heap would otherwise keep reserved until the next GC cycles.
	debug.FreeOSMemory()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go watchConfig(watchCtx, g, *path, cfg.Server.TLS, hup, log)
	return g.Serve(ctx)
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
	if err := noArgs(fs, stderr); err != nil {
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
