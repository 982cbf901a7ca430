package decision

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// A call whose handler panics, unary or streaming, is answered INTERNAL and logged, and the
// server goes on serving: grpc-go recovers nothing, so without the
// server's own recovery the panic ends the process (here, the test
// binary). The panicking service is registered beside the real ones on
// the server NewGRPCServer builds.
func TestAPanickingCallIsAnsweredInternalAndTheServerLives(t *testing.T) {
	core, logs := observer.New(zapcore.ErrorLevel)
	s := NewGRPCServer(nil, GRPCLimits{}, zap.New(core))
	s.srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "test.Panics",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Call",
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := new(healthpb.HealthCheckRequest)
				if err := dec(in); err != nil {
					return nil, err
				}
				call := func(context.Context, any) (any, error) { panic("ed25519: bad public key length: 31") }
				if interceptor == nil {
					return call(ctx, in)
				}
				return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/test.Panics/Call"}, call)
			},
		}},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Stream",
			ServerStreams: true,
			Handler:       func(any, grpc.ServerStream) error { panic("a streaming handler's panic") },
		}},
	}, struct{}{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		<-served
	})
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	err = conn.Invoke(ctx, "/test.Panics/Call", &healthpb.HealthCheckRequest{}, new(healthpb.HealthCheckResponse))
	if status.Code(err) != codes.Internal {
		t.Fatalf("the panicking call: %v, want INTERNAL", err)
	}
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/test.Panics/Stream")
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(&healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	if err := stream.RecvMsg(new(healthpb.HealthCheckResponse)); status.Code(err) != codes.Internal {
		t.Fatalf("the panicking stream: %v, want INTERNAL", err)
	}
	if res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("after the panic, health: %v, %v; want SERVING", res, err)
	}
	lines := logs.All()
	if len(lines) != 2 || lines[0].ContextMap()["method"] != "/test.Panics/Call" || !strings.Contains(lines[0].ContextMap()["panic"].(string), "bad public key length") ||
		lines[1].ContextMap()["method"] != "/test.Panics/Stream" {
		t.Errorf("log lines %v, want one for each call, naming its method and its panic", lines)
	}
}
