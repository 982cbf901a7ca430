package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
)

// The upstreams echo the claim they saw to the smoke request only: an
// echo on every answer would cost the proxy that forwards claims one
// response header that the baselines, which forward none, never carry.
func TestUpstreamsEchoTheClaimToTheSmokeRequestOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(upstream))
	defer srv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := newGRPCUpstream()
	go func() { _ = up.Serve(ln) }()
	defer up.Stop()
	conn, err := dialGRPC(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	for _, smoke := range []bool{false, true} {
		want := ""
		if smoke {
			want = "user-0"
		}

		req, _ := http.NewRequest(http.MethodGet, srv.URL+requestPath, nil)
		req.Header.Set("X-User-Id", "user-0")
		if smoke {
			req.Header.Set(smokeHeader, "1")
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Seen-User-Id"); got != want {
			t.Errorf("HTTP, smoke %v: X-Seen-User-Id %q, want %q", smoke, got, want)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		md := metadata.Pairs("x-user-id", "user-0")
		if smoke {
			md.Set(smokeHeader, "1")
		}
		var header metadata.MD
		_, err = testpb.NewTestServiceClient(conn).UnaryCall(metadata.NewOutgoingContext(ctx, md), grpcRequest, grpc.Header(&header))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if v := header.Get("x-seen-user-id"); len(v) > 0 {
			got = v[0]
		}
		if got != want {
			t.Errorf("gRPC, smoke %v: x-seen-user-id %q, want %q", smoke, got, want)
		}
	}
}
