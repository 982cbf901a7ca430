package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/portcullis/portcullis/gateway"
)

// notifyHangup catches SIGHUP from now on (its default action would end the
// process) and returns the channel it arrives on.
func notifyHangup() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reloadDebounce gathers the bursts of events that one save produces
// (editors write, rename and chmod; Kubernetes swaps symlinks) into one
// reload.
const reloadDebounce = 250 * time.Millisecond

// watchConfig reloads the gateway's configuration on SIGHUP and whenever
// the file's contents change, until ctx ends.
//
// The directory is watched rather than the file: an editor that saves by
// writing a new file and renaming it over the old one, and a Kubernetes
// ConfigMap update (which swaps a ..data symlink), both replace the inode a
// file watch would follow. Any event in the directory schedules a check, and
// a reload happens only if the file's bytes differ from those last loaded,
// so unrelated files and no-op saves cost nothing.
func watchConfig(ctx context.Context, g *gateway.Gateway, path string, hup <-chan os.Signal, log *zap.Logger) {
	last := fileHash(path)
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(filepath.Dir(path))
	}
	if err != nil {
		log.Warn("not watching the configuration file; reload with SIGHUP", zap.Error(err))
	} else {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}

	var debounce <-chan time.Time
	reload := func(why string) {
		log.Info("reloading configuration", zap.String("trigger", why), zap.String("path", path))
		last = fileHash(path)
		if g.ReloadFile(ctx, path) == nil {
			debug.FreeOSMemory() // the old configuration's garbage
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload("SIGHUP")
		case <-events:
			debounce = time.After(reloadDebounce)
		case err := <-errs:
			log.Warn("configuration watch error", zap.Error(err))
		case <-debounce:
			debounce = nil
			if h := fileHash(path); h != nil && !bytes.Equal(h, last) {
				reload("file changed")
			}
		}
	}
}

// fileHash is the SHA-256 of the file's bytes, nil when it cannot be read
// (mid-rename, say): a missing file is not a change to act on.
func fileHash(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	h := sha256.Sum256(b)
	return h[:]
}
