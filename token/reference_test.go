package token_test

import (
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/portcullis/portcullis/token/tokentest"
)

// The reference for the Verify benchmarks: what one jwx jwt.Parse costs on
// the same token with the same keys (the bench harness's bare+jwx does this
// per request). Verify should cost no more.
func BenchmarkJWXParseRS256(b *testing.B) { benchJWXParse(b, rsaKey) }
func BenchmarkJWXParseES256(b *testing.B) { benchJWXParse(b, ecKey) }
func BenchmarkJWXParseEdDSA(b *testing.B) { benchJWXParse(b, edKey) }

func benchJWXParse(b *testing.B, k *tokentest.Key) {
	set := jwk.NewSet()
	for _, key := range []*tokentest.Key{rsaKey, ecKey, edKey} {
		if err := set.AddKey(key.Public); err != nil {
			b.Fatal(err)
		}
	}
	tok := []byte(k.Sign(claims()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.Parse(tok, jwt.WithKeySet(set), jwt.WithValidate(true),
			jwt.WithIssuer(iss), jwt.WithAudience("orders-api"),
			jwt.WithAcceptableSkew(30*time.Second), jwt.WithClock(jwt.ClockFunc(func() time.Time { return now }))); err != nil {
			b.Fatal(err)
		}
	}
}
