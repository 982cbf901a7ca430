package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// TestExtAuthzGRPC drives the binary's decision.grpc_listen as Envoy's
// ext_authz filter and a gRPC health checker do: checks are decided with
// the claim headers to set, the health service says SERVING, then
// NOT_SERVING from SIGTERM on while checks are still answered during the
// drain delay, and the process exits 0 with the listener closed.
func TestExtAuthzGRPC(t *testing.T) {
	t.Parallel()
	key := tokentest.RSA("k1", 2048)
	idp := tokentest.NewIssuer(key)
	t.Cleanup(idp.Close)
	grpcAddr := gatewaytest.FreeAddr(t)
	g := startGateway(t, func(listen, admin string) string {
		return fmt.Sprintf(`server:
  listen: %q
  admin_listen: %q
  shutdown_grace: 2s
  drain_delay: 1s
  trusted_proxies: ["127.0.0.1/32"]
log:
  level: info
  format: json
  access_log: true
decision:
  grpc_listen: %q
issuers:
  - name: corp
    issuer: %q
    jwks_uri: %q
    audiences: ["orders-api"]
    algorithms: ["RS256"]
routes:
  - name: orders
    match: {path_prefix: /orders}
    upstream: "http://127.0.0.1:1"
    auth:
      scopes: {all_of: ["orders:read"]}
    forward:
      claims_to_headers: {X-User-Id: sub}
`, listen, admin, grpcAddr, idp.URL(), idp.JWKSURL())
	})
	gatewaytest.WaitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 10*time.Second)
	if !strings.Contains(g.Output(), `"decision_grpc_listen":"`+grpcAddr+`"`) {
		t.Errorf("the serving line does not name decision_grpc_listen %s:\n%s", grpcAddr, gatewaytest.Tail(g.Output(), 10))
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	authz, health := authv3.NewAuthorizationClient(conn), healthpb.NewHealthClient(conn)
	check := func(auth string) *authv3.CheckResponse {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		headers := map[string]string{":authority": "api.example.com", ":path": "/orders/1", ":method": "GET"}
		if auth != "" {
			headers["authorization"] = auth
		}
		res, err := authz.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Host: "api.example.com", Path: "/orders/1", Headers: headers,
			}},
		}})
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return res
	}
	serving := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
		if err != nil {
			t.Fatalf("health: %v", err)
		}
		return res.GetStatus()
	}

	tok := key.Sign(tokentest.Standard(idp.URL(), "orders-api", "alice", "orders:read", time.Hour))
	res := check(tokentest.Bearer(tok))
	if codes.Code(res.GetStatus().GetCode()) != codes.OK {
		t.Fatalf("allowed check: %v", res)
	}
	if h := res.GetOkResponse().GetHeaders(); len(h) != 1 || h[0].GetHeader().GetKey() != "x-user-id" || h[0].GetHeader().GetValue() != "alice" {
		t.Errorf("headers set: %v, want x-user-id: alice", h)
	}
	res = check("")
	if codes.Code(res.GetStatus().GetCode()) != codes.Unauthenticated || res.GetDeniedResponse().GetStatus().GetCode() != http.StatusUnauthorized {
		t.Errorf("check without a token: %v, want UNAUTHENTICATED with 401", res)
	}
	if got := serving(); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, want SERVING", got)
	}

	g.Signal(t, syscall.SIGTERM)
	deadline := time.Now().Add(time.Second)
	for serving() != healthpb.HealthCheckResponse_NOT_SERVING {
		if time.Now().After(deadline) {
			t.Fatal("health still SERVING 1s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res := check(tokentest.Bearer(tok)); codes.Code(res.GetStatus().GetCode()) != codes.OK {
		t.Errorf("a check during the drain delay: %v, want it answered", res)
	}
	if code := g.Wait(t, 6*time.Second); code != 0 {
		t.Errorf("exit code %d\n%s", code, gatewaytest.Tail(g.Output(), 20))
	}
	if !isRefused(grpcAddr) {
		t.Errorf("%s still accepts connections after exit", grpcAddr)
	}
}
