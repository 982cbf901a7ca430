package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/token"
)

// How long a forwarded exchange may last.
//
// net/http's deadlines cover a request as a whole: ReadTimeout from the
// first byte of the request to the last of its body, WriteTimeout from the
// end of its headers to the last byte of the response. Left alone they cut
// every upload slower than read_timeout and every download or event stream
// longer than write_timeout, midway. So once a request is forwarded, no
// deadline covers a body as a whole; each covers a wait:
//
//   - the request body may pause for server.read_timeout at most (the
//     client's pace; nginx's client_body_timeout);
//   - the upstream's response headers must come within the route's
//     timeout of the request having been sent whole (504);
//   - server.write_timeout still bounds the writing of the response up to
//     its headers (and of a 504), counted from the end of the request;
//   - the response body may pause for the route's stream_idle_timeout at
//     most, whichever side pauses: an upstream that sends nothing, or a
//     client that reads nothing (nginx's proxy_read_timeout and
//     send_timeout).
//
// A gRPC call (Content-Type application/grpc...) is a stream from its first
// byte: a bidirectional or server stream may send its response headers
// only with its first reply, and its request body is messages sent at the
// application's pace. So neither the route's timeout nor read_timeout
// bounds it; the route's stream_idle_timeout does, from the request on:
// the call is cut (DEADLINE_EXCEEDED, as a 504, before any response) when
// nothing moved either way for that long. A call's own deadline is the
// client's grpc-timeout, which is forwarded: the upstream enforces it, and
// the client ends the call when it passes.
//
// A WebSocket tunnel (101) is left alone: net/http clears the deadlines of
// a hijacked connection, and its liveness is the application's (ping and
// pong).
//
// One timer per exchange, the route timeout's, does all of it: its
// callback (watch) looks at the exchange every tick, sees whether bytes
// moved since it last looked, pushes the connection's deadlines ahead of a
// body that moves, and cuts an exchange that stopped. Bytes are counted
// where they pass anyway (recorder.Write, requestBody.Read) with one atomic
// add, so that a request pays nothing more than that: no clock read, no
// deadline set, no timer reset per write. An ordinary request ends before
// its first tick and is never looked at.

// Phases of a forwarded exchange (forwarding.phase). The watchdog and
// responded race to move it on from waiting; the first one wins.
const (
	waiting       int32 = iota // for the upstream's response headers
	streaming                  // the upstream's response body is copied
	tunnel                     // 101: the connection is no longer HTTP
	upstreamLate               // cut: the upstream did not answer (or read the body) in time
	clientLate                 // cut: the client's body stalled past read_timeout
	streamStalled              // cut: the response body did not move for stream_idle_timeout
)

// States of a request body (requestBody.state).
const (
	bodyBetween  int32 = iota // between two reads: the upstream has not asked for more
	bodyReading               // a read is waiting for the client
	bodyDone                  // the client's body ended
	bodyFailed                // a read failed: the client went away, or stalled past the deadline
	bodyTooLarge              // the body went past the route's max_body_bytes
)

var (
	errUpstreamTimeout = errors.New("upstream did not answer in time")
	errClientTimeout   = errors.New("the request body stalled")
	errStreamIdle      = errors.New("the response stream stalled")
	errBodyTooLarge    = errors.New("the request body is larger than the route accepts")
)

// aLongTimeAgo is a deadline that has passed: setting it makes a pending
// read or write return at once (net/http uses the same).
var aLongTimeAgo = time.Unix(1, 0)

// ticks is how many times per bound the watchdog looks: a pause is cut
// between the bound and a quarter more after the last byte moved (two
// ticks: one for when the byte was seen, one for when the silence was).
const ticks = 8

// minTick keeps a tiny bound (1ns is a valid duration) from spinning.
const minTick = time.Millisecond

// tick is how often the watchdog of a request on route looks at it: often
// enough to cut a pause of the route's stream_idle_timeout or of
// read_timeout on time, and to push a deadline set by net/http away before
// it falls (the first look comes within an eighth of the shortest).
func (rt *Runtime) tick(route *policy.Route) time.Duration {
	t := rt.connTick
	if s := route.StreamIdle / ticks; route.StreamIdle > 0 && (t == 0 || s < t) {
		t = s
	}
	if t == 0 && route.StreamIdle <= 0 {
		t = route.Timeout // nothing to look at but the route's timeout
	}
	return max(t, minTick)
}

// connTick is the tick that the listener's deadlines ask for: an eighth
// of the shorter of read_timeout and write_timeout (0 when neither is set).
func connTick(read, write time.Duration) time.Duration {
	var t time.Duration
	for _, d := range []time.Duration{read, write} {
		if d > 0 && (t == 0 || d < t) {
			t = d
		}
	}
	return t / ticks
}

// forwarding travels with the outgoing request's context to Rewrite and
// ModifyResponse: what the earlier stages decided, and the watchdog of the
// exchange.
type forwarding struct {
	tok    *token.Token
	ex     *exchange // its route and path are the ones matched
	rt     *Runtime
	sent   time.Time
	cancel func(error) // ends the exchange with a cause
	ctx    forwardingContext
	timer  *time.Timer // runs watch

	// What only watch touches, under mu, but for finished, set under mu
	// too when the exchange ends, so that no look touches the response
	// after the handler returned (net/http may be serving the next request
	// on the connection by then).
	moved     int64         // bytes moved, both ways, at the last look
	lastMove  time.Duration // since sent: when they were seen moving; 0: never
	mu        sync.Mutex
	phase     atomic.Int32
	finished  bool
	readUntil bool // watch set a read deadline that the body's end must clear

	body   requestBody  // the client's body, when there is one
	upBody upstreamBody // the upstream's response body, once it answered (forward.go)
}

// requestBody counts what the client's body delivers and says whether the
// exchange waits for the client (a read in progress) or for the upstream.
type requestBody struct {
	rc    io.ReadCloser
	f     *forwarding
	n     atomic.Int64
	state atomic.Int32
	end   atomic.Int64 // since f.sent, when the body ended; 0 before
}

func (b *requestBody) Read(p []byte) (int, error) {
	if b.state.Load() >= bodyDone {
		return b.rc.Read(p)
	}
	b.state.Store(bodyReading)
	n, err := b.rc.Read(p)
	total := b.n.Add(int64(n))
	if limit := b.f.ex.route.MaxBody; limit > 0 && total > limit {
		// Past the limit: what came over it is not handed on, and the
		// exchange ends (upstreamFailed answers 413 if nothing was
		// answered yet).
		b.state.Store(bodyTooLarge)
		b.f.cancel(errBodyTooLarge)
		return 0, errBodyTooLarge
	}
	switch {
	case err == nil:
		b.state.Store(bodyBetween)
	case errors.Is(err, io.EOF):
		b.end.Store(int64(max(time.Since(b.f.sent), 1)))
		b.state.Store(bodyDone)
	default:
		b.state.Store(bodyFailed)
	}
	return n, err
}

func (b *requestBody) Close() error { return b.rc.Close() }

// arriving reports whether the client's body is still being sent.
func (f *forwarding) arriving() bool {
	return f.body.rc != nil && f.body.state.Load() < bodyDone
}

// watch is the timer's callback: it looks at the exchange, and either cuts
// it or pushes the connection's deadlines ahead and looks again a tick
// later. Re-arming the timer is its last act (see stop).
func (f *forwarding) watch() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.finished {
		return
	}
	now := time.Since(f.sent)
	if moved := f.ex.rec.bytes.Load() + f.body.n.Load(); moved != f.moved {
		f.moved, f.lastMove = moved, now
	}
	rt, route := f.rt, f.ex.route
	tick := rt.tick(route)
	next := tick
	switch f.phase.Load() {
	case waiting:
		if f.grpcStream() && route.StreamIdle > 0 {
			// A gRPC call is a stream from its first byte: its body
			// is messages that may come at any pace, and its response
			// headers may wait for the first reply. Only a pause of
			// both directions bounds it, as a response stream's does.
			f.bodyEnded()
			if f.arriving() {
				f.keepReading(tick)
			}
			if now-f.lastMove >= route.StreamIdle {
				if f.phase.CompareAndSwap(waiting, upstreamLate) {
					f.cancel(errUpstreamTimeout)
					return
				}
				break
			}
			if rt.writeTimeout > 0 {
				f.setWriteDeadline(f.sent.Add(now + rt.writeTimeout + 2*tick))
			}
			next = min(next, f.lastMove+route.StreamIdle-now)
			break
		}
		if f.arriving() {
			if rt.readTimeout > 0 && now-f.lastMove >= rt.readTimeout {
				// Whoever holds the body up: the client, or an
				// upstream that stopped reading it.
				cut, cause := upstreamLate, errUpstreamTimeout
				if f.body.state.Load() == bodyReading {
					cut, cause = clientLate, errClientTimeout
				}
				if f.phase.CompareAndSwap(waiting, cut) {
					if cut == clientLate {
						f.setReadDeadline(aLongTimeAgo) // the read is abandoned
					}
					f.cancel(cause)
					return
				}
				break // the response headers came first
			}
			f.keepReading(tick)
			// The response, and a 504, are written within write_timeout
			// of the request's end, wherever that falls.
			if rt.writeTimeout > 0 {
				f.setWriteDeadline(f.sent.Add(now + rt.writeTimeout + 2*tick))
			}
			break
		}
		f.bodyEnded()
		due := route.Timeout + time.Duration(f.body.end.Load())
		if now >= due {
			if f.phase.CompareAndSwap(waiting, upstreamLate) {
				f.cancel(errUpstreamTimeout)
				return
			}
			break
		}
		next = min(next, due-now)
	case streaming:
		f.bodyEnded()
		if f.arriving() {
			f.keepReading(tick)
		}
		idle := route.StreamIdle
		if idle <= 0 {
			// No bound (a route built without one; a file always has
			// one): the stream is the upstream's and the client's.
			f.setWriteDeadline(time.Time{})
			if !f.arriving() {
				return
			}
			break
		}
		last := max(f.lastMove, f.ex.upstream)
		if now-last >= idle {
			f.phase.Store(streamStalled)
			f.setWriteDeadline(aLongTimeAgo) // a write blocked on a client that reads nothing
			f.cancel(errStreamIdle)          // a read blocked on an upstream that sends nothing
			return
		}
		f.setWriteDeadline(f.sent.Add(last + idle + 2*tick))
	default:
		return // a tunnel, or cut
	}
	f.timer.Reset(next)
}

// grpcStream reports whether the exchange is timed as a gRPC call (a stream
// from its first byte, bounded by stream_idle_timeout, not by the route's
// timeout and read_timeout): a request that says it is gRPC, on a route
// whose upstream can carry one. Elsewhere the Content-Type is only a claim
// that would lift the route's bounds, and the call could not succeed anyway.
func (f *forwarding) grpcStream() bool {
	return f.ex.rec.grpc != "" && f.ex.route.CarriesHTTP2()
}

// keepReading pushes the read deadline of a body that is arriving past the
// moment the watchdog would cut it, so that the watchdog decides (408 or
// 504, with a reason) rather than a read error (which would read as the
// upstream's fault).
func (f *forwarding) keepReading(tick time.Duration) {
	if f.rt.readTimeout > 0 {
		pause := f.rt.readTimeout
		if f.grpcStream() {
			// A gRPC call's messages may pause as long as the stream may.
			pause = max(pause, f.ex.route.StreamIdle)
		}
		f.setReadDeadline(f.sent.Add(f.lastMove + pause + 2*tick))
		f.readUntil = true
	}
}

// bodyEnded clears a read deadline that watch set while the body arrived:
// once it has ended, net/http reads the connection in the background to
// see the client go, and a deadline there would cancel the request.
func (f *forwarding) bodyEnded() {
	if f.readUntil && !f.arriving() {
		f.setReadDeadline(time.Time{})
		f.readUntil = false
	}
}

// setReadDeadline and setWriteDeadline reach the connection through the
// recorder (its Unwrap). A writer without deadlines (explain's recorder)
// is left as it is: it has no connection to hold. A controller is made
// per look, which is rare, rather than kept by every exchange.
func (f *forwarding) setReadDeadline(t time.Time) {
	_ = http.NewResponseController(&f.ex.rec).SetReadDeadline(t)
}

func (f *forwarding) setWriteDeadline(t time.Time) {
	_ = http.NewResponseController(&f.ex.rec).SetWriteDeadline(t)
}

// stop ends the watchdog with the exchange, and records a stream that it,
// or the body's limit, cut (the response's status was sent already; the
// reason says it did not end well). It runs deferred, because ReverseProxy
// ends a stream that broke off by panicking with http.ErrAbortHandler:
// aborted is what the exchange panicked with (nil: it returned), and stop
// panics with it again once it has recorded why the stream broke off.
//
// When Stop stops the timer before it fires, no look can come any more,
// and none is running but for the end of one that has re-armed the timer,
// its last act. Otherwise a look may be running: finished, set under its
// lock, makes it and any later one return without touching anything.
func (f *forwarding) stop(aborted any) {
	if !f.timer.Stop() {
		f.mu.Lock()
		f.finished = true
		f.mu.Unlock()
	}
	switch phase := f.phase.Load(); {
	case phase == streamStalled:
		f.ex.reason = outcome.StreamIdle
	case f.ex.reason == "" && f.body.state.Load() == bodyTooLarge:
		// The body passed max_body_bytes after the upstream had begun
		// its answer (a gRPC stream's replies, an early response):
		// ReverseProxy aborted the stream without upstreamFailed, and the
		// status already sent must not make the cut look like a success.
		f.ex.reason = outcome.BodyTooLarge
	case f.ex.reason == "" && phase == streaming && aborted == http.ErrAbortHandler:
		// The relay of a response already begun broke off: a write to
		// the client failed, or the client went away (its context ended,
		// which ends the read from the upstream), or else the read from
		// the upstream failed. The status stays the one the client was
		// sent; the reason says the response did not end well.
		if f.ex.rec.writeFailed || errors.Is(context.Cause(&f.ctx), context.Canceled) {
			f.ex.reason = outcome.ClientGone
		} else {
			f.ex.reason = outcome.UpstreamError
		}
	}
	if aborted != nil {
		panic(aborted)
	}
}
