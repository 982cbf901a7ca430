package introspect

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/portcullis/portcullis/remote"
)

// assertionLifetime is how long a client assertion is valid: long enough for
// clock skew between the gateway and the server, short enough that one seen
// in a server's log is useless by the time anyone reads it.
const assertionLifetime = 60 * time.Second

// jwtBearer is the client_assertion_type of a JWT client assertion (RFC 7523 §2.2).
const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// defaultClient bounds every phase of a call (remote.Transport); the call as a
// whole is bounded by Options.Timeout, which is shorter. It keeps more idle
// connections than the key set client: it is asked on the request path,
// once per new token.
func defaultClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: remote.Transport(32)}
}

// noRedirects returns a copy of hc (or the default client) that never
// follows a redirect: a 307 or 308 would re-post the token and the client's
// credentials to wherever the server points. The 3xx answer itself is then
// refused like any status other than 200.
func noRedirects(hc *http.Client) *http.Client {
	if hc == nil {
		hc = defaultClient()
	}
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// authenticator adds the client's credentials to the header or the form of
// a call to endpoint.
type authenticator func(header http.Header, form url.Values, endpoint string) error

// secretAuth authenticates with the client secret, in the header or the form.
func secretAuth(m Method, id, secret string) authenticator {
	if m == ClientSecretPost {
		return func(_ http.Header, form url.Values, _ string) error {
			form.Set("client_id", id)
			form.Set("client_secret", secret)
			return nil
		}
	}
	basic := "Basic " + basicCredential(id, secret)
	return func(header http.Header, _ url.Values, _ string) error {
		header.Set("Authorization", basic)
		return nil
	}
}

// basicCredential is the base64 credential client_secret_basic sends. RFC
// 6749 §2.3.1: both parts are form-urlencoded before they are joined by the
// colon, so that a colon (or anything else) in either survives.
func basicCredential(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// signingAlgorithms are those a private_key_jwt assertion may use: the
// asymmetric ones (an HMAC assertion is client_secret_jwt, and none is no
// authentication).
var signingAlgorithms = map[jwa.SignatureAlgorithm]bool{
	jwa.RS256: true, jwa.RS384: true, jwa.RS512: true,
	jwa.PS256: true, jwa.PS384: true, jwa.PS512: true,
	jwa.ES256: true, jwa.ES384: true, jwa.ES512: true,
	jwa.EdDSA: true,
}

// keyAuth authenticates with a client assertion signed by key (RFC 7523 §3):
// iss and sub are the client ID, aud the endpoint, and each call has its own
// jti, so that a server that remembers jtis refuses a replayed one. It signs
// one assertion now, so that a key that cannot sign with alg fails New.
func keyAuth(id string, key jwk.Key, alg jwa.SignatureAlgorithm, now func() time.Time) (authenticator, error) {
	if key == nil {
		return nil, errors.New("a private key is required")
	}
	switch key.(type) {
	case jwk.RSAPrivateKey, jwk.ECDSAPrivateKey, jwk.OKPPrivateKey:
	default:
		return nil, fmt.Errorf("the key (kty %s) is not an RSA, EC or OKP private key", key.KeyType())
	}
	if !signingAlgorithms[alg] {
		return nil, fmt.Errorf("algorithm %q is not an asymmetric signature algorithm", clip(string(alg)))
	}
	sign := func(endpoint string) (string, error) {
		t := now()
		tok, err := jwt.NewBuilder().
			Issuer(id).
			Subject(id).
			Audience([]string{endpoint}).
			JwtID(rand.Text()).
			IssuedAt(t).
			Expiration(t.Add(assertionLifetime)).
			Build()
		if err != nil {
			return "", err
		}
		signed, err := jwt.Sign(tok, jwt.WithKey(alg, key))
		return string(signed), err
	}
	if _, err := sign("https://example.invalid/introspect"); err != nil {
		return nil, fmt.Errorf("cannot sign with %s: %v", alg, err)
	}
	return func(_ http.Header, form url.Values, endpoint string) error {
		assertion, err := sign(endpoint)
		if err != nil {
			return fmt.Errorf("signing the client assertion: %v", err)
		}
		form.Set("client_id", id)
		form.Set("client_assertion_type", jwtBearer)
		form.Set("client_assertion", assertion)
		return nil
	}, nil
}

// endpointURL is the configured endpoint, or the one Resolve finds. One
// Resolve runs at a time, and once one succeeds its answer is kept.
func (c *Client) endpointURL(ctx context.Context) (string, error) {
	if e := c.endpoint.Load(); e != nil {
		return *e, nil
	}
	select {
	case c.resolving <- struct{}{}:
	case <-ctx.Done():
		return "", c.unavailable("resolving the endpoint: %w", ctx.Err())
	}
	defer func() { <-c.resolving }()
	if e := c.endpoint.Load(); e != nil {
		return *e, nil
	}
	e, err := c.resolve(ctx)
	if err != nil {
		return "", c.unavailable("resolving the endpoint: %w", err)
	}
	if err := checkEndpoint(e); err != nil {
		return "", c.unavailable("resolved endpoint: %v", err)
	}
	c.endpoint.Store(&e)
	return e, nil
}

// ask makes one call to the endpoint (RFC 7662 §2.1) and judges its answer.
func (c *Client) ask(ctx context.Context, token string) (Response, error) {
	endpoint, err := c.endpointURL(ctx)
	if err != nil {
		return Response{}, err
	}
	form := url.Values{
		"token":           {token},
		"token_type_hint": {"access_token"},
	}
	header := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
		"User-Agent":   {"portcullis"},
	}
	if err := c.auth(header, form, endpoint); err != nil {
		return Response{}, c.unavailable("%v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Response{}, c.unavailable("%v", err)
	}
	req.Header = header

	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error names the method and the password-stripped URL; the
		// token is in the body, which it never quotes.
		return Response{}, c.unavailable("%w", err)
	}
	defer resp.Body.Close()
	return c.read(resp, token)
}

// unavailable is an error wrapping ErrUnavailable with detail about the
// issuer's endpoint. Callers never pass it the token or the secret.
func (c *Client) unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: issuer %s: "+format, append([]any{ErrUnavailable, c.issuer}, args...)...)
}
