package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// testService is a gRPC upstream: UnaryCall answers the status it is asked
// for and sends a trailer, FullDuplexCall echoes each message as it comes
// (after a pause, when the first message asks for one). Each call's
// incoming metadata and deadline are kept for the test to look at.
type testService struct {
	testpb.UnimplementedTestServiceServer
	mu       sync.Mutex
	md       metadata.MD
	deadline time.Time
}

func (s *testService) seen(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	dl, _ := ctx.Deadline()
	s.mu.Lock()
	s.md, s.deadline = md, dl
	s.mu.Unlock()
}

func (s *testService) last() (metadata.MD, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.md, s.deadline
}

func (s *testService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.seen(ctx)
	if st := req.GetResponseStatus(); st != nil {
		return nil, status.Error(codes.Code(st.GetCode()), st.GetMessage())
	}
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-upstream-trailer", "t1"))
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

func (s *testService) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	s.seen(stream.Context())
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			stream.SetTrailer(metadata.Pairs("x-upstream-trailer", "done"))
			return nil
		}
		if err != nil {
			return err
		}
		for _, p := range req.GetResponseParameters() {
			time.Sleep(time.Duration(p.GetIntervalUs()) * time.Microsecond)
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

// bearer is a per-RPC credential that sends a bearer token, as
// oauth.TokenSource does.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }

type grpcFixture struct {
	svc  *testService
	g    *gatewaytest.Gateway
	conn *grpc.ClientConn
	tok  func(scope string) string
}

// newGRPCFixture starts a gRPC server on loopback without TLS (an h2c
// upstream) and a gateway in front of it served over TLS with HTTP/2, as a
// gRPC client expects of it.
func newGRPCFixture(t *testing.T) *grpcFixture {
	t.Helper()
	svc := &testService{}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, svc)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	key := tokentest.RSA("k1", 2048)
	iss := tokentest.NewIssuer(key)
	t.Cleanup(iss.Close)
	g := gatewaytest.StartYAML(t, `
log:
  access_log: true
issuers:
  - name: corp
    issuer: "`+iss.URL()+`"
    jwks_uri: "`+iss.JWKSURL()+`"
    audiences: [api]
    algorithms: [RS256]
routes:
  - name: test-service
    match: {path_prefix: /grpc.testing.TestService, methods: [POST]}
    upstream: "http://`+ln.Addr().String()+`"
    upstream_protocol: h2c
    timeout: 1s
    auth:
      scopes: {all_of: [grpc]}
    forward:
      claims_to_headers: {X-User-Id: sub}
  - name: health
    match: {path_prefix: /grpc.health.v1.Health}
    upstream: "http://`+ln.Addr().String()+`"
    upstream_protocol: h2c
`)
	front := httptest.NewUnstartedServer(g.Handler())
	front.EnableHTTP2 = true
	front.StartTLS()
	t.Cleanup(front.Close)
	roots := x509.NewCertPool()
	roots.AddCert(front.Certificate())
	conn, err := grpc.NewClient(strings.TrimPrefix(front.URL, "https://"),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &grpcFixture{svc: svc, g: g, conn: conn, tok: func(scope string) string {
		return key.Sign(tokentest.Standard(iss.URL(), "api", "alice", scope, time.Hour))
	}}
}

func TestGRPCThroughTheGateway(t *testing.T) {
	f := newGRPCFixture(t)
	client := testpb.NewTestServiceClient(f.conn)
	auth := grpc.PerRPCCredentials(bearer(f.tok("grpc")))

	t.Run("a unary call with a token reaches the upstream with its claims as metadata", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var trailer metadata.MD
		res, err := client.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("ping")}}, auth, grpc.Trailer(&trailer))
		if err != nil {
			t.Fatalf("UnaryCall: %v", err)
		}
		if string(res.GetPayload().GetBody()) != "ping" {
			t.Errorf("payload %q, want ping", res.GetPayload().GetBody())
		}
		if got := trailer.Get("x-upstream-trailer"); len(got) != 1 || got[0] != "t1" {
			t.Errorf("trailer x-upstream-trailer = %q, want the upstream's t1", got)
		}
		md, dl := f.svc.last()
		if got := md.Get("x-user-id"); len(got) != 1 || got[0] != "alice" {
			t.Errorf("x-user-id at the upstream = %q, want [alice]", got)
		}
		if dl.IsZero() || time.Until(dl) > 10*time.Second {
			t.Errorf("the upstream's deadline is %v, want the client's (grpc-timeout), within 10s", dl)
		}
	})

	t.Run("the upstream's error status and message pass through", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Code: int32(codes.NotFound), Message: "no such order: 42 ✓"}}, auth)
		if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no such order: 42 ✓" {
			t.Errorf("got %v, want NotFound with the upstream's message", err)
		}
		// A 200 to HTTP: the access line says how the call ended.
		logs := f.g.Logs.FilterMessage("request").All()
		if m := logs[len(logs)-1].ContextMap(); m["status"] != int64(200) || m["grpc_status"] != "5" {
			t.Errorf("access log status %v, grpc_status %v; want 200 and 5", m["status"], m["grpc_status"])
		}
	})

	t.Run("a bidirectional stream echoes message by message", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := client.FullDuplexCall(ctx, auth)
		if err != nil {
			t.Fatal(err)
		}
		for i, msg := range []string{"one", "two", "three", "four", "five"} {
			// The upstream's first reply comes after the route's 1s
			// timeout: a gRPC call is a stream, which only a pause of
			// stream_idle_timeout may cut.
			var params []*testpb.ResponseParameters
			if i == 0 {
				params = []*testpb.ResponseParameters{{IntervalUs: 1_300_000}}
			}
			if err := stream.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: []byte(msg)}, ResponseParameters: params}); err != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
			res, err := stream.Recv()
			if err != nil {
				t.Fatalf("Recv %d: %v", i, err)
			}
			if string(res.GetPayload().GetBody()) != msg {
				t.Fatalf("Recv %d = %q, want %q", i, res.GetPayload().GetBody(), msg)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("after CloseSend: %v, want io.EOF", err)
		}
		if got := stream.Trailer().Get("x-upstream-trailer"); len(got) != 1 || got[0] != "done" {
			t.Errorf("trailer = %q, want the upstream's done", got)
		}
	})

	t.Run("the health service answers through the gateway", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := healthpb.NewHealthClient(f.conn).Check(ctx, &healthpb.HealthCheckRequest{}, auth)
		if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check: %v, %v", res, err)
		}
	})
}

func TestGRPCRefusalsAreGRPCStatuses(t *testing.T) {
	f := newGRPCFixture(t)
	client := testpb.NewTestServiceClient(f.conn)
	tests := []struct {
		name      string
		opts      []grpc.CallOption
		code      codes.Code
		message   string
		challenge string
		status    int64
	}{
		{"a call without a token is UNAUTHENTICATED", nil,
			codes.Unauthenticated, "a bearer token is required", `Bearer realm="portcullis"`, http.StatusUnauthorized},
		{"a call with a bad token is UNAUTHENTICATED", []grpc.CallOption{grpc.PerRPCCredentials(bearer("not.a.token"))},
			codes.Unauthenticated, "the token is malformed", `error="invalid_token"`, http.StatusUnauthorized},
		{"a call without the route's scope is PERMISSION_DENIED", []grpc.CallOption{grpc.PerRPCCredentials(bearer(f.tok("other")))},
			codes.PermissionDenied, "the token lacks a required scope", `scope="grpc"`, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var header, trailer metadata.MD
			_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{}, append(tt.opts, grpc.Header(&header), grpc.Trailer(&trailer))...)
			st := status.Convert(err)
			if st.Code() != tt.code || st.Message() != tt.message {
				t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.message)
			}
			// A trailers-only response: the challenge is among its
			// headers, which gRPC hands over as trailers.
			challenge := strings.Join(append(header.Get("www-authenticate"), trailer.Get("www-authenticate")...), " ")
			if !strings.Contains(challenge, tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want it to hold %q", challenge, tt.challenge)
			}
			if md, _ := f.svc.last(); md != nil {
				t.Errorf("a refused call reached the upstream")
			}
			// The access log and the metrics count the refusal's
			// HTTP status, not the 200 that carries it.
			logs := f.g.Logs.FilterMessage("request").All()
			if len(logs) == 0 || logs[len(logs)-1].ContextMap()["status"] != tt.status {
				t.Errorf("access log status: %v, want %d", logs[len(logs)-1].ContextMap()["status"], tt.status)
			}
			if got, want := logs[len(logs)-1].ContextMap()["grpc_status"], strconv.Itoa(int(tt.code)); got != want {
				t.Errorf("access log grpc_status: %v, want %s", got, want)
			}
		})
	}

	t.Run("a call no route matches is NOT_FOUND", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := testpb.NewUnimplementedServiceClient(f.conn).UnimplementedCall(ctx, &testpb.Empty{})
		if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no route matches this request" {
			t.Errorf("got %v, want NotFound", err)
		}
	})
}
