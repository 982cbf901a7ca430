package decision

import (
	"context"
	"net"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/proxy"
)

// MaxCheckRequestBytes bounds one CheckRequest. A request described by its
// headers is far smaller (server.max_header_bytes is 32 KiB by default);
// the bound leaves room for Envoy's with_request_body, whose
// max_request_bytes must stay under it. A larger message is refused by
// gRPC with RESOURCE_EXHAUSTED, which Envoy treats as a failure of the
// service (status_on_error: fail closed unless failure_mode_allow).
const MaxCheckRequestBytes = 1 << 20

// MaxConcurrentCalls is how many calls one connection may have in flight
// (SETTINGS_MAX_CONCURRENT_STREAMS): 250, the cap Go's HTTP/2 server puts
// on the HTTP listeners, so that one client cannot hold thousands of
// calls, each a goroutine, on one connection (grpc-go's own default has
// no cap). It is advertised in the connection's SETTINGS: a client must
// not open more streams (RFC 9113 §5.1.2), so one at the cap waits for a
// call to end or uses another connection. How Envoy does so is not
// measured here.
const MaxConcurrentCalls = 250

// GRPCLimits bound the decision.grpc_listen listener's connections, from
// the server block, as the HTTP listeners are bounded. A zero field takes
// the server block's default (config.DefaultServer), never grpc-go's own
// (a 16 MiB header list, 120s for a handshake, idle connections kept
// forever).
type GRPCLimits struct {
	// MaxHeaderBytes (server.max_header_bytes) caps one call's metadata:
	// its HTTP/2 header list, each field's name and value and 32 bytes.
	// It is advertised to the client, and a call over it is refused by
	// the transport before any handler runs: its stream is reset, or the
	// connection closed when one value alone is longer than the limit.
	MaxHeaderBytes int
	// HandshakeTimeout (server.read_header_timeout) bounds a new
	// connection's HTTP/2 preface and first SETTINGS; a connection that
	// has not sent them in time is closed, so that connections that never
	// speak cannot pile up.
	HandshakeTimeout time.Duration
	// IdleTimeout (server.idle_timeout) closes a connection that has had
	// no call for this long: it is sent GOAWAY, and a client opens a new
	// one for its next call. Keepalive pings do not count as calls.
	IdleTimeout time.Duration
}

// withDefaults returns l with each zero field set to its default.
func (l GRPCLimits) withDefaults() GRPCLimits {
	d := config.DefaultServer
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = d.ReadHeaderTimeout.D()
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout.D()
	}
	return l
}

// GRPCServer is the decision.grpc_listen listener's server: the ext_authz
// Authorization service and the gRPC health service (grpc.health.v1),
// which answers SERVING for the whole server ("") and for the
// Authorization service by name until Drain.
type GRPCServer struct {
	srv    *grpc.Server
	health *health.Server
}

// NewGRPCServer returns the server deciding with h, its connections
// bounded by limits and by MaxConcurrentCalls. The limits are read once:
// the server block's keys need a restart, as they do for the HTTP
// listeners.
//
// Its callers are sidecars and ingress proxies that keep one connection
// open and multiplex every check on it, so the keepalive enforcement lets
// them ping as often as every 10 seconds, even between calls (Envoy's
// connection_keepalive, a health checker's), instead of grpc-go's
// default of 5 minutes and only during calls, past which a client is sent
// GOAWAY (too_many_pings) and every check waits for a new connection. The
// server pings a connection idle for a minute, and closes it when the
// ping is not answered within 20 seconds, so that a peer that vanished
// does not hold a connection forever.
//
// A call whose handler panics is answered INTERNAL and logged on log (nil:
// not logged), as net/http answers a panicking HTTP handler by closing its
// connection: grpc-go recovers nothing, so one panic would end the whole
// process, and every proxy's checks and every proxied request with it.
// By Envoy's documentation the error refuses the request (status_on_error)
// unless failure_mode_allow is set; no Envoy runs in these tests.
func NewGRPCServer(h *proxy.Handler, limits GRPCLimits, log *zap.Logger) *GRPCServer {
	limits = limits.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	s := &GRPCServer{
		srv: grpc.NewServer(
			grpc.ChainUnaryInterceptor(recoverUnary(log)),
			grpc.ChainStreamInterceptor(recoverStream(log)),
			grpc.MaxRecvMsgSize(MaxCheckRequestBytes),
			// Validated by config: at most 1 MiB.
			grpc.MaxHeaderListSize(uint32(limits.MaxHeaderBytes)),
			grpc.MaxConcurrentStreams(MaxConcurrentCalls),
			grpc.ConnectionTimeout(limits.HandshakeTimeout),
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
				MinTime:             10 * time.Second,
				PermitWithoutStream: true,
			}),
			grpc.KeepaliveParams(keepalive.ServerParameters{
				MaxConnectionIdle: limits.IdleTimeout,
				Time:              time.Minute,
				Timeout:           20 * time.Second,
			}),
		),
		health: health.NewServer(),
	}
	authv3.RegisterAuthorizationServer(s.srv, NewGRPC(h))
	healthpb.RegisterHealthServer(s.srv, s.health)
	s.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s
}

// errPanicked is what a call whose handler panicked is answered.
var errPanicked = status.Error(codes.Internal, "the gateway failed while deciding this call")

// recovered logs a handler's panic p, if any, and reports whether there was
// one. The line has the method and the panic, never the call's metadata
// (its Authorization).
func recovered(log *zap.Logger, method string, p any) bool {
	if p == nil {
		return false
	}
	log.Error("a gRPC call's handler panicked; answered INTERNAL",
		zap.String("method", method), zap.Any("panic", p), zap.Stack("stack"))
	return true
}

func recoverUnary(log *zap.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if recovered(log, info.FullMethod, recover()) {
				resp, err = nil, errPanicked
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(log *zap.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if recovered(log, info.FullMethod, recover()) {
				err = errPanicked
			}
		}()
		return handler(srv, ss)
	}
}

// Serve accepts connections on ln until Shutdown; it returns nil then.
func (s *GRPCServer) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// Drain makes the health service answer NOT_SERVING (and tells its
// watchers), while checks are still answered: the gRPC counterpart of
// /readyz answering 503 during server.drain_delay.
func (s *GRPCServer) Drain() { s.health.Shutdown() }

// Shutdown stops accepting connections and calls, waits for the calls in
// flight to end, and returns nil; when ctx ends first (shutdown_grace),
// it closes every connection, cancelling what is still running, and
// returns ctx's error. A client watching the health service holds its
// stream open until then.
func (s *GRPCServer) Shutdown(ctx context.Context) error {
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Stop may be called while GracefulStop waits: it closes the
		// connections, and GracefulStop returns.
		s.srv.Stop()
		<-done
		return ctx.Err()
	}
}
