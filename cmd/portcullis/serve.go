package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"runtime/debug"
	"sync"

	"go.uber.org/zap"

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
	restoreGC := lowerGC()
	defer restoreGC()
	// Hashed before it is read: a change made while the gateway starts is
	// then seen by the watch's first look, never taken for what was loaded.
	loaded := fileHash(*path)
	cfg, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	log, stopLog, err := gateway.NewLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer stopLog()
	for _, w := range cfg.Warnings {
		log.Warn("configuration", zap.String("problem", w.String()))
	}
	g, err := gateway.New(cfg, log, metrics.New())
	restoreGC()
	if err != nil {
		return err
	}
	// Loading a large file leaves garbage (YAML nodes, parse buffers) that
	// the heap would otherwise keep reserved until the next GC cycles.
	debug.FreeOSMemory()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	// The pair is hashed here, before Serve reads it, for the same reason.
	go watchConfig(watchCtx, g, *path, loaded, cfg.Server.TLS, pairHash(cfg.Server.TLS), hup, log)
	return g.Serve(ctx)
}

// loadConfig loads and validates the file; on failure it prints every problem
// with its line and returns errReported.
func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	defer lowerGC()()
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

// loadGCPercent is the collector's target while the file is loaded and,
// in serve, the gateway built from it: with GOGC=50 instead of the default
// 100, `portcullis validate` on the bench harness's 10,000-route file peaks
// at 49 MB resident instead of 57 MB, and serve's start at 51 MB instead of
// 59 MB, for about 0.05 s more CPU (docs/benchmarks.md, "Loading a
// 10,000-route file").
const loadGCPercent = 50

// loweredGC counts the lowerGC calls not yet restored, and keeps the target
// to restore when the last one is.
var loweredGC struct {
	sync.Mutex
	n, prev int
}

// lowerGC sets the collector's target to loadGCPercent and returns what
// restores the previous one; restore may be called more than once. It is
// for the start of a command, before requests are served: the target is
// the whole process's, and reload, which loads while they are, does not use
// it. A lower GOGC set by the operator, or GOGC=off, is kept.
func lowerGC() (restore func()) {
	loweredGC.Lock()
	defer loweredGC.Unlock()
	if loweredGC.n == 0 {
		loweredGC.prev = debug.SetGCPercent(loadGCPercent)
		if loweredGC.prev < loadGCPercent {
			debug.SetGCPercent(loweredGC.prev)
		}
	}
	loweredGC.n++
	var once sync.Once
	return func() {
		once.Do(func() {
			loweredGC.Lock()
			defer loweredGC.Unlock()
			if loweredGC.n--; loweredGC.n == 0 {
				debug.SetGCPercent(loweredGC.prev)
			}
		})
	}
}
