package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/metrics"
)

// demoPolicy is the demo's configuration: the real loader reads it, so the
// demo shows exactly what a file of one's own would do. %[1]s is the demo
// issuer's URL, %[2]s the echo upstream's, %[3]s and %[4]s the listeners.
const demoPolicy = `
server:
  listen: %[3]q
  admin_listen: %[4]q
  shutdown_grace: 2s
log:
  level: info
  format: console
  access_log: true
issuers:
  - name: demo
    issuer: %[1]q
    discovery: true
    audiences: ["orders-api"]
    algorithms: ["RS256"]
    required_claims: ["sub", "exp"]
routes:
  - name: orders-read
    match:
      path_prefix: /orders
      methods: ["GET", "HEAD"]
    upstream: %[2]q
    auth:
      mode: required
      scopes:
        all_of: ["orders:read"]
    forward:
      claims_to_headers:
        X-User-Id: sub
        X-User-Scopes: scope
        X-Tenant: tenant
  - name: orders-write
    match:
      path_prefix: /orders
      methods: ["POST", "PUT", "DELETE"]
    upstream: %[2]q
    auth:
      mode: required
      scopes:
        all_of: ["orders:write"]
      claims:
        tenant: acme    # exact: the string "acme"; ["acme", "other"] is refused (arrays: {contains: acme})
    forward:
      claims_to_headers:
        X-User-Id: sub
        X-Tenant: tenant
  - name: public
    match:
      path_prefix: /public
    upstream: %[2]q
    auth:
      mode: public
`

// demoCommand runs a demo identity provider, an echo upstream and the
// gateway in one process, on loopback, and prints curl commands to try.
func demoCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "gateway address")
	adminListen := fs.String("admin-listen", "127.0.0.1:9090", "admin address (/metrics, /healthz, /readyz)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, stderr); err != nil {
		return err
	}
	idp, err := newDemoIssuer()
	if err != nil {
		return err
	}
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	idp.url = "http://" + idpLn.Addr().String()
	echoLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		idpLn.Close()
		return err
	}
	idpSrv := &http.Server{Handler: idp, ReadHeaderTimeout: 5 * time.Second}
	echoSrv := &http.Server{Handler: http.HandlerFunc(echoUpstream), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = idpSrv.Serve(idpLn) }()
	go func() { _ = echoSrv.Serve(echoLn) }()
	defer idpSrv.Close()
	defer echoSrv.Close()

	file := fmt.Sprintf(demoPolicy, idp.url, "http://"+echoLn.Addr().String(), *listen, *adminListen)
	cfg, err := config.Parse([]byte(file), "demo policy")
	if err != nil {
		return fmt.Errorf("the demo's own policy does not load (a bug):\n%v", err)
	}
	log, stopLog, err := gateway.NewLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer stopLog()
	g, err := gateway.New(cfg, log, metrics.New())
	if err != nil {
		return err
	}
	ready := make(chan struct{})
	go func() {
		defer close(ready)
		_ = g.WaitReady(ctx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ctx) }()
	select {
	case err := <-errc:
		if err != nil && strings.Contains(err.Error(), "address already in use") {
			return fmt.Errorf("%w\n(choose other ports: portcullis demo -listen 127.0.0.1:18080 -admin-listen 127.0.0.1:19090)", err)
		}
		return err
	case <-ready:
	}
	printDemo(stdout, idp, *listen, *adminListen, file)
	return <-errc
}

func printDemo(w io.Writer, idp *demoIssuer, listen, admin, file string) {
	gw := "http://" + listen
	allowed := idp.mint("alice", "orders:read", "acme", time.Hour)
	noScope := idp.mint("bob", "profile", "acme", time.Hour)
	expired := idp.mint("carol", "orders:read", "acme", -time.Hour)
	fmt.Fprintf(w, `
portcullis demo: an identity provider, an echo upstream and the gateway, all on loopback.

  gateway   %s        (policy below)
  admin     http://%s/metrics  /healthz  /readyz
  issuer    %s   (/.well-known/openid-configuration, /jwks, /token?sub=&scope=&tenant=&ttl=)

Try these:

# 1. allowed (200): a token with scope orders:read; the echo shows the claims as headers
curl -i %s/orders/42 -H 'Authorization: Bearer %s'

# 2. missing scope (403 insufficient_scope): the token only has scope "profile"
curl -i %s/orders/42 -H 'Authorization: Bearer %s'

# 3. expired (401 invalid_token)
curl -i %s/orders/42 -H 'Authorization: Bearer %s'

# 4. spoofed claim header (stripped): the echo shows X-User-Id: alice, not admin
curl -s %s/orders/42 -H 'X-User-Id: admin' -H 'X_User_Id: admin' -H 'Authorization: Bearer %s'

# 5. no token on a protected route (401) and a public route (200)
curl -i %s/orders/42
curl -i %s/public/hello -H 'X-User-Id: admin'

# mint your own token
curl -s '%s/token?sub=dave&scope=orders:read+orders:write&tenant=acme&ttl=300'

The policy the gateway runs:
%s
Ctrl-C stops everything.
`, gw, admin, idp.url,
		gw, allowed, gw, noScope, gw, expired, gw, allowed, gw, gw, idp.url, file)
}

// demoIssuer is a toy identity provider for the demo: it publishes one RSA
// key and mints tokens for anyone who asks. It listens on loopback only and
// must never be mistaken for a real IdP.
type demoIssuer struct {
	url  string
	priv jwk.Key
	pub  jwk.Key
}

func newDemoIssuer() (*demoIssuer, error) {
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, err
	}
	_ = priv.Set(jwk.KeyIDKey, "demo-"+strconv.FormatInt(time.Now().Unix(), 36))
	pub, err := priv.PublicKey()
	if err != nil {
		return nil, err
	}
	_ = pub.Set(jwk.AlgorithmKey, jwa.RS256)
	_ = pub.Set(jwk.KeyUsageKey, "sig")
	return &demoIssuer{priv: priv, pub: pub}, nil
}

func (d *demoIssuer) mint(sub, scope, tenant string, ttl time.Duration) string {
	now := time.Now()
	claims := map[string]any{
		"iss": d.url, "sub": sub, "aud": "orders-api", "scope": scope,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	}
	if ttl < 0 {
		claims["iat"] = now.Add(2 * ttl).Unix()
	}
	if tenant != "" {
		claims["tenant"] = tenant
	}
	payload, _ := json.Marshal(claims)
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, d.priv.KeyID())
	_ = hdr.Set(jws.TypeKey, "JWT")
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256, d.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		panic(err) // a fresh RSA key always signs
	}
	return string(tok)
}

func (d *demoIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": d.url, "jwks_uri": d.url + "/jwks", "token_endpoint": d.url + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	case "/jwks":
		writeJSON(w, http.StatusOK, map[string]any{"keys": []jwk.Key{d.pub}})
	case "/token":
		q := r.URL.Query()
		ttl := time.Hour
		if s := q.Get("ttl"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < -86400 || n > 86400 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "ttl is seconds between -86400 and 86400"})
				return
			}
			ttl = time.Duration(n) * time.Second
		}
		sub := q.Get("sub")
		if sub == "" {
			sub = "demo-user"
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": d.mint(sub, q.Get("scope"), q.Get("tenant"), ttl),
			"token_type":   "Bearer", "expires_in": int(ttl.Seconds()),
		})
	default:
		http.NotFound(w, r)
	}
}

// echoUpstream answers with what it received, so that the demo shows which
// headers the gateway forwarded.
func echoUpstream(w http.ResponseWriter, r *http.Request) {
	// encoding/json writes a map's keys sorted.
	headers := map[string]string{}
	for name, values := range r.Header {
		v := strings.Join(values, ", ")
		if name == "Authorization" && len(v) > 24 {
			v = v[:24] + "...(truncated by the echo)"
		}
		headers[name] = v
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{
		"upstream": "echo", "method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "headers": headers,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
