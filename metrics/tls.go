package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TLS holds the collectors of the proxy listener's certificate (server.tls),
// which is read again on SIGHUP and whenever its files change. They are
// counted apart from portcullis_config_reloads_total: a certificate that
// fails to reload is a different fault, fixed in a different place (the
// Secret, not the configuration file), and the expiry of the one still
// served is what an alert must watch. Its methods may be called on a nil
// *TLS, which records nothing.
type TLS struct {
	Reloads *prometheus.CounterVec
	// Expiry is a vector without labels so that it is exposed only once
	// a certificate is served.
	Expiry *prometheus.GaugeVec
}

// NewTLS creates the collectors; the caller registers Collectors() on its
// registry.
func NewTLS() *TLS {
	return &TLS{
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_tls_certificate_reloads_total",
			Help: "Reloads of the proxy listener's certificate and key (server.tls), by result (success, error). After an error the previous certificate is still served.",
		}, []string{"result"}),
		Expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcullis_tls_certificate_expiry_timestamp_seconds",
			Help: "Unix time at which the certificate the proxy listener serves expires (its leaf's NotAfter).",
		}, nil),
	}
}

// Collectors are the collectors to register.
func (m *TLS) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Reloads, m.Expiry}
}

// Serving records the certificate loaded at start: it creates the reload
// series at 0, so that alerts on the increase of errors see the first one,
// and sets the expiry. A gateway without server.tls never calls it and
// exposes none of these series.
func (m *TLS) Serving(notAfter time.Time) {
	if m == nil {
		return
	}
	m.Reloads.WithLabelValues("success")
	m.Reloads.WithLabelValues("error")
	m.Expiry.WithLabelValues().Set(float64(notAfter.Unix()))
}

// Reloaded records one reload; notAfter is the expiry of the certificate
// served now, which after a failed reload is the previous one's.
func (m *TLS) Reloaded(err error, notAfter time.Time) {
	if m == nil {
		return
	}
	result := "success"
	if err != nil {
		result = "error"
	}
	m.Reloads.WithLabelValues(result).Inc()
	m.Expiry.WithLabelValues().Set(float64(notAfter.Unix()))
}
