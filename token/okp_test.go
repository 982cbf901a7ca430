package token_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/token"
	"github.com/portcullis/portcullis/token/tokentest"
)

// TestAnEd25519KeyOfTheWrongLengthPanicsNothing: jwx reads an OKP key's x
// at any length, and crypto/ed25519 panics on a public key that is not 32
// bytes. A key set that publishes one (a broken or hostile identity
// provider) must not let any client who names it, or who sends an EdDSA
// token without kid, panic the verification: such a key is never served,
// and tokens naming it are refused like any other.
func TestAnEd25519KeyOfTheWrongLengthPanicsNothing(t *testing.T) {
	good := tokentest.Ed25519("good")
	goodJSON, err := json.Marshal(good.Public)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{31, 33} {
		t.Run(fmt.Sprintf("x of %d bytes", n), func(t *testing.T) {
			idp := tokentest.NewIssuer()
			defer idp.Close()
			x := base64.RawURLEncoding.EncodeToString(make([]byte, n))
			idp.SetBody([]byte(fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":%q,"kid":"short","use":"sig"},%s]}`, x, goodJSON)))
			ks := jwks.New(jwks.Source{Issuer: "corp", JWKSURI: idp.JWKSURL(), Algorithms: []string{"EdDSA"}}, nil, nil, nil)
			if err := ks.Refresh(context.Background()); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			v, err := token.NewVerifier([]token.Issuer{{
				Name: "corp", Issuer: iss, Audiences: []string{"orders-api"}, Algorithms: []string{"EdDSA"},
				RequiredClaims: []string{"exp"}, Keys: ks,
			}})
			if err != nil {
				t.Fatal(err)
			}
			v = v.WithClock(func() time.Time { return now })
			attacker := tokentest.Ed25519("short")
			for _, tc := range []struct {
				name string
				tok  string
				want outcome.Reason
			}{
				{"a token naming the key", attacker.Sign(claims(), map[string]any{"alg": jwa.EdDSA}), outcome.UnknownKey},
				{"an EdDSA token without kid", attacker.Sign(claims(), map[string]any{"alg": jwa.EdDSA, "kid": ""}), outcome.BadSignature},
			} {
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Errorf("%s: Verify panicked: %v", tc.name, p)
						}
					}()
					if _, err := v.Verify(context.Background(), tc.tok, nil); reason(err) != tc.want {
						t.Errorf("%s: Verify = %v, want %s", tc.name, err, tc.want)
					}
				}()
			}
			// The good key still verifies.
			if _, err := v.Verify(context.Background(), good.Sign(claims(), map[string]any{"alg": jwa.EdDSA}), nil); err != nil {
				t.Errorf("a token of the good key: %v", err)
			}
		})
	}
}
