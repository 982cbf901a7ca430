package attack_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/token/tokentest"
)

// The cost of a refusal is what an attacker can make the gateway spend
// per request. These benchmarks measure it through the whole handler, for
// the refusals that stop before any signature check and for the ones that
// need one; a 100 KB token must cost no more than a short malformed one.
func benchmarkRefusal(b *testing.B, req func(tg *target) *http.Request, status int) {
	tg := newTarget(b, func(s *settings) { s.discardLogs = true })
	r := req(tg)
	rec := httptest.NewRecorder()
	tg.h.ServeHTTP(rec, r)
	if rec.Code != status {
		b.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		tg.h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

func BenchmarkRefuseNoToken(b *testing.B) {
	benchmarkRefusal(b, func(*target) *http.Request { return request("/private/x", nil) }, 401)
}

func BenchmarkRefuseMalformedToken(b *testing.B) {
	benchmarkRefusal(b, func(*target) *http.Request { return request("/private/x", []string{"Bearer abc.def"}) }, 401)
}

func BenchmarkRefuse100KBToken(b *testing.B) {
	benchmarkRefusal(b, func(*target) *http.Request {
		return request("/private/x", []string{"Bearer " + strings.Repeat("a", 50<<10) + "." + strings.Repeat("b", 50<<10) + ".c"})
	}, 401)
}

func BenchmarkRefuseAlgNone(b *testing.B) {
	benchmarkRefusal(b, func(tg *target) *http.Request {
		return request("/private/x", bearer(tokentest.Compact(header("alg", "none", "kid", "rsa-1"), payloadJSON(tg.claims("")), []byte("x"))))
	}, 401)
}

func BenchmarkRefuseHMACWithThePublicKey(b *testing.B) {
	benchmarkRefusal(b, func(tg *target) *http.Request {
		return request("/private/x", bearer(hmacToken("HS256", pkixPEM(tg.rsa), header("alg", "HS256", "kid", "rsa-1"), payloadJSON(tg.claims("")))))
	}, 401)
}

func BenchmarkRefuseUnknownKid(b *testing.B) {
	benchmarkRefusal(b, func(tg *target) *http.Request {
		return request("/private/x", bearer(forge(attackerRSA, header("alg", "RS256", "kid", "attacker-1"), payloadJSON(tg.claims("")))))
	}, 401)
}

func BenchmarkRefuseBadSignatureRS256(b *testing.B) {
	benchmarkRefusal(b, func(tg *target) *http.Request {
		return request("/private/x", bearer(forge(attackerRSA, header("alg", "RS256", "kid", "rsa-1"), payloadJSON(tg.claims("")))))
	}, 401)
}

func BenchmarkRefuseBadSignatureEdDSA(b *testing.B) {
	benchmarkRefusal(b, func(tg *target) *http.Request {
		return request("/private/x", bearer(forge(wrongEd(), header("alg", "EdDSA", "kid", "ed-1"), payloadJSON(tg.claims("")))))
	}, 401)
}

func BenchmarkRefuseExpiredTokenRS256(b *testing.B) {
	benchmarkRefusal(b, func(tg *target) *http.Request {
		return request("/private/x", bearer(tg.rsa.Sign(tg.claims("").With("exp", 1000))))
	}, 401)
}

// wrongEd is an Ed25519 key with the real key's kid.
func wrongEd() *tokentest.Key { return tokentest.Ed25519("ed-1") }
