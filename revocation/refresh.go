package revocation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/remote"
)

// Refresh fetches the list now, whatever the interval (tests, SIGHUP), and
// reports the outcome. A failure keeps the last good list. A fetch already
// in progress is waited for, not joined: it may have started before the
// change the caller wants to see; a caller whose ctx ends while it waits
// gives up, and nothing is recorded for it.
func (l *List) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	select {
	case l.fetching <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.fetching }()

	prev := l.current.Load()
	next, err := l.load(ctx, prev)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		// Stopped: a reload replaced or removed this list. Nothing failed,
		// and the issuer's series are another list's by now, or gone.
		return err
	}
	if err == nil {
		l.lastSuccess = l.now()
		if next != prev {
			l.current.Store(next)
		}
	}
	cur := l.current.Load()
	n := 0
	if cur != nil {
		n = cur.entries()
	}
	l.m.Refreshed(l.issuer, err, n, l.lastSuccess)
	switch {
	case err != nil && cur == nil:
		l.log.Warn("revocation list fetch failed; none loaded yet, so tokens of this issuer are refused",
			zap.Error(err))
	case err != nil:
		l.log.Warn("revocation list fetch failed; serving the last good list",
			zap.Error(err), zap.Int("entries", n), zap.Time("last_success", l.lastSuccess))
	case prev == nil || next.version != prev.version:
		l.log.Info("revocation list loaded", zap.Int("entries", n), zap.Uint64("version", next.version))
	}
	return err
}

// Republish sets the issuer's list gauges from the list this one serves: a
// refused reload's list for the same issuer may have written over them. A
// fetch in progress publishes them itself when it ends.
func (l *List) Republish() {
	select {
	case l.fetching <- struct{}{}:
	default:
		return
	}
	defer func() { <-l.fetching }()
	n := 0
	if cur := l.current.Load(); cur != nil {
		n = cur.entries()
	}
	l.m.Serving(l.issuer, n, l.lastSuccess)
}

// load fetches the document (conditionally when prev has validators) and
// returns the list to serve: prev itself when the server answered 304, a new
// snapshot otherwise, whose version is prev's when its entries are the same.
func (l *List) load(ctx context.Context, prev *snapshot) (*snapshot, error) {
	req := remote.Request{URI: l.uri, Accept: "application/json", MaxBytes: l.maxBytes}
	if prev != nil {
		req.ETag, req.LastModified = prev.etag, prev.lastModified
	}
	doc, err := remote.Read(ctx, l.client, req)
	if err != nil {
		return nil, fmt.Errorf("revocation: %w", err)
	}
	if doc.NotModified {
		return prev, nil
	}
	next, err := parse(doc.Body, l.maxEntries, l.now(), l.skew)
	if err != nil {
		return nil, err
	}
	next.etag, next.lastModified = doc.ETag, doc.LastModified
	next.version = 1
	if prev != nil {
		next.version = prev.version
		if !maps.Equal(prev.jti, next.jti) || !maps.Equal(prev.sub, next.sub) {
			next.version++
		}
	}
	return next, nil
}

// expired reports whether a jti entry for a token that expires at exp (Unix
// seconds) has had its day at now: exp plus the skew has passed, so the
// token is refused as expired anyway. Both the check and the pruning of a
// loaded document use it, so that they can never disagree.
func expired(exp int64, now time.Time, skew time.Duration) bool {
	return now.After(time.Unix(exp, 0).Add(skew))
}
