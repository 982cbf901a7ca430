package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
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
// the file's contents change, until ctx ends; and likewise the proxy
// listener's certificate and key (certs, the server.tls the listener is
// opened with), which a cert-manager Secret rotates in place.
//
// The directories are watched rather than the files: an editor that saves
// by writing a new file and renaming it over the old one, and a Kubernetes
// ConfigMap or Secret update (which swaps a ..data symlink), both replace
// the inode a file watch would follow. Any event in a watched directory
// schedules a check, and a reload happens only if the files' bytes differ
// from those last loaded, so unrelated files and no-op saves cost nothing.
// The configuration and the certificate are reloaded apart: a change to one
// does not reload the other, and SIGHUP reloads both.
//
// last and lastPair are the hashes of the file and of the certificate pair
// taken before they were first read. The first look comes once the
// directories are watched, so that a change made while the gateway started
// (before any watch could see it) is loaded then, not at the next event.
func watchConfig(ctx context.Context, g *gateway.Gateway, path string, last []byte, certs config.TLS, lastPair []byte, hup <-chan os.Signal, log *zap.Logger) {
	dirs := []string{filepath.Dir(path)}
	if certs.Enabled() {
		dirs = append(dirs, filepath.Dir(certs.CertFile), filepath.Dir(certs.KeyFile))
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w, err := fsnotify.NewWatcher(); err != nil {
		log.Warn("not watching the configuration and certificate files; reload with SIGHUP", zap.Error(err))
	} else {
		defer w.Close()
		// A directory that cannot be watched costs only its own files'
		// reloads on change, not the others'.
		for _, dir := range slices.Compact(slices.Sorted(slices.Values(dirs))) {
			if err := w.Add(dir); err != nil {
				log.Warn("not watching a directory; reload with SIGHUP after changing its files", zap.String("dir", dir), zap.Error(err))
			}
		}
		events, errs = w.Events, w.Errors
	}

	// Serve starts the gateway only once its listeners are open and the
	// certificate is loaded, and a reload before then is refused: the
	// first look, and a SIGHUP that came early, wait for it (events that
	// come meanwhile wait in the watcher), or a change seen in that window
	// would be counted as a failed reload and, last holding its hash,
	// never loaded.
	select {
	case <-g.Started():
	case <-ctx.Done():
		return
	}
	debounce := time.After(0) // the first look
	reload := func(why string) {
		log.Info("reloading configuration", zap.String("trigger", why), zap.String("path", path))
		last = fileHash(path)
		if g.ReloadFile(ctx, path) == nil {
			debug.FreeOSMemory() // the old configuration's garbage
		}
	}
	reloadCertificate := func(why string) {
		if !certs.Enabled() {
			return
		}
		log.Info("reloading the TLS certificate", zap.String("trigger", why), zap.String("cert_file", certs.CertFile))
		lastPair = pairHash(certs)
		_ = g.ReloadCertificate() // logged and counted there
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload("SIGHUP")
			reloadCertificate("SIGHUP")
		case <-events:
			debounce = time.After(reloadDebounce)
		case err := <-errs:
			log.Warn("configuration watch error", zap.Error(err))
		case <-debounce:
			debounce = nil
			if h := fileHash(path); h != nil && !bytes.Equal(h, last) {
				reload("file changed")
			}
			if h := pairHash(certs); h != nil && !bytes.Equal(h, lastPair) {
				reloadCertificate("file changed")
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

// pairHash is the SHA-256 of a certificate file's bytes followed by its key
// file's, nil without TLS or when either cannot be read.
func pairHash(certs config.TLS) []byte {
	if !certs.Enabled() {
		return nil
	}
	c, k := fileHash(certs.CertFile), fileHash(certs.KeyFile)
	if c == nil || k == nil {
		return nil
	}
	h := sha256.Sum256(append(c, k...))
	return h[:]
}
