package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// client talks to Hydra and to the gateway: bounded, no proxy from the
// environment. Hydra generates 4096-bit RSA keys on demand, which takes a
// few seconds on a busy machine, hence the generous timeout.
var client = &http.Client{
	Timeout:   60 * time.Second,
	Transport: &http.Transport{Proxy: nil},
}

// hydra is one running Ory Hydra: `hydra serve all --dev` with an in-memory
// database and JWT access tokens, or opaque ones (see launchHydraStrategy).
type hydra struct {
	*gatewaytest.Process
	issuer string // urls.self.issuer: the iss of its tokens
	public string // base URL of the public API (token endpoint, JWKS)
	admin  string // base URL of the admin API (clients, keys)
	asked  string // the issuer asked of launchHydra, for a relaunch
	// strategy is STRATEGIES_ACCESS_TOKEN: "jwt" or "opaque".
	strategy string

	// lastKey is when a signing key was last created (by addSigningKey, or
	// lazily by the first token). Hydra signs with the newest key by
	// created_at, which it stores rounded to the second: a key created
	// within a second of another might not count as newer.
	lastKey time.Time
}

// startHydra starts Hydra and returns once it serves; see launchHydra.
func startHydra(t *testing.T, name, issuer string) *hydra {
	t.Helper()
	return launchHydra(t, name, issuer).ready(t)
}

// launchHydra starts Hydra on two free loopback ports without waiting for
// it. Its tokens carry issuer, or its own public URL when issuer is "" (a
// second Hydra can thus claim to be the first).
func launchHydra(t *testing.T, name, issuer string) *hydra {
	t.Helper()
	return launchHydraStrategy(t, name, issuer, "jwt")
}

// launchHydraStrategy is launchHydra with Hydra's default access-token
// strategy: "jwt", or "opaque" (ory_at_ tokens that only Hydra's
// introspection endpoint can judge). A client may override it with its own
// access_token_strategy.
func launchHydraStrategy(t *testing.T, name, issuer, strategy string) *hydra {
	t.Helper()
	pub, adm := freePort(t), freePort(t)
	h := &hydra{
		public:   "http://127.0.0.1:" + pub,
		admin:    "http://127.0.0.1:" + adm,
		issuer:   issuer,
		asked:    issuer,
		strategy: strategy,
	}
	if h.issuer == "" {
		h.issuer = h.public
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"DSN=memory",
		"SECRETS_SYSTEM=" + randomHex(t, 32),
		"URLS_SELF_ISSUER=" + h.issuer,
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT=" + pub,
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT=" + adm,
		"STRATEGIES_ACCESS_TOKEN=" + strategy,
		"LOG_LEVEL=warn",
	}
	cmd := exec.Command(hydraBin, "serve", "all", "--dev", "--sqa-opt-out")
	cmd.Env = env // exactly: nothing of the test's own environment leaks in
	h.Process = gatewaytest.StartProcess(t, name, cmd)
	return h
}

// ready waits (at most 30s) until both of Hydra's APIs answer
// /health/ready. A Hydra that lost a port to another process meanwhile is
// launched again on new ports (up to twice), so the returned value may be
// another Hydra than h.
func (h *hydra) ready(t *testing.T) *hydra {
	t.Helper()
	for attempt := 1; ; attempt++ {
		if h.waitReady(t, 30*time.Second) {
			return h
		}
		if strings.Contains(h.Output(), "address already in use") && attempt < 3 {
			h = launchHydraStrategy(t, h.Name(), h.asked, h.strategy)
			continue
		}
		t.Fatalf("%s exited before serving:\n%s", h.Name(), gatewaytest.Tail(h.Output(), 30))
	}
}

// waitReady polls both APIs' /health/ready; false if Hydra exited first.
func (h *hydra) waitReady(t *testing.T, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, base := range []string{h.admin, h.public} {
		if !gatewaytest.WaitServing(t, h.Process, base+"/health/ready", time.Until(deadline)) {
			return false
		}
	}
	return true
}

// oauthClient is a client registered in Hydra for the client-credentials
// grant.
type oauthClient struct {
	id, secret string
}

// createClient registers a confidential client allowed scope and
// audiences, with JWT access tokens.
func (h *hydra) createClient(t *testing.T, id, scope string, audiences ...string) oauthClient {
	t.Helper()
	return h.registerClient(t, id, scope, "jwt", audiences...)
}

// registerClient registers a confidential client allowed scope and
// audiences, whose access tokens follow strategy ("jwt" or "opaque"),
// authenticating with client_secret_post.
func (h *hydra) registerClient(t *testing.T, id, scope, strategy string, audiences ...string) oauthClient {
	t.Helper()
	c := oauthClient{id: id, secret: randomHex(t, 16)}
	h.adminJSON(t, http.MethodPost, "/admin/clients", map[string]any{
		"client_id":                  c.id,
		"client_secret":              c.secret,
		"grant_types":                []string{"client_credentials"},
		"scope":                      scope,
		"audience":                   audiences,
		"token_endpoint_auth_method": "client_secret_post",
		"access_token_strategy":      strategy,
	}, http.StatusCreated, nil)
	return c
}

// setLifespan makes the client's client-credentials tokens live for d.
func (h *hydra) setLifespan(t *testing.T, c oauthClient, d time.Duration) {
	t.Helper()
	h.adminJSON(t, http.MethodPut, "/admin/clients/"+c.id+"/lifespans", map[string]any{
		"client_credentials_grant_access_token_lifespan": d.String(),
	}, http.StatusOK, nil)
}

// token runs the client-credentials grant over HTTP, as a service would,
// and fails the test unless Hydra issued a JWT. audience may be "" (then
// Hydra's aud is empty).
func (h *hydra) token(t *testing.T, c oauthClient, scope, audience string) string {
	t.Helper()
	tok := h.grant(t, c, scope, audience)
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("%s issued an opaque token, not a JWT: is STRATEGIES_ACCESS_TOKEN=jwt honoured?", h.Name())
	}
	if h.lastKey.IsZero() {
		h.lastKey = time.Now() // the first token may have generated the key set
	}
	return tok
}

// grant runs the client-credentials grant over HTTP and returns the access
// token, whatever its shape.
func (h *hydra) grant(t *testing.T, c oauthClient, scope, audience string) string {
	t.Helper()
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.id},
		"client_secret": {c.secret},
		"scope":         {scope},
	}
	if audience != "" {
		form.Set("audience", audience)
	}
	res, err := client.PostForm(h.public+"/oauth2/token", form)
	if err != nil {
		t.Fatalf("%s token endpoint: %v", h.Name(), err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("%s token endpoint: %d %s", h.Name(), res.StatusCode, body)
	}
	return tr.AccessToken
}

// revoke revokes tok at Hydra's public revocation endpoint (RFC 7009) as
// the client c that holds it, with client_secret_post as c was registered.
func (h *hydra) revoke(t *testing.T, c oauthClient, tok string) {
	t.Helper()
	res, err := client.PostForm(h.public+"/oauth2/revoke", url.Values{
		"token":           {tok},
		"token_type_hint": {"access_token"},
		"client_id":       {c.id},
		"client_secret":   {c.secret},
	})
	if err != nil {
		t.Fatalf("%s revocation endpoint: %v", h.Name(), err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s revocation endpoint: %d %s", h.Name(), res.StatusCode, body)
	}
}

// introspect asks Hydra's admin API about tok (RFC 7662), as the gateway
// does, and returns the answer's members.
func (h *hydra) introspect(t *testing.T, tok string) map[string]any {
	t.Helper()
	res, err := client.PostForm(h.admin+"/admin/oauth2/introspect", url.Values{"token": {tok}})
	if err != nil {
		t.Fatalf("%s introspection endpoint: %v", h.Name(), err)
	}
	defer res.Body.Close()
	var answer map[string]any
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&answer); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s introspection endpoint: %d %v", h.Name(), res.StatusCode, err)
	}
	return answer
}

// addSigningKey creates a new RS256 key in the access-token key set; Hydra
// signs new tokens with the newest key of the set.
// It waits, if needed, until a second has passed since the previous key was
// created, so that the new key is strictly the newest.
func (h *hydra) addSigningKey(t *testing.T, kid string) {
	t.Helper()
	time.Sleep(time.Until(h.lastKey.Add(time.Second)))
	h.adminJSON(t, http.MethodPost, "/admin/keys/hydra.jwt.access-token",
		map[string]any{"alg": "RS256", "use": "sig", "kid": kid}, http.StatusCreated, nil)
	h.lastKey = time.Now()
}

// deleteSigningKey removes a key from the access-token key set, and so from
// Hydra's published JWKS.
func (h *hydra) deleteSigningKey(t *testing.T, kid string) {
	t.Helper()
	h.adminJSON(t, http.MethodDelete, "/admin/keys/hydra.jwt.access-token/"+url.PathEscape(kid), nil, http.StatusNoContent, nil)
}

// publishedKids lists the kids of Hydra's public JWKS.
func (h *hydra) publishedKids(t *testing.T) []string {
	t.Helper()
	res, err := client.Get(h.public + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s JWKS: %d %v", h.Name(), res.StatusCode, err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}

func (h *hydra) adminJSON(t *testing.T, method, path string, in any, want int, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.admin+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", h.Name(), method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != want {
		t.Fatalf("%s %s %s: %d, want %d: %s", h.Name(), method, path, res.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s %s: %v", h.Name(), method, path, err)
		}
	}
}

// jwtParts decodes a token's header and payload without verifying it: the
// tests check what Hydra issues, to notice if a new Hydra changes shape.
func jwtParts(t *testing.T, tok string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
	}
	return header, payload
}

// freePort is the port of gatewaytest.FreeAddr: Hydra takes host and port
// apart.
func freePort(t *testing.T) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(gatewaytest.FreeAddr(t))
	return port
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
