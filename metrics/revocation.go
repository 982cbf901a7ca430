package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Revocation holds the collectors of the revocation lists, one series per
// configured issuer. Its methods may be called on a nil *Revocation, which
// records nothing.
type Revocation struct {
	Refresh     *prometheus.CounterVec
	Entries     *prometheus.GaugeVec
	LastSuccess *prometheus.GaugeVec
}

// NewRevocation creates the collectors; the caller registers Collectors()
// on its registry.
func NewRevocation() *Revocation {
	return &Revocation{
		Refresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_revocation_refresh_total",
			Help: "Revocation list fetches, by issuer and result (success, error). A 304 Not Modified is a success.",
		}, []string{"issuer", "result"}),
		Entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcullis_revocation_entries",
			Help: "Entries (jti and sub) in the issuer's current revocation list.",
		}, []string{"issuer"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcullis_revocation_last_success_timestamp_seconds",
			Help: "Unix time of the issuer's last successful revocation list fetch (304 included).",
		}, []string{"issuer"}),
	}
}

// Collectors are the collectors to register.
func (r *Revocation) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.Refresh, r.Entries, r.LastSuccess}
}

// IssuerConfigured creates the issuer's refresh series at 0, so that alerts
// on the increase of errors see the first one.
func (r *Revocation) IssuerConfigured(issuer string) {
	if r == nil {
		return
	}
	r.Refresh.WithLabelValues(issuer, "success")
	r.Refresh.WithLabelValues(issuer, "error")
}

// Refreshed records one fetch of the issuer's list. entries is the number of
// entries now served, which after a failed fetch is the last good list's;
// lastSuccess is zero while no fetch has succeeded.
func (r *Revocation) Refreshed(issuer string, err error, entries int, lastSuccess time.Time) {
	if r == nil {
		return
	}
	result := "success"
	if err != nil {
		result = "error"
	}
	r.Refresh.WithLabelValues(issuer, result).Inc()
	r.Serving(issuer, entries, lastSuccess)
}

// Serving sets the issuer's list gauges: the entries served, and when they
// were fetched (left alone while lastSuccess is zero).
func (r *Revocation) Serving(issuer string, entries int, lastSuccess time.Time) {
	if r == nil {
		return
	}
	r.Entries.WithLabelValues(issuer).Set(float64(entries))
	if !lastSuccess.IsZero() {
		r.LastSuccess.WithLabelValues(issuer).Set(float64(lastSuccess.UnixNano()) / 1e9)
	}
}
