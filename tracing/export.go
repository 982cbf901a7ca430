package tracing

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"

	"github.com/portcullis/portcullis/metrics"
)

// queue counts the sampled spans between their end and the end of the
// export that carries them: those in the batch processor's queue, in the
// batch it is building and in the batch being sent. Bounding this count at
// the queue size is what lets the gateway count every drop: the SDK's batch
// processor drops a span silently when its queue is full, and with this
// bound in front of it its queue is never full.
type queue struct {
	pending atomic.Int64
	limit   int64
	full    interface{ Inc() }
}

func newQueue(size int, m *metrics.Tracing) *queue {
	return &queue{limit: int64(size), full: m.Dropped.WithLabelValues(metrics.SpansQueueFull)}
}

// boundedProcessor hands the batch processor only the spans that fit in
// the queue; the others are dropped and counted at once. OnEnd runs on the
// request's goroutine: it never waits.
type boundedProcessor struct {
	sdktrace.SpanProcessor // the batch processor
	queue                  *queue
}

func (p *boundedProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return // the batch processor would not export it either
	}
	q := p.queue
	if q.pending.Add(1) > q.limit {
		q.pending.Add(-1)
		q.full.Inc()
		return
	}
	p.SpanProcessor.OnEnd(s)
}

// countingExporter counts what each export delivered or lost, and says so
// in the log: the first failure at once, later ones at most once a minute
// with how many spans were lost since, so that a collector that is down
// does not flood the log.
type countingExporter struct {
	next             sdktrace.SpanExporter
	queue            *queue
	exported, failed prometheus.Counter // failed: dropped, export_error
	log              *zap.Logger

	mu         sync.Mutex
	lastLogged time.Time
	unlogged   int // spans lost since the last line
}

// failureLogEvery is how often a collector that stays unreachable is
// reported.
const failureLogEvery = time.Minute

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.next.ExportSpans(ctx, spans)
	e.queue.pending.Add(-int64(len(spans)))
	if err == nil {
		e.exported.Add(float64(len(spans)))
		return nil
	}
	e.failed.Add(float64(len(spans)))
	e.mu.Lock()
	e.unlogged += len(spans)
	now := time.Now()
	if e.lastLogged.IsZero() || now.Sub(e.lastLogged) >= failureLogEvery {
		lost := e.unlogged
		e.unlogged, e.lastLogged = 0, now
		e.mu.Unlock()
		e.log.Warn("tracing: spans could not be exported; requests are unaffected, the spans are dropped",
			zap.Int("spans", lost), zap.Error(err))
		return err
	}
	e.mu.Unlock()
	return err
}

func (e *countingExporter) Shutdown(ctx context.Context) error { return e.next.Shutdown(ctx) }
