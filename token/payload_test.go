package token_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"testing"

	"github.com/portcullis/portcullis/outcome"
)

// signRS256 signs header and payload, written as given, with rsaKey.
func signRS256(t *testing.T, header, payload string) string {
	t.Helper()
	var raw any
	if err := rsaKey.Private.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	h := crypto.SHA256.New()
	h.Write([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, raw.(*rsa.PrivateKey), crypto.SHA256, h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

// TestAPayloadWithAClosingDelimiterAfterItIsMalformed: the payload must be
// exactly one JSON object (RFC 7519 §7.2 step 10), whatever follows it: a
// stray '}' or ']' is trailing data like any other, which no strict reader
// of the same token (an upstream, a library) would take as claims.
func TestAPayloadWithAClosingDelimiterAfterItIsMalformed(t *testing.T) {
	v := verifier(t)
	const hdr = `{"alg":"RS256","kid":"rsa"}`
	const pl = `{"iss":"https://idp.example.com/","sub":"alice","aud":"orders-api","exp":1900000060}`
	if _, err := v.Verify(context.Background(), signRS256(t, hdr, pl+" \n"), nil); err != nil {
		t.Fatalf("the payload followed by white space: %v", err)
	}
	for _, trailer := range []string{"}", "]", " }", "}}", "]}"} {
		if _, err := v.Verify(context.Background(), signRS256(t, hdr, pl+trailer), nil); reason(err) != outcome.Malformed {
			t.Errorf("the payload followed by %q: Verify = %v, want malformed", trailer, err)
		}
	}
}
