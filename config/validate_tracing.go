package config

import (
	"maps"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxTracingQueueSize is the largest tracing.queue_size accepted: a span
// waiting for export holds a few KiB, so a million of them is already
// gigabytes of heap for a collector that is down.
const MaxTracingQueueSize = 1_000_000

// tracing checks the tracing block. It is checked whether or not tracing
// is enabled, so that turning it on never reveals a mistake made earlier.
// Nothing here reads a header file or dials the endpoint: package tracing
// does that when the gateway starts.
func (v *validator) tracing(t *Tracing) {
	switch t.Protocol {
	case "", TracingGRPC, TracingHTTPProtobuf:
	default:
		v.errorf("tracing.protocol", CodeUnknownValue, "%q is not a protocol: grpc or http/protobuf", t.Protocol)
	}
	if t.Endpoint != "" {
		v.tracingEndpoint(t.Endpoint, t.Protocol == TracingHTTPProtobuf)
		v.tracingCleartext(t)
	}
	for _, name := range slices.Sorted(maps.Keys(t.Headers)) {
		hp := joinPath("tracing.headers", name)
		value := t.Headers[name]
		switch {
		case !IsToken(name):
			v.errorf(hp, CodeBadHeader, "%q is not a header name", name)
		case slices.Contains([]string{"host", "content-length", "content-type", "transfer-encoding", "connection", "upgrade", "te", "trailer"}, strings.ToLower(name)):
			v.errorf(hp, CodeReserved, "%s is not a header an export may be given: the exporter sets it", name)
		case strings.ContainsAny(value, "\r\n\x00"):
			v.errorf(hp, CodeBadHeader, "the value holds a line break or NUL")
		case strings.HasPrefix(value, "@") && strings.TrimSpace(value[1:]) == "":
			v.errorf(hp, CodeRequired, "%q names no file: write @/path/to/file to read the value from a file", value)
		}
	}
	if t.Timeout != 0 && (t.Timeout < Duration(time.Millisecond) || t.Timeout > Duration(5*time.Minute)) {
		v.errorf("tracing.timeout", CodeOutOfRange, "%s is out of range: from 1ms to 5m (absent: the OTEL_* environment, else 10s)", t.Timeout)
	}
	if r := t.SampleRatio; r != nil && (math.IsNaN(*r) || *r < 0 || *r > 1) {
		v.errorf("tracing.sample_ratio", CodeOutOfRange, "%s is out of range: from 0 (no new trace recorded) to 1 (every one)", strconv.FormatFloat(*r, 'g', -1, 64))
	}
	switch t.TrustIncoming {
	case TrustTrustedProxies, TrustAlways, TrustNever:
	default:
		v.errorf("tracing.trust_incoming", CodeUnknownValue, "%q is not a trust: trusted_proxies, always or never", t.TrustIncoming)
	}
	if t.QueueSize < 0 || t.QueueSize > MaxTracingQueueSize {
		v.errorf("tracing.queue_size", CodeOutOfRange, "%d is out of range: from 1 to %d (absent: OTEL_BSP_MAX_QUEUE_SIZE, else 2048)", t.QueueSize, MaxTracingQueueSize)
	}
	if strings.TrimSpace(t.ServiceName) != t.ServiceName {
		v.errorf("tracing.service_name", CodeInvalid, "%q has white space around it", t.ServiceName)
	}
}

// tracingCleartext warns when tracing sends the file's headers (an API
// key, mostly) without TLS to a collector that is not on loopback: to an
// http:// URL, or to a host:port with insecure.
func (v *validator) tracingCleartext(t *Tracing) {
	if !t.Enabled || len(t.Headers) == 0 || v.broken("tracing.endpoint") {
		return
	}
	field, host := "tracing.endpoint", ""
	if strings.Contains(t.Endpoint, "://") {
		u, err := url.Parse(t.Endpoint)
		if err != nil || u.Scheme != "http" {
			return
		}
		host = u.Hostname()
	} else {
		h, _, err := net.SplitHostPort(t.Endpoint)
		if err != nil || !t.Insecure || t.Protocol == TracingHTTPProtobuf {
			return
		}
		field, host = "tracing.insecure", h
	}
	if host == "" || isLoopback(host) {
		return
	}
	v.warnf(field, CodePlainHTTP, "tracing.headers are sent in clear text with every export: anyone on the network path can read them (an API key, say) and the spans; use https, or TLS for gRPC")
}

// tracingEndpoint checks an OTLP endpoint: a URL for http/protobuf; a URL
// or host:port for grpc. A URL must not carry credentials (they belong in
// headers, which can come from a file) nor a query.
func (v *validator) tracingEndpoint(endpoint string, httpOnly bool) {
	const p = "tracing.endpoint"
	if !strings.Contains(endpoint, "://") {
		if httpOnly {
			v.errorf(p, CodeBadURL, "%q is not a URL: http/protobuf needs one such as http://collector:4318", showURL(endpoint))
			return
		}
		host, port, err := net.SplitHostPort(endpoint)
		if err != nil || host == "" {
			v.errorf(p, CodeBadAddress, "%q is neither host:port (collector:4317) nor a URL (http://collector:4317)", showURL(endpoint))
			return
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			v.errorf(p, CodeBadAddress, "%q: the port must be a number from 1 to 65535", showURL(endpoint))
		}
		return
	}
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		v.errorf(p, CodeBadURL, "%s", notAURL(endpoint, err))
	case u.Scheme != "http" && u.Scheme != "https":
		v.errorf(p, CodeBadURL, "%q: the scheme must be http or https", showURL(endpoint))
	case u.Host == "" || u.Hostname() == "":
		v.errorf(p, CodeBadURL, "%q has no host", showURL(endpoint))
	case !validPort(u):
		v.errorf(p, CodeBadURL, "%q: the port must be a number from 1 to 65535", showURL(endpoint))
	case u.User != nil:
		v.errorf(p, CodeBadURL, "%q carries credentials: put them in tracing.headers (a value may come from a file: @/path)", showURL(endpoint))
	case u.RawQuery != "" || u.Fragment != "":
		v.errorf(p, CodeBadURL, "%q has a query or a fragment, which OTLP does not use", showURL(endpoint))
	case !httpOnly && u.Path != "" && u.Path != "/":
		v.errorf(p, CodeBadURL, "%q has a path, which OTLP over gRPC does not use", showURL(endpoint))
	}
}
