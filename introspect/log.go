package introspect

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// FailureLogInterval is the least time between two log lines about one
// issuer's failed calls: an endpoint that fails fails for every new token,
// and a line per token would let anyone with a stream of random tokens
// flood the log.
const FailureLogInterval = 10 * time.Second

// failureLog says why an issuer's calls fail. A wrong client secret or an
// endpoint that moved fails every opaque token with 503 and
// introspection_unavailable; the metrics count the failures, and this line
// is where an operator reads their cause.
type failureLog struct {
	log *zap.Logger // with the issuer field
	now func() time.Time

	mu         sync.Mutex
	last       time.Time // of the last line; zero before the first
	suppressed int       // failures since the last line that got none
}

// failed logs err, the error of a failed call, unless a line was written
// less than FailureLogInterval ago: then it is counted, and the next line
// says how many were left out. err is the error the request gets, which
// never holds the token or the secret. A nil *failureLog logs nothing.
func (l *failureLog) failed(err error) {
	if l == nil {
		return
	}
	now := l.now()
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < FailureLogInterval {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn("introspection failed; the issuer's opaque tokens are refused with 503 while it fails",
		zap.Error(err), zap.Int("suppressed", suppressed))
}
