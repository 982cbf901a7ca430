package providers_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/token/tokentest"
)

// Quirks that no single provider above owns but that users meet with
// self-hosted or older identity providers. examples/hydra.yaml is only the
// vehicle here: what is tested is the key set's shape.
func TestKeySetQuirks(t *testing.T) {
	reuseKeys()
	first, second := rsaKey(""), rsaKey("")
	leaf, ca := rsaKey(""), rsaKey("")
	chain := chainOf(t, leaf, ca)
	p := startProvider(t, "hydra.yaml", jwksDoc(
		rsaJWK(first, map[string]any{"use": "sig"}),               // no kid, no alg
		rsaJWK(second, map[string]any{"use": "sig"}),              // no kid, no alg
		rsaJWK(leaf, map[string]any{"kid": "leaf", "x5c": chain}), // a two-certificate chain
	))
	iss := p.issuer("hydra")
	claims := merge(times(hour), tokentest.Claims{"iss": iss, "aud": []string{"orders-api"}, "sub": "svc", "scp": []string{"orders:read"}})
	noKid := map[string]any{"kid": ""}

	p.check(t, []request{
		{name: "a token without kid is verified against the keys without kid",
			path: "/orders", token: first.Sign(claims, noKid), status: http.StatusOK},
		{name: "a token without kid signed by the second such key is verified too",
			path: "/orders", token: second.Sign(claims, noKid), status: http.StatusOK},
		{name: "a token naming a kid the set does not have is refused, not tried against every key",
			path: "/orders", token: first.Sign(claims, map[string]any{"kid": "k1"}),
			status: http.StatusUnauthorized, challenge: "signed by an unknown key"},
		{name: "a token without kid that no key verifies is a bad signature",
			path: "/orders", token: rsaKey("").Sign(claims, noKid),
			status: http.StatusUnauthorized, challenge: "signature is invalid"},
		{name: "a key published with an x5c chain (leaf and CA) verifies by its n and e",
			path: "/orders", token: leaf.Sign(claims, map[string]any{"kid": "leaf"}), status: http.StatusOK},
		{name: "the CA key of an x5c chain is not a verification key",
			path: "/orders", token: ca.Sign(claims, map[string]any{"kid": "leaf"}),
			status: http.StatusUnauthorized, challenge: "signature is invalid"},
	})
}

// chainOf returns an x5c member: a certificate for leaf issued by a
// self-signed CA certificate for ca, leaf first (RFC 7517 §4.7).
func chainOf(t *testing.T, leaf, ca *tokentest.Key) []string {
	t.Helper()
	var caPriv any
	if err := ca.Private.Raw(&caPriv); err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Issuing CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, ca.RawPublic(), caPriv)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "token-signing"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, leaf.RawPublic(), caPriv)
	if err != nil {
		t.Fatal(err)
	}
	return []string{base64.StdEncoding.EncodeToString(leafDER), base64.StdEncoding.EncodeToString(caDER)}
}
