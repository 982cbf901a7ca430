package metrics

import "github.com/prometheus/client_golang/prometheus"

// The reasons a span is dropped, the closed set of the reason label of
// portcullis_tracing_spans_dropped_total.
const (
	// SpansQueueFull: the export queue (tracing.queue_size) was full when
	// the span ended, so it was never queued: the collector is slower than
	// the traffic, or unreachable.
	SpansQueueFull = "queue_full"
	// SpansExportError: the span was in a batch that the exporter could not
	// deliver within tracing.timeout (collector down, refused, or slow).
	SpansExportError = "export_error"
)

// Tracing holds the collectors of OpenTelemetry span export. They are
// registered whether or not tracing is on, so that an alert on drops needs
// no case for a gateway that does not trace.
type Tracing struct {
	Exported prometheus.Counter
	Dropped  *prometheus.CounterVec
}

// NewTracing creates the tracing collectors, registered nowhere, with every
// drop reason at 0.
func NewTracing() *Tracing {
	t := &Tracing{
		Exported: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_tracing_spans_exported_total",
			Help: "Spans the OTLP exporter delivered to the collector.",
		}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_tracing_spans_dropped_total",
			Help: "Sampled spans that never reached the collector, by reason (queue_full: the export queue was full; export_error: their batch failed to export).",
		}, []string{"reason"}),
	}
	t.Dropped.WithLabelValues(SpansQueueFull)
	t.Dropped.WithLabelValues(SpansExportError)
	return t
}

// Collectors are the collectors to register, in a stable order.
func (t *Tracing) Collectors() []prometheus.Collector {
	return []prometheus.Collector{t.Exported, t.Dropped}
}
