package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// server checks the listeners, the timeouts and limits that net/http
// enforces, the trusted proxies and TLS.
func (v *validator) server(s *Server) {
	listenOK := v.hostPort("server.listen", s.Listen)
	adminOK := v.hostPort("server.admin_listen", s.AdminListen)
	if listenOK && adminOK && listenersOverlap(s.Listen, s.AdminListen) {
		v.errorf("server.admin_listen", CodeListenerOverlap, "%q overlaps listen %q: /metrics, /healthz and /readyz must never be reachable on the proxy's port", s.AdminListen, s.Listen)
	}

	for _, t := range []struct {
		key string
		d   Duration
	}{
		{"read_header_timeout", s.ReadHeaderTimeout},
		{"read_timeout", s.ReadTimeout},
		{"write_timeout", s.WriteTimeout},
		{"idle_timeout", s.IdleTimeout},
	} {
		if t.d <= 0 {
			v.errorf("server."+t.key, CodeOutOfRange, "must be greater than 0: net/http reads 0 as \"no timeout\", which lets a slow client hold a connection forever")
		}
	}
	if s.DrainDelay < 0 || s.DrainDelay > Duration(5*time.Minute) {
		v.errorf("server.drain_delay", CodeOutOfRange, "%s is out of range: must be between 0 and 5m", s.DrainDelay)
	}
	if s.ShutdownGrace <= 0 {
		v.errorf("server.shutdown_grace", CodeOutOfRange, "must be greater than 0, or every in-flight request is cut off on shutdown")
	}

	if s.MaxInFlight < 1 || s.MaxInFlight > 1<<20 {
		v.errorf("server.max_in_flight", CodeOutOfRange, "%d is out of range: must be between 1 and 1048576", s.MaxInFlight)
	}
	if s.MaxBodyBytes < 0 {
		v.errorf("server.max_body_bytes", CodeOutOfRange, "%d is out of range: 0 (no limit) or a number of bytes", s.MaxBodyBytes)
	}
	if s.MaxHeaderBytes < 1024 || s.MaxHeaderBytes > 1<<20 {
		v.errorf("server.max_header_bytes", CodeOutOfRange, "%d is out of range: must be between 1024 and 1048576 (1 MiB)", s.MaxHeaderBytes)
	}

	for i, tp := range s.TrustedProxies {
		if pf, err := netip.ParsePrefix(tp); err == nil {
			if pf.Bits() == 0 {
				v.warnf(fmt.Sprintf("server.trusted_proxies[%d]", i), CodeTrustsEveryone, "%q is every address, so every client is a trusted proxy: its X-Forwarded-For (the client_ip that rate limits count by), X-Forwarded-Host (the host routes match), X-Real-IP and traceparent are believed, and any caller may use the decision endpoint; list your proxies' addresses instead", tp)
			}
			continue
		}
		if _, err := netip.ParseAddr(tp); err == nil {
			continue
		}
		v.errorf(fmt.Sprintf("server.trusted_proxies[%d]", i), CodeBadAddress, "%q is neither a CIDR (\"10.0.0.0/8\") nor an IP address", tp)
	}

	v.certKeyPair("server.tls", s.TLS.CertFile, s.TLS.KeyFile, "to terminate TLS")
	if s.H2C && s.TLS.Enabled() {
		v.errorf("server.h2c", CodeConflict, "h2c (cleartext HTTP/2) cannot be used with tls: a TLS listener offers HTTP/2 by ALPN already; set h2c only on a plain listener behind a TLS-terminating load balancer")
	}
}

// decision checks the decision service's listeners and headers.
func (v *validator) decision(d *Decision, s *Server) {
	var listens []string
	for _, l := range []struct{ key, addr string }{{"listen", d.Listen}, {"grpc_listen", d.GRPCListen}} {
		if l.addr == "" {
			continue
		}
		p := "decision." + l.key
		if !v.hostPort(p, l.addr) {
			continue
		}
		for _, other := range []struct{ key, addr string }{{"server.listen", s.Listen}, {"server.admin_listen", s.AdminListen}} {
			if listenersOverlap(l.addr, other.addr) {
				v.errorf(p, CodeListenerOverlap, "%q overlaps %s %q: each listener needs a port of its own", l.addr, other.key, other.addr)
			}
		}
		listens = append(listens, l.addr)
	}
	if len(listens) == 2 && listenersOverlap(listens[0], listens[1]) {
		v.errorf("decision.grpc_listen", CodeListenerOverlap, "%q overlaps decision.listen %q", d.GRPCListen, d.Listen)
	}
	if d.Listen != "" && len(s.TrustedProxies) == 0 {
		v.errorf("decision.listen", CodeRequired, "needs server.trusted_proxies: the decision endpoint believes the request a caller describes (method, host, path) only from a trusted proxy, so with none it would refuse every call; list your ingress's addresses")
	}
	for _, h := range []struct{ key, name string }{
		{"method_header", d.Nginx.MethodHeader}, {"uri_header", d.Nginx.URIHeader}, {"host_header", d.Nginx.HostHeader},
	} {
		if !IsToken(h.name) {
			v.errorf("decision.nginx."+h.key, CodeBadHeader, "%q is not a header name", h.name)
		}
	}
	if p := d.EnvoyPathPrefix; p == "" || p[0] != '/' || strings.HasSuffix(p, "/") || p == "/nginx" || p == "/traefik" {
		v.errorf("decision.envoy_path_prefix", CodeBadPath, "%q must be a path such as /envoy: it starts with '/', does not end with one, and is neither /nginx nor /traefik", p)
	}
}

// hostPort checks a listen address the way net.Listen will read it, but
// insists on a numeric port: a service name depends on /etc/services.
func (v *validator) hostPort(p, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errorf(p, CodeBadAddress, "%q is not host:port (for example \":8080\" or \"127.0.0.1:9090\")", addr)
		return false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.errorf(p, CodeBadAddress, "%q: the port must be a number from 0 to 65535", addr)
		return false
	}
	if host != "" && !validListenHost(host) {
		v.errorf(p, CodeBadAddress, "%q: the host must be an IP address or a host name (or empty, for every interface)", addr)
		return false
	}
	return true
}

// validListenHost reports whether h, the host of a listen address, is an
// IP address or a host name.
func validListenHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return !strings.Contains(h, "*") && CheckHost(strings.ToLower(h)) == nil
}

// listenersOverlap reports whether two valid listen addresses would bind
// the same socket, or one would take the other's port on every interface.
func listenersOverlap(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	unspecified := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || unspecified(ha) || unspecified(hb)
}

// log

// log checks the log section's level and format.
func (v *validator) log(l *Log) {
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		v.errorf("log.level", CodeUnknownValue, "%q is not a level: use debug, info, warn or error", l.Level)
	}
	if !slices.Contains([]string{"json", "console"}, l.Format) {
		v.errorf("log.format", CodeUnknownValue, "%q is not a format: use json or console", l.Format)
	}
	if l.FlushInterval > Duration(maxLogFlushInterval) {
		v.errorf("log.flush_interval", CodeOutOfRange, "%s is too long: at most %s, since the lines still waiting are lost if the process is killed (0 writes each line at once)", l.FlushInterval, maxLogFlushInterval)
	}
}

// maxLogFlushInterval bounds log.flush_interval.
const maxLogFlushInterval = 10 * time.Second
