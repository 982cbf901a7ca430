package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/introspect"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/revocation"
	"github.com/portcullis/portcullis/token"
)

// authServer is an RFC 7662 introspection endpoint on loopback: it answers
// each token with the JSON its answers map holds for it (inactive when
// none), and counts the calls.
type authServer struct {
	*httptest.Server
	answers map[string]map[string]any
	calls   atomic.Int64
}

func newAuthServer(t *testing.T, answers map[string]map[string]any) *authServer {
	t.Helper()
	a := &authServer{answers: answers}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		if id, secret, ok := r.BasicAuth(); !ok || id != "gw" || secret != "s3cret" {
			http.Error(w, "unauthorized client", http.StatusUnauthorized)
			return
		}
		answer, ok := a.answers[r.PostFormValue("token")]
		if !ok {
			answer = map[string]any{"active": false}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authServer) client(t *testing.T, timeout time.Duration) *introspect.Client {
	t.Helper()
	c, err := introspect.New(introspect.Options{
		Issuer: "corp", Endpoint: a.URL, ClientID: "gw", Secret: "s3cret", Timeout: timeout,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// revocationList is a real list read from a file.
func revocationList(t *testing.T, doc string) *revocation.List {
	t.Helper()
	path := filepath.Join(t.TempDir(), "revoked.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := revocation.New(revocation.Options{Issuer: "corp", URI: "file://" + path, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l
}

func activeAnswer() map[string]any {
	return map[string]any{
		"active": true, "iss": iss, "sub": "svc-1", "aud": "orders-api", "client_id": "svc-1",
		"scope": "orders:read", "token_type": "Bearer", "jti": "op-1",
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func answerWith(kv ...any) map[string]any {
	a := activeAnswer()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(a, kv[i].(string))
		} else {
			a[kv[i].(string)] = kv[i+1]
		}
	}
	return a
}

// Opaque tokens go to the issuer's introspection endpoint, and its answer
// is judged as a JWT's claims are: the same reasons, plus inactive.
func TestOpaqueTokens(t *testing.T) {
	as := newAuthServer(t, map[string]map[string]any{
		"ory_at_good.sig":  activeAnswer(),
		"ory_at_other_aud": answerWith("aud", "billing"),
		"ory_at_other_iss": answerWith("iss", "https://evil.example/"),
		"ory_at_expired":   answerWith("exp", now.Add(-time.Hour).Unix()),
		"ory_at_future":    answerWith("nbf", now.Add(time.Hour).Unix()),
		"ory_at_no_exp":    answerWith("exp", nil),
		"ory_at_lying":     answerWith("exp", "tomorrow"),
		"ory_at_no_iss":    answerWith("iss", nil),
		"ory_at_revoked":   answerWith("jti", "gone"),
	})
	list := revocationList(t, `{"entries": [{"jti": "gone", "exp": 1900003600}]}`)
	v := verifier(t, func(is *token.Issuer) {
		is.Introspection = as.client(t, time.Second)
		is.Revocation = list
	})
	tests := []struct {
		name  string
		token string
		want  outcome.Reason
		check token.Check
	}{
		{"an active token passes, with the answer as its claims", "ory_at_good.sig", "", 0},
		{"an answer without iss is the configured issuer's", "ory_at_no_iss", "", 0},
		{"an inactive token is refused as inactive", "ory_at_unknown", outcome.Inactive, token.CheckIntrospection},
		{"another audience is refused as for a JWT", "ory_at_other_aud", outcome.BadAudience, token.CheckAudience},
		{"an answer naming another issuer is refused", "ory_at_other_iss", outcome.BadIssuer, token.CheckIssuer},
		{"an expired answer is refused as expired", "ory_at_expired", outcome.Expired, token.CheckTime},
		{"an answer not valid yet is refused", "ory_at_future", outcome.NotYetValid, token.CheckTime},
		{"an answer without a required claim is refused", "ory_at_no_exp", outcome.MissingClaim, token.CheckRequiredClaims},
		{"a malformed answer is the server's fault: unavailable", "ory_at_lying", outcome.IntrospectionUnavailable, token.CheckIntrospection},
		{"a revoked jti is refused after introspection", "ory_at_revoked", outcome.Revoked, token.CheckRevocation},
		{"a token outside the b64token alphabet is never sent", "ory at\"x", outcome.Malformed, token.CheckFormat},
		{"a three-part token is a JWT, never introspected", "a.b.c", outcome.Malformed, token.CheckFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := as.calls.Load()
			tok, err := v.Verify(context.Background(), tt.token, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !tok.Opaque || tok.Subject != "svc-1" || tok.Claims["scope"] != "orders:read" || tok.Claims["client_id"] != "svc-1" {
					t.Fatalf("token = %+v", tok)
				}
				return
			}
			var te *token.Error
			if !errors.As(err, &te) || te.Reason != tt.want || te.Check != tt.check {
				t.Fatalf("Verify = %v, want %s at %s", err, tt.want, tt.check)
			}
			if strings.Contains(te.Error(), tt.token) || strings.Contains(te.Error(), "s3cret") {
				t.Fatalf("the error %q holds the token or the secret", te)
			}
			sent := as.calls.Load() > before
			if wantSent := tt.check != token.CheckFormat; sent != wantSent {
				t.Errorf("introspection called: %v, want %v", sent, wantSent)
			}
			if te.Opaque != (tt.token != "a.b.c") {
				t.Errorf("Opaque = %v", te.Opaque)
			}
		})
	}
}

// Only an issuer the route accepts introspects its tokens; a route whose
// issuers have no introspection refuses an opaque token as malformed,
// without asking anyone.
func TestOpaqueTokenNeedsAnIntrospectingIssuer(t *testing.T) {
	as := newAuthServer(t, map[string]map[string]any{"opaque": activeAnswer()})
	v := verifier(t, func(is *token.Issuer) { is.Introspection = as.client(t, time.Second) })
	if _, err := v.Verify(context.Background(), "opaque", []string{"other"}); reason(err) != outcome.Malformed {
		t.Errorf("a route without the introspecting issuer: %v, want malformed", err)
	}
	if _, err := verifier(t).Verify(context.Background(), "opaque", nil); reason(err) != outcome.Malformed {
		t.Errorf("no issuer introspects: %v, want malformed", err)
	}
	if n := as.calls.Load(); n != 0 {
		t.Errorf("%d introspection calls, want none", n)
	}
	if _, err := v.Verify(context.Background(), "opaque", []string{"corp"}); err != nil {
		t.Errorf("the route's introspecting issuer: %v", err)
	}
	// explain -no-verify's copy of the verifier still knows which issuer
	// introspects.
	if tok, err := v.WithoutSignatures().Verify(context.Background(), "opaque", nil); err != nil || !tok.Opaque {
		t.Errorf("WithoutSignatures: %v, %+v; want the opaque token introspected", err, tok)
	}
}

// An endpoint that is down or slower than its timeout fails closed for
// opaque tokens only, with 503 (not an auth failure); JWTs keep working.
func TestIntrospectionDownFailsClosedForOpaqueTokensOnly(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for name, url := range map[string]string{"slow": slow.URL, "down": down.URL} {
		t.Run(name, func(t *testing.T) {
			c, err := introspect.New(introspect.Options{Issuer: "corp", Endpoint: url, ClientID: "gw", Secret: "s", Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			v := verifier(t, func(is *token.Issuer) { is.Introspection = c })
			start := time.Now()
			_, err = v.Verify(context.Background(), "opaque-token", nil)
			if reason(err) != outcome.IntrospectionUnavailable {
				t.Fatalf("Verify = %v, want introspection_unavailable", err)
			}
			if waited := time.Since(start); waited > 3*time.Second {
				t.Errorf("waited %s for an endpoint with a 200ms timeout", waited)
			}
			if row := outcome.Of(outcome.IntrospectionUnavailable); row.Status != http.StatusServiceUnavailable || row.AuthFailure || row.RetryAfter == "" {
				t.Errorf("row = %+v, want 503 with Retry-After and no auth failure", row)
			}
			if _, err := v.Verify(context.Background(), rsaKey.Sign(claims()), nil); err != nil {
				t.Errorf("a JWT while introspection is down: %v", err)
			}
		})
	}
}

// A revoked JWT is refused even when its verification is cached, and a
// list that never loaded refuses every token of the issuer (503).
func TestRevocationListAppliesToCachedJWTs(t *testing.T) {
	f := cachedVerifier(t, nil)
	good := rsaKey.Sign(claims().With("jti", "j-1"))
	if _, err := f.v.Verify(context.Background(), good, nil); err != nil {
		t.Fatal(err)
	}
	list := revocationList(t, `{"entries": [{"jti": "j-1", "exp": 1900003600}, {"sub": "bob", "before": 1900000000}]}`)
	// The same issuer with a list: a new verifier, since the list is part
	// of how it verifies; the token is then verified afresh and cached.
	revoking, err := token.NewVerifier([]token.Issuer{{
		Name: "corp", Issuer: iss, Audiences: []string{"orders-api"},
		Algorithms: []string{"RS256"}, ClockSkew: 30 * time.Second, RequiredClaims: []string{"exp"},
		Keys:       versionedKeys{keyList{rsaKey}, &f.version},
		Cache:      token.CacheOptions{MaxEntries: 100, MaxTTL: time.Hour},
		Revocation: list,
	}})
	if err != nil {
		t.Fatal(err)
	}
	revoking = revoking.WithClock(func() time.Time { return now })
	unrevoked := rsaKey.Sign(claims().With("jti", "j-2"))
	for range 2 { // the second time from the cache
		if _, err := revoking.Verify(context.Background(), unrevoked, nil); err != nil {
			t.Fatalf("a jti the list does not name: %v", err)
		}
		if _, err := revoking.Verify(context.Background(), good, nil); reason(err) != outcome.Revoked {
			t.Errorf("a revoked jti: %v, want revoked", err)
		}
	}
	bobOld := rsaKey.Sign(claims().With("sub", "bob", "iat", now.Add(-time.Second).Unix()))
	bobNew := rsaKey.Sign(claims().With("sub", "bob", "iat", now.Unix()))
	bobNoIat := rsaKey.Sign(claims().With("sub", "bob", "iat", nil))
	if _, err := revoking.Verify(context.Background(), bobOld, nil); reason(err) != outcome.Revoked {
		t.Errorf("bob's token issued a second before his entry: %v, want revoked", err)
	}
	if _, err := revoking.Verify(context.Background(), bobNew, nil); err != nil {
		t.Errorf("bob's token issued at his entry's time: %v, want accepted", err)
	}
	if _, err := revoking.Verify(context.Background(), bobNoIat, nil); reason(err) != outcome.Revoked {
		t.Errorf("bob's token without iat: %v, want revoked", err)
	}

	unloaded, err := revocation.New(revocation.Options{Issuer: "corp", URI: "file:///nonexistent/revoked.json"})
	if err != nil {
		t.Fatal(err)
	}
	blind := verifier(t, func(is *token.Issuer) { is.Revocation = unloaded })
	if _, err := blind.Verify(context.Background(), rsaKey.Sign(claims()), nil); reason(err) != outcome.RevocationUnavailable {
		t.Errorf("a list that never loaded: %v, want revocation_unavailable", err)
	}
}

// introspect_jwts asks about JWTs that verified, cached ones included: an
// inactive answer refuses a JWT whose signature is good.
func TestIntrospectJWTs(t *testing.T) {
	good, revoked := rsaKey.Sign(claims().With("jti", "a")), rsaKey.Sign(claims().With("jti", "b"))
	as := newAuthServer(t, map[string]map[string]any{good: {"active": true}})
	v := verifier(t, func(is *token.Issuer) {
		is.Introspection = as.client(t, time.Second)
		is.IntrospectJWTs = true
	})
	if _, err := v.Verify(context.Background(), good, nil); err != nil {
		t.Errorf("an active JWT: %v", err)
	}
	if _, err := v.Verify(context.Background(), revoked, nil); reason(err) != outcome.Inactive {
		t.Errorf("a JWT the server says is inactive: %v, want inactive", err)
	}
	if _, err := v.Verify(context.Background(), rsaKey.Sign(claims().With("aud", "x")), nil); reason(err) != outcome.BadAudience {
		t.Errorf("a JWT that fails its own checks is refused before asking: %v", err)
	}
	if !v.Runs("corp", false, token.CheckIntrospection) || verifier(t).Runs("corp", false, token.CheckIntrospection) {
		t.Error("Runs does not say which issuers introspect JWTs")
	}
}
