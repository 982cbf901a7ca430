package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// The gateway's own response fields (X-Request-Id, and on a route with a
// cors policy or rate limits its Access-Control-* and RateLimit fields)
// are removed from the upstream's response headers (responded); its
// trailers must not carry them either, announced (Trailer: ...) or not
// (the late trailers that HTTP/2 and gRPC servers send), to an HTTP/1.1
// or an HTTP/2 client: a client or an intermediary that merges trailers
// into the header section would take the upstream's word for the request
// id, the CORS policy or the quota. The upstream's other trailers pass.
func TestUpstreamTrailersCannotSetTheGatewaysFields(t *testing.T) {
	owned := [][2]string{
		{"X-Request-Id", "spoofed-id"},
		{"Access-Control-Allow-Origin", "https://evil.example"},
		{"Access-Control-Allow-Credentials", "true"},
		{"Ratelimit", `"app[0]";r=1000000;t=1`},
		{"Ratelimit-Policy", `"app[0]";q=1000000;w=1`},
	}
	up := gatewaytest.NewUpstream(t)
	up.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		announced := r.URL.Path == "/announced"
		if announced {
			w.Header().Set("Trailer", "X-Request-Id, Access-Control-Allow-Origin, Access-Control-Allow-Credentials, Ratelimit, Ratelimit-Policy, X-Checksum")
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok"))
		w.(http.Flusher).Flush()
		prefix := http.TrailerPrefix
		if announced {
			prefix = ""
		}
		for _, kv := range owned {
			w.Header().Set(prefix+kv[0], kv[1])
		}
		w.Header().Set(prefix+"X-Checksum", "c1")
	})
	g := gatewaytest.StartYAML(t, fmt.Sprintf(`
routes:
  - name: app
    match: {path_prefix: /}
    upstream: %q
    auth: {mode: public}
    cors: {allowed_origins: [%q], allow_credentials: true}
    rate_limit: [{key: client_ip, rate: 1000/s}]
`, up.URL, appOrigin))
	for _, h2 := range []bool{false, true} {
		front := httptest.NewUnstartedServer(g.Handler())
		front.EnableHTTP2 = h2
		front.StartTLS()
		t.Cleanup(front.Close)
		for _, path := range []string{"/announced", "/late"} {
			req, err := http.NewRequest(http.MethodGet, front.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", appOrigin)
			res, err := front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Header.Get(gatewaytest.EchoHeader) != "" {
				t.Fatalf("%s %s: status %d", res.Proto, path, res.StatusCode)
			}
			if got := res.Trailer.Get("X-Checksum"); got != "c1" {
				t.Errorf("%s %s: trailer X-Checksum %q, want the upstream's c1 (trailers %v)", res.Proto, path, got, res.Trailer)
			}
			for _, kv := range owned {
				if v, ok := res.Trailer[kv[0]]; ok {
					t.Errorf("%s %s: the upstream's trailers set the gateway's %s: %q", res.Proto, path, kv[0], v)
				}
			}
			if got := res.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != appOrigin {
				t.Errorf("%s %s: Access-Control-Allow-Origin %q, want the gateway's", res.Proto, path, got)
			}
			if got := res.Header.Values("X-Request-Id"); len(got) != 1 || got[0] == "spoofed-id" {
				t.Errorf("%s %s: X-Request-Id %q, want the gateway's one", res.Proto, path, got)
			}
		}
	}
}
