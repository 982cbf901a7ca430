package attack_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/token/tokentest"
)

// forgery is one forged or tampered token, sent to a route that requires a
// valid one.
type forgery struct {
	name   string
	ref    string // the CVE, CWE or RFC section the case covers
	tok    func(tg *target) string
	reason string // portcullis_auth_failures_total reason
	issuer string // and its issuer label; "" means "unknown"
	path   string // "" means /orders/1 (issuer corp, scope orders:read)
}

// TestForgedTokens: every forgery is refused with 401 and its reason, and
// nothing reaches the upstream. The reasons matter: a forgery must be
// reported as what it is (a bad algorithm, a bad signature), never as, say,
// expired, and a case whose reason changes usually means that a defence
// stopped running and a later one happened to catch the token.
func TestForgedTokens(t *testing.T) {
	tg := newTarget(t)
	var cases []forgery
	cases = append(cases, algNone()...)
	cases = append(cases, algorithmConfusion()...)
	cases = append(cases, algorithmChoice()...)
	cases = append(cases, keyInjection()...)
	cases = append(cases, kidInjection()...)
	cases = append(cases, badSignatures()...)
	cases = append(cases, badStructure()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ref == "" {
				t.Fatal("every case names the CVE, CWE or RFC section it covers")
			}
			issuer := tc.issuer
			if issuer == "" {
				issuer = "unknown"
			}
			path := tc.path
			if path == "" {
				path = "/orders/1"
			}
			tg.refused(t, request(path, bearer(tc.tok(tg))), http.StatusUnauthorized, issuer, tc.reason)
			if n := tg.attacker.hits.Load(); n != 0 {
				t.Fatalf("the attacker's server was contacted %d times", n)
			}
		})
	}
	// A control: the same route takes a real token, so the refusals above
	// are about the forgeries and not about the route.
	tg.allowed(t, request("/orders/1", bearer(tg.rsa.Sign(tg.claims("orders:read")))))
}

// algNone: "alg": "none" in every spelling, with and without a signature,
// and headers that leave alg out or give it another type.
func algNone() []forgery {
	var out []forgery
	for _, alg := range []string{"none", "None", "NONE", "nOnE", "none ", " none"} {
		out = append(out,
			forgery{name: "alg " + alg + " with an empty signature is malformed", ref: "RFC 8725 §2.1, §3.1; CVE-2015-9235",
				tok: func(tg *target) string {
					return tokentest.Compact(header("alg", alg, "kid", "rsa-1"), payloadJSON(tg.claims("orders:read")), nil)
				}, reason: "malformed"},
			forgery{name: "alg " + alg + " with a signature is bad_algorithm", ref: "RFC 8725 §2.1, §3.1",
				tok: func(tg *target) string {
					return tokentest.Compact(header("alg", alg, "kid", "rsa-1"), payloadJSON(tg.claims("orders:read")), []byte("sig"))
				}, reason: "bad_algorithm", issuer: "corp"},
			forgery{name: "alg " + alg + " without kid is bad_algorithm", ref: "RFC 8725 §2.1, §3.1",
				tok: func(tg *target) string {
					return tokentest.Compact(header("alg", alg), payloadJSON(tg.claims("orders:read")), []byte("sig"))
				}, reason: "bad_algorithm", issuer: "corp"},
		)
	}
	out = append(out,
		forgery{name: "a header without alg is bad_algorithm", ref: "RFC 7515 §4.1.1",
			tok: func(tg *target) string {
				return tokentest.Compact(header("kid", "rsa-1"), payloadJSON(tg.claims("orders:read")), []byte("sig"))
			}, reason: "bad_algorithm", issuer: "corp"},
		forgery{name: "alg as a number is malformed", ref: "RFC 7515 §4.1.1",
			tok: func(tg *target) string {
				return tokentest.Compact(`{"alg":256,"kid":"rsa-1"}`, payloadJSON(tg.claims("orders:read")), []byte("sig"))
			}, reason: "malformed"},
		forgery{name: "alg as an array naming RS256 is malformed", ref: "RFC 7515 §4.1.1",
			tok: func(tg *target) string {
				return tokentest.Compact(`{"alg":["RS256","none"],"kid":"rsa-1"}`, payloadJSON(tg.claims("orders:read")), []byte("sig"))
			}, reason: "malformed"},
	)
	return out
}

// algorithmConfusion: HS256/384/512 tokens whose HMAC secret is the
// issuer's public key, in every encoding a library might hand to HMAC
// (CVE-2015-9235 jsonwebtoken, CVE-2016-10555 jwt-simple, CVE-2016-5431
// php-jose, CVE-2017-11424 PyJWT PEM, CVE-2022-29217 PyJWT).
func algorithmConfusion() []forgery {
	var out []forgery
	type secret struct {
		name string
		kid  string
		key  func(tg *target) []byte
	}
	secrets := []secret{
		{"RSA public key as PEM (PKIX)", "rsa-1", func(tg *target) []byte { return pkixPEM(tg.rsa) }},
		{"RSA public key as PEM (PKCS #1)", "rsa-1", func(tg *target) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(tg.rsa.RawPublic().(*rsa.PublicKey))})
		}},
		{"RSA public key as DER (PKIX)", "rsa-1", func(tg *target) []byte { return pkixDER(tg.rsa) }},
		{"RSA public key as DER (PKCS #1)", "rsa-1", func(tg *target) []byte {
			return x509.MarshalPKCS1PublicKey(tg.rsa.RawPublic().(*rsa.PublicKey))
		}},
		{"RSA public key as its JWK", "rsa-1", func(tg *target) []byte { return jwkJSON(tg.rsa) }},
		{"the whole JWKS document", "rsa-1", func(tg *target) []byte { return tokentest.JWKS(tg.rsa, tg.bare, tg.ec, tg.ed) }},
		{"RSA modulus bytes", "rsa-1", func(tg *target) []byte { return tg.rsa.RawPublic().(*rsa.PublicKey).N.Bytes() }},
		{"key without alg, as PEM", "rsa-bare", func(tg *target) []byte { return pkixPEM(tg.bare) }},
		{"EC public key as PEM", "ec-1", func(tg *target) []byte { return pkixPEM(tg.ec) }},
		{"EC public key as DER", "ec-1", func(tg *target) []byte { return pkixDER(tg.ec) }},
		{"EC public key as its JWK", "ec-1", func(tg *target) []byte { return jwkJSON(tg.ec) }},
		{"EC public point (uncompressed)", "ec-1", func(tg *target) []byte {
			p, _ := tg.ec.RawPublic().(*ecdsa.PublicKey).Bytes()
			return p
		}},
		{"Ed25519 public key bytes", "ed-1", func(tg *target) []byte { return []byte(tg.ed.RawPublic().(ed25519.PublicKey)) }},
	}
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		for _, s := range secrets {
			out = append(out, forgery{
				name: alg + " keyed with the " + s.name + " is bad_algorithm",
				ref:  "RFC 8725 §2.1, §3.1; CVE-2015-9235, CVE-2016-10555, CVE-2017-11424",
				tok: func(tg *target) string {
					return hmacToken(alg, s.key(tg), header("alg", alg, "kid", s.kid, "typ", "JWT"), payloadJSON(tg.claims("orders:read")))
				},
				reason: "bad_algorithm", issuer: "corp",
			})
		}
		out = append(out, forgery{
			name: alg + " without kid keyed with the RSA PEM is bad_algorithm",
			ref:  "RFC 8725 §3.1; CVE-2016-5431",
			tok: func(tg *target) string {
				return hmacToken(alg, pkixPEM(tg.rsa), header("alg", alg, "typ", "JWT"), payloadJSON(tg.claims("orders:read")))
			},
			reason: "bad_algorithm", issuer: "corp",
		})
	}
	return out
}

// algorithmChoice: algorithms the issuer does not allow, and allowed ones
// with a key that was not made for them. The signatures are real, so only
// the allow-list and the key/algorithm fit stand between these and a 200.
func algorithmChoice() []forgery {
	return []forgery{
		{name: "RS512 by a published key that has no alg is bad_algorithm (allow-list)", ref: "RFC 8725 §3.1",
			tok:    func(tg *target) string { return tg.bare.WithAlg("RS512").Sign(tg.claims("orders:read")) },
			reason: "bad_algorithm", issuer: "corp"},
		{name: "PS384 by a published key that has no alg is bad_algorithm (allow-list)", ref: "RFC 8725 §3.1",
			tok:    func(tg *target) string { return tg.bare.WithAlg("PS384").Sign(tg.claims("orders:read")) },
			reason: "bad_algorithm", issuer: "corp"},
		{name: "ES384 is bad_algorithm (allow-list)", ref: "RFC 8725 §3.1",
			tok:    func(tg *target) string { return tokentest.EC("ec-1", "ES384").Sign(tg.claims("orders:read")) },
			reason: "bad_algorithm", issuer: "corp"},
		{name: "alg rs256 in lower case is bad_algorithm", ref: "RFC 7515 §4.1.1 (case-sensitive)",
			tok: func(tg *target) string {
				return forgeAs(tg.rsa, "RS256", header("alg", "rs256", "kid", "rsa-1"), payloadJSON(tg.claims("orders:read")))
			},
			reason: "bad_algorithm", issuer: "corp"},
		{name: "PS256 by the key whose JWK pins RS256 is bad_algorithm (key fit)", ref: "RFC 7517 §4.4; RFC 8725 §3.1",
			tok:    func(tg *target) string { return tg.rsa.WithAlg("PS256").Sign(tg.claims("orders:read")) },
			reason: "bad_algorithm", issuer: "corp"},
		{name: "RS256 naming the EC key's kid is bad_algorithm (key fit)", ref: "RFC 8725 §3.1",
			tok: func(tg *target) string {
				return tg.rsa.Sign(tg.claims("orders:read"), map[string]any{"kid": "ec-1"})
			},
			reason: "bad_algorithm", issuer: "corp"},
		{name: "ES256 naming the RSA key's kid is bad_algorithm (key fit)", ref: "RFC 8725 §3.1",
			tok: func(tg *target) string {
				return tg.ec.Sign(tg.claims("orders:read"), map[string]any{"kid": "rsa-1"})
			},
			reason: "bad_algorithm", issuer: "corp"},
		{name: "EdDSA naming the RSA key's kid is bad_algorithm (key fit)", ref: "RFC 8725 §3.1",
			tok: func(tg *target) string {
				return tg.ed.Sign(tg.claims("orders:read"), map[string]any{"kid": "rsa-1"})
			},
			reason: "bad_algorithm", issuer: "corp"},
		{name: "a token of the slash issuer signed with a corp key is unknown_key (keys are per issuer)", ref: "RFC 8725 §3.8",
			tok: func(tg *target) string {
				return tg.rsa.Sign(tg.claims("orders:read").With("iss", tg.slash.URL()+"/"))
			},
			reason: "unknown_key", issuer: "slash", path: "/slash"},
		{name: "a slash-issuer token on a route that accepts only corp is bad_issuer", ref: "RFC 8725 §3.8",
			tok: func(tg *target) string {
				return tg.sk.Sign(tg.claims("orders:read").With("iss", tg.slash.URL()+"/"))
			},
			reason: "bad_issuer", issuer: "slash"},
		{name: "a corp token signed with the slash issuer's key is unknown_key", ref: "RFC 8725 §3.8",
			tok:    func(tg *target) string { return tg.sk.Sign(tg.claims("orders:read")) },
			reason: "unknown_key", issuer: "corp"},
	}
}

// keyInjection: headers that carry or point at the attacker's own key. The
// gateway takes keys only from the issuer's configured key set, so each of
// these is verified against the real keys (and fails) or names a kid the set
// does not have; and the attacker's server is never contacted.
func keyInjection() []forgery {
	attackerJWK := func() map[string]any {
		var m map[string]any
		_ = json.Unmarshal(jwkJSON(attackerRSA), &m)
		return m
	}
	return []forgery{
		{name: "an embedded jwk with the attacker's kid is unknown_key", ref: "CVE-2018-0114; RFC 7515 §4.1.3; RFC 8725 §3.10",
			tok: func(tg *target) string {
				return forge(attackerRSA, header("alg", "RS256", "kid", "attacker-1", "jwk", attackerJWK()), payloadJSON(tg.claims("orders:read")))
			},
			reason: "unknown_key", issuer: "corp"},
		{name: "an embedded jwk with the real kid is bad_signature", ref: "CVE-2018-0114; RFC 7515 §4.1.3",
			tok: func(tg *target) string {
				return forge(attackerRSA, header("alg", "RS256", "kid", "rsa-1", "jwk", attackerJWK()), payloadJSON(tg.claims("orders:read")))
			},
			reason: "bad_signature", issuer: "corp"},
		{name: "an embedded jwk without kid is bad_signature", ref: "CVE-2018-0114; RFC 7515 §4.1.3",
			tok: func(tg *target) string {
				return forge(attackerRSA, header("alg", "RS256", "jwk", attackerJWK()), payloadJSON(tg.claims("orders:read")))
			},
			reason: "bad_signature", issuer: "corp"},
		{name: "jku at the attacker's server is unknown_key, never fetched", ref: "RFC 7515 §4.1.2; RFC 8725 §3.10 (SSRF)",
			tok: func(tg *target) string {
				return forge(attackerRSA, header("alg", "RS256", "kid", "attacker-1", "jku", tg.attacker.URL+"/jwks"), payloadJSON(tg.claims("orders:read")))
			},
			reason: "unknown_key", issuer: "corp"},
		{name: "jku at the attacker's server with the real kid is bad_signature", ref: "RFC 7515 §4.1.2; RFC 8725 §3.10",
			tok: func(tg *target) string {
				return forge(attackerRSA, header("alg", "RS256", "kid", "rsa-1", "jku", tg.attacker.URL+"/jwks"), payloadJSON(tg.claims("orders:read")))
			},
			reason: "bad_signature", issuer: "corp"},
		{name: "x5u at the attacker's server is unknown_key, never fetched", ref: "RFC 7515 §4.1.5; RFC 8725 §3.10 (SSRF)",
			tok: func(tg *target) string {
				return forge(attackerRSA, header("alg", "RS256", "kid", "attacker-1", "x5u", tg.attacker.URL+"/cert.pem"), payloadJSON(tg.claims("orders:read")))
			},
			reason: "unknown_key", issuer: "corp"},
		{name: "x5c with the attacker's certificate and no kid is bad_signature", ref: "RFC 7515 §4.1.6; RFC 8725 §3.10",
			tok: func(tg *target) string {
				return forge(attackerRSA, header("alg", "RS256", "x5c", []string{attackerCert()}), payloadJSON(tg.claims("orders:read")))
			},
			reason: "bad_signature", issuer: "corp"},
		{name: "x5c with the attacker's certificate and the real kid is bad_signature", ref: "RFC 7515 §4.1.6",
			tok: func(tg *target) string {
				return forge(attackerRSA, header("alg", "RS256", "kid", "rsa-1", "x5c", []string{attackerCert()}), payloadJSON(tg.claims("orders:read")))
			},
			reason: "bad_signature", issuer: "corp"},
		{name: "jku, x5u, jwk and x5c together are unknown_key", ref: "RFC 8725 §3.10",
			tok: func(tg *target) string {
				return forge(attackerRSA, header("alg", "RS256", "kid", "attacker-1", "jku", tg.attacker.URL, "x5u", tg.attacker.URL,
					"jwk", attackerJWK(), "x5c", []string{attackerCert()}), payloadJSON(tg.claims("orders:read")))
			},
			reason: "unknown_key", issuer: "corp"},
		{name: "a token signed by another key with the real kid is bad_signature", ref: "RFC 7515 §5.2",
			tok:    func(tg *target) string { return wrongEC.Sign(tg.claims("orders:read")) },
			reason: "bad_signature", issuer: "corp"},
	}
}

// kidInjection: kid values that would hurt a gateway that used kid as a
// file name, a SQL parameter or a log field (RFC 8725 §3.10).
func kidInjection() []forgery {
	var out []forgery
	for _, kid := range []struct{ name, kid string }{
		{"path traversal", "../../../../../../dev/null"},
		{"absolute path", "/etc/passwd"},
		{"SQL injection", "x' UNION SELECT 'secret' --"},
		{"shell metacharacters", "$(id);`id`|id"},
		{"4000 bytes", strings.Repeat("k", 4000)},
		{"NUL and CR LF", "rsa-1\x00\r\nX-Injected: 1"},
		{"the real kid in upper case", "RSA-1"},
		{"the real kid with a trailing space", "rsa-1 "},
	} {
		out = append(out, forgery{
			name: "kid with " + kid.name + " is unknown_key", ref: "RFC 8725 §3.10; RFC 7515 §4.1.4",
			tok: func(tg *target) string {
				return forge(attackerRSA, header("alg", "RS256", "kid", kid.kid), payloadJSON(tg.claims("orders:read")))
			},
			reason: "unknown_key", issuer: "corp",
		})
	}
	out = append(out,
		forgery{name: "kid as a number is malformed", ref: "RFC 7515 §4.1.4",
			tok: func(tg *target) string {
				return forge(attackerRSA, `{"alg":"RS256","kid":1}`, payloadJSON(tg.claims("orders:read")))
			},
			reason: "malformed"},
		forgery{name: "kid as an object is malformed", ref: "RFC 7515 §4.1.4",
			tok: func(tg *target) string {
				return forge(attackerRSA, `{"alg":"RS256","kid":{"$ne":""}}`, payloadJSON(tg.claims("orders:read")))
			},
			reason: "malformed"},
	)
	return out
}

// badSignatures: real tokens whose signature is zeroed, stripped,
// truncated, swapped or moved.
func badSignatures() []forgery {
	ecToken := func(tg *target, sig []byte) string {
		return tokentest.Compact(header("alg", "ES256", "kid", "ec-1", "typ", "JWT"), payloadJSON(tg.claims("orders:read")), sig)
	}
	pad := func(b []byte, n int) []byte { return append(make([]byte, n-len(b)), b...) }
	return []forgery{
		{name: "ES256 with r = s = 0 is bad_signature", ref: "CVE-2022-21449",
			tok: func(tg *target) string { return ecToken(tg, make([]byte, 64)) }, reason: "bad_signature", issuer: "corp"},
		{name: "ES256 with r = s = n is bad_signature", ref: "CVE-2022-21449",
			tok: func(tg *target) string {
				return ecToken(tg, append(pad(ecOrder, 32), pad(ecOrder, 32)...))
			}, reason: "bad_signature", issuer: "corp"},
		{name: "ES256 with r = 0 and a real s is bad_signature", ref: "CVE-2022-21449",
			tok: func(tg *target) string {
				real := sigOf(tg.ec.Sign(tg.claims("orders:read")))
				return ecToken(tg, append(make([]byte, 32), real[32:]...))
			}, reason: "bad_signature", issuer: "corp"},
		{name: "ES256 with an ASN.1 DER signature is bad_signature", ref: "RFC 7518 §3.4",
			tok: func(tg *target) string {
				input := tokenInput(ecToken(tg, nil))
				h := sha256.Sum256([]byte(input))
				der, _ := ecdsa.SignASN1(rand.Reader, ecPrivate(), h[:])
				return input + "." + base64.RawURLEncoding.EncodeToString(der)
			}, reason: "bad_signature", issuer: "corp"},
		{name: "ES256 with a 65-byte signature is bad_signature", ref: "RFC 7518 §3.4",
			tok: func(tg *target) string {
				return ecToken(tg, append(sigOf(tg.ec.Sign(tg.claims("orders:read"))), 0))
			}, reason: "bad_signature", issuer: "corp"},
		{name: "an empty signature segment is malformed", ref: "CVE-2020-28042; RFC 7515 §7.1",
			tok: func(tg *target) string {
				return tokenInput(tg.rsa.Sign(tg.claims("orders:read"))) + "."
			}, reason: "malformed"},
		{name: "a token without its signature segment is malformed", ref: "RFC 7515 §7.1",
			tok: func(tg *target) string {
				return tokenInput(tg.rsa.Sign(tg.claims("orders:read")))
			}, reason: "malformed"},
		{name: "a signature truncated at a byte boundary is bad_signature", ref: "RFC 7515 §5.2",
			tok: func(tg *target) string {
				// 256 bytes are 342 characters; 255 are 340 whose last
				// character's unused bits are zero once re-encoded.
				tok := tg.rsa.Sign(tg.claims("orders:read"))
				dot := strings.LastIndexByte(tok, '.')
				sig, _ := base64.RawURLEncoding.DecodeString(tok[dot+1:])
				return tok[:dot+1] + base64.RawURLEncoding.EncodeToString(sig[:len(sig)-1])
			}, reason: "bad_signature", issuer: "corp"},
		{name: "a signature truncated mid-character is malformed (non-canonical base64url)", ref: "RFC 4648 §3.5",
			tok: func(tg *target) string {
				// 342 characters less 8 leave 334, whose last character
				// carries 4 unused bits; setting the lowest one makes the
				// spelling non-canonical whatever the signature's bytes.
				tok := tg.rsa.Sign(tg.claims("orders:read"))
				tok = tok[:len(tok)-8]
				const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
				return tok[:len(tok)-1] + string(alphabet[strings.IndexByte(alphabet, tok[len(tok)-1])|1])
			}, reason: "malformed"},
		{name: "a signature with one flipped bit is bad_signature", ref: "RFC 7515 §5.2",
			tok: func(tg *target) string {
				tok := tg.rsa.Sign(tg.claims("orders:read"))
				sig := sigOf(tok)
				sig[10] ^= 1
				return tokenInput(tok) + "." + base64.RawURLEncoding.EncodeToString(sig)
			}, reason: "bad_signature", issuer: "corp"},
		{name: "a signature swapped in from another real token is bad_signature", ref: "RFC 7515 §5.2",
			tok: func(tg *target) string {
				mine := tg.rsa.Sign(tg.claims("profile"))
				admin := tg.rsa.Sign(tg.claims("orders:read"))
				return tokenInput(admin) + "." + base64.RawURLEncoding.EncodeToString(sigOf(mine))
			}, reason: "bad_signature", issuer: "corp"},
		{name: "a real payload with a widened scope is bad_signature", ref: "RFC 7515 §5.2",
			tok: func(tg *target) string {
				tok := tg.rsa.Sign(tg.claims("profile"))
				h, _, s := tokentest.Segments(tok)
				return h + "." + base64.RawURLEncoding.EncodeToString([]byte(payloadJSON(tg.claims("orders:read")))) + "." + s
			}, reason: "bad_signature", issuer: "corp"},
		{name: "a real RS256 signature relabelled PS256 is bad_algorithm", ref: "RFC 8725 §3.1",
			tok: func(tg *target) string {
				tok := tg.rsa.Sign(tg.claims("orders:read"))
				_, p, s := tokentest.Segments(tok)
				return base64.RawURLEncoding.EncodeToString([]byte(header("alg", "PS256", "kid", "rsa-1"))) + "." + p + "." + s
			}, reason: "bad_algorithm", issuer: "corp"},
		{name: "a real EdDSA signature on an RS256 header is bad_algorithm", ref: "RFC 8725 §3.1",
			tok: func(tg *target) string {
				tok := tg.ed.Sign(tg.claims("orders:read"))
				_, p, s := tokentest.Segments(tok)
				return base64.RawURLEncoding.EncodeToString([]byte(header("alg", "RS256", "kid", "ed-1"))) + "." + p + "." + s
			}, reason: "bad_algorithm", issuer: "corp"},
	}
}

// badStructure: what is not a compact JWS of a JSON object.
func badStructure() []forgery {
	claims := func(tg *target) string { return payloadJSON(tg.claims("orders:read")) }
	segs := func(tg *target) (string, string, string) {
		return tokentest.Segments(tg.rsa.Sign(tg.claims("orders:read")))
	}
	out := []forgery{
		{name: "two segments are malformed", ref: "RFC 7515 §7.1",
			tok: func(tg *target) string { h, p, _ := segs(tg); return h + "." + p }, reason: "malformed"},
		{name: "four segments are malformed", ref: "RFC 7515 §7.1",
			tok: func(tg *target) string { h, p, s := segs(tg); return h + "." + p + "." + s + "." + s }, reason: "malformed"},
		{name: "five segments (a JWE) are malformed", ref: "RFC 7516 §7.1; RFC 8725 §2.8",
			tok: func(tg *target) string { h, p, s := segs(tg); return h + ".." + p + "." + s + "." + s }, reason: "malformed"},
		{name: "an empty header segment is malformed", ref: "RFC 7515 §7.1",
			tok: func(tg *target) string { _, p, s := segs(tg); return "." + p + "." + s }, reason: "malformed"},
		{name: "an empty payload segment is malformed", ref: "RFC 7515 §7.1",
			tok: func(tg *target) string { h, _, s := segs(tg); return h + ".." + s }, reason: "malformed"},
		{name: "standard base64 with + and / is malformed", ref: "RFC 7515 §2 (base64url)",
			tok: func(tg *target) string {
				h, p, s := segs(tg)
				return h + "." + p + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s) + "+/"
			}, reason: "malformed"},
		{name: "base64 padding is malformed", ref: "RFC 7515 §2 (no padding)",
			tok: func(tg *target) string { h, p, s := segs(tg); return h + "=." + p + "." + s }, reason: "malformed"},
		{name: "a percent-encoded dot is malformed", ref: "RFC 7515 §7.1",
			tok: func(tg *target) string { h, p, s := segs(tg); return h + "%2E" + p + "." + s }, reason: "malformed"},
		{name: "white space inside the token is malformed", ref: "RFC 6750 §2.1 (b64token)",
			tok: func(tg *target) string { h, p, s := segs(tg); return h + ". " + p + "." + s }, reason: "malformed"},
		{name: "a header segment of impossible base64 length is malformed", ref: "RFC 4648 §5",
			tok: func(tg *target) string { _, p, s := segs(tg); return "eyJhbGciOiJSUzI1NiJ9A." + p + "." + s }, reason: "malformed"},
		{name: "a header that is not JSON is malformed", ref: "RFC 7515 §5.2",
			tok: func(tg *target) string { return tokentest.Compact("RS256", claims(tg), []byte("sig")) }, reason: "malformed"},
		{name: "a header that is a JSON array is malformed", ref: "RFC 7515 §5.2",
			tok: func(tg *target) string { return tokentest.Compact(`["RS256"]`, claims(tg), []byte("sig")) }, reason: "malformed"},
		{name: "crit naming an unknown extension is malformed", ref: "RFC 7515 §4.1.11",
			tok: func(tg *target) string {
				return forge(tg.rsa, header("alg", "RS256", "kid", "rsa-1", "crit", []string{"http://example.com/ext"}, "http://example.com/ext", true), claims(tg))
			}, reason: "malformed", issuer: "corp"},
		{name: "crit naming exp is malformed", ref: "RFC 7515 §4.1.11",
			tok: func(tg *target) string {
				return forge(tg.rsa, header("alg", "RS256", "kid", "rsa-1", "crit", []string{"exp"}, "exp", 1), claims(tg))
			}, reason: "malformed", issuer: "corp"},
		{name: "b64 false (unencoded payload) is malformed", ref: "RFC 7797 §3, §6",
			tok: func(tg *target) string {
				return forge(tg.rsa, header("alg", "RS256", "kid", "rsa-1", "b64", false, "crit", []string{"b64"}), claims(tg))
			}, reason: "malformed"},
		// A nested JWT's payload is another token, not claims (RFC 7519
		// §5.2, §7.2 step 8): accepting cty JWT as if the payload were the
		// claims set would judge claims that the signer meant as an
		// envelope, and a verifier that did unwrap it would take the inner
		// token's claims on the outer signature. Neither is this gateway's
		// job, so any cty naming a JWT is refused, whatever its spelling
		// (RFC 7515 §4.1.10: case-insensitive, "application/" optional).
		{name: "cty JWT (a nested JWT) with a claims payload is malformed", ref: "RFC 7519 §5.2, §7.2 step 8",
			tok: func(tg *target) string {
				return forge(tg.rsa, header("alg", "RS256", "kid", "rsa-1", "cty", "JWT"), claims(tg))
			}, reason: "malformed", issuer: "corp"},
		{name: "cty jwt in lower case is malformed", ref: "RFC 7515 §4.1.10 (case-insensitive)",
			tok: func(tg *target) string {
				return forge(tg.rsa, header("alg", "RS256", "kid", "rsa-1", "cty", "jwt"), claims(tg))
			}, reason: "malformed", issuer: "corp"},
		{name: "cty application/JWT is malformed", ref: "RFC 7515 §4.1.10 (application/ may be omitted)",
			tok: func(tg *target) string {
				return forge(tg.rsa, header("alg", "RS256", "kid", "rsa-1", "cty", "Application/jwt"), claims(tg))
			}, reason: "malformed", issuer: "corp"},
		{name: "cty JWT with a nested token as payload is malformed", ref: "RFC 7519 §7.2 step 8",
			tok: func(tg *target) string {
				return forge(tg.rsa, header("alg", "RS256", "kid", "rsa-1", "cty", "JWT"), tg.rsa.Sign(tg.claims("orders:read")))
			}, reason: "malformed"}, // the payload is no claims set: no iss to name an issuer by
		{name: "cty that is not a string is malformed", ref: "RFC 7515 §4.1.10 (a string)",
			tok: func(tg *target) string {
				return forge(tg.rsa, header("alg", "RS256", "kid", "rsa-1", "cty", []string{"JWT"}), claims(tg))
			}, reason: "malformed"},
		{name: "a 100 KB token is malformed before any parsing", ref: "CWE-400; RFC 8725 §3.4",
			tok: func(tg *target) string {
				return forge(tg.rsa, header("alg", "RS256", "kid", "rsa-1"),
					payloadJSON(tg.claims("orders:read").With("pad", strings.Repeat("A", 100<<10))))
			}, reason: "malformed"},
	}
	for _, p := range []struct{ name, payload string }{
		{"a JSON array", `["iss","sub"]`},
		{"a JSON string", `"orders:read"`},
		{"a JSON number", `1`},
		{"JSON null", `null`},
		{"JSON true", `true`},
		{"not JSON", `iss=corp&scope=orders:read`},
		{"two JSON objects", `{"sub":"alice"}{"sub":"mallory"}`},
		{"an object followed by garbage", `{"sub":"alice"}garbage`},
	} {
		out = append(out, forgery{
			name: "a signed payload that is " + p.name + " is malformed", ref: "RFC 7519 §7.2 (step 10)",
			tok:    func(tg *target) string { return forge(tg.rsa, header("alg", "RS256", "kid", "rsa-1"), p.payload) },
			reason: "malformed",
		})
	}
	return out
}

// TestTokenSizeCap: the cap is exact. A real token of exactly 8 KiB is
// verified; one byte more is refused as malformed without being decoded.
func TestTokenSizeCap(t *testing.T) {
	tg := newTarget(t)
	const limit = 8 << 10
	sized := func(n int) string {
		t.Helper()
		// The header and signature segments do not depend on the payload,
		// so measure them once and grow a claim until the payload segment
		// fills the rest exactly.
		h, _, sig := tokentest.Segments(tg.ed.Sign(tg.claims("orders:read")))
		base := len(payloadJSON(tg.claims("orders:read").With("pad", "")))
		start := max(0, (n-len(h)-len(sig)-2)*3/4-base-8)
		for pad := start; pad < start+64; pad++ {
			c := tg.claims("orders:read").With("pad", strings.Repeat("p", pad))
			if len(h)+1+b64.EncodedLen(len(payloadJSON(c)))+1+len(sig) == n {
				tok := tg.ed.Sign(c)
				if len(tok) != n {
					t.Fatalf("made a token of %d bytes, want %d", len(tok), n)
				}
				return tok
			}
		}
		t.Fatalf("cannot make a token of %d bytes", n)
		return ""
	}
	t.Run("a token of exactly 8 KiB is verified", func(t *testing.T) {
		tg.allowed(t, request("/orders/1", bearer(sized(limit))))
	})
	t.Run("a token of 8 KiB and one byte is malformed", func(t *testing.T) {
		tg.refused(t, request("/orders/1", bearer(sized(limit+1))), http.StatusUnauthorized, "unknown", "malformed")
	})
}

// TestDuplicateClaimNames documents RFC 7519 §4: a parser must reject
// duplicate claim names or take the lexically last. portcullis reads claims
// twice (jwx for exp, nbf, iat, iss, aud and sub; its own decoder for
// everything a route checks or forwards), so the two must agree on which
// duplicate wins, or a token could be validated on one value and authorized
// on another. Both take the last today; these cases fail if either changes.
func TestDuplicateClaimNames(t *testing.T) {
	tg := newTarget(t)
	now := time.Now()
	exp := func(d time.Duration) int64 { return now.Add(d).Unix() }
	iss := tg.corp.URL()
	sign := func(payload string) []string {
		return bearer(forge(tg.ed, header("alg", "EdDSA", "kid", "ed-1"), payload))
	}
	base := func(extra string) string {
		return `{"iss":"` + iss + `","aud":"orders-api","exp":` + itoa(exp(time.Hour)) + `,` + extra + `}`
	}

	t.Run("duplicate sub: the logged subject and the forwarded X-User-Id are the last value", func(t *testing.T) {
		up := tg.allowed(t, request("/orders/1", sign(base(`"scope":"orders:read","sub":"alice","sub":"mallory"`))))
		if got := up.Header.Get("X-User-Id"); got != "mallory" {
			t.Errorf("X-User-Id = %q, want the last sub, mallory", got)
		}
		entries := tg.logs.FilterMessage("request").All()
		if got := entries[len(entries)-1].ContextMap()["sub"]; got != "mallory" {
			t.Errorf("access log sub = %v, want mallory (jwx and the claims decoder disagree)", got)
		}
	})
	t.Run("duplicate scope: the last one is authorized", func(t *testing.T) {
		tg.allowed(t, request("/orders/1", sign(base(`"sub":"alice","scope":"none","scope":"orders:read"`))))
		tg.refused(t, request("/orders/1", sign(base(`"sub":"alice","scope":"orders:read","scope":"none"`))),
			http.StatusForbidden, "corp", "insufficient_scope")
	})
	t.Run("duplicate exp: a past exp written last is expired", func(t *testing.T) {
		tg.refused(t, request("/orders/1", sign(`{"iss":"`+iss+`","aud":"orders-api","sub":"alice","scope":"orders:read","exp":`+
			itoa(exp(time.Hour))+`,"exp":`+itoa(exp(-time.Hour))+`}`)), http.StatusUnauthorized, "corp", "expired")
	})
	t.Run("duplicate iss: the last one chooses the issuer", func(t *testing.T) {
		tg.refused(t, request("/orders/1", sign(`{"iss":"`+iss+`","iss":"https://evil.example/","aud":"orders-api","sub":"alice","scope":"orders:read","exp":`+
			itoa(exp(time.Hour))+`}`)), http.StatusUnauthorized, "unknown", "bad_issuer")
	})
	t.Run("duplicate aud: the last one is checked", func(t *testing.T) {
		tg.refused(t, request("/orders/1", sign(base(`"sub":"alice","scope":"orders:read","aud":"billing-api"`))),
			http.StatusUnauthorized, "corp", "bad_audience")
	})
	t.Run("duplicate sub with null last: the required claim is missing", func(t *testing.T) {
		tg.refused(t, request("/orders/1", sign(base(`"scope":"orders:read","sub":"alice","sub":null`))),
			http.StatusUnauthorized, "corp", "missing_claim")
	})
	t.Run("duplicate tenant: the claim check sees the last one", func(t *testing.T) {
		req := request("/orders/1", sign(base(`"sub":"alice","scope":"orders:write","tenant":"acme","tenant":"globex"`)))
		req.Method = http.MethodPost
		tg.refused(t, req, http.StatusForbidden, "corp", "claim_mismatch")
	})
}

// TestSignatureEncodingIsCanonical: base64url leaves 2 or 4 bits unused in a
// segment's last character, and a lenient decoder ignores them, so every
// token has 4 or 16 spellings that verify alike. A deny-list or replay
// cache keyed on the token string (ours in future, or an upstream's) is
// bypassed by re-spelling. RFC 4648 §3.5 lets a decoder refuse non-zero pad
// bits; RFC 7515 §2 defines base64url by RFC 4648.
func TestSignatureEncodingIsCanonical(t *testing.T) {
	tg := newTarget(t)
	tok := tg.ed.Sign(tg.claims("orders:read"))
	tg.allowed(t, request("/orders/1", bearer(tok)))
	last := tok[len(tok)-1]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, last)
	respelled := tok[:len(tok)-1] + string(alphabet[i^1]) // flips an unused bit
	tg.refused(t, request("/orders/1", bearer(respelled)), http.StatusUnauthorized, "unknown", "malformed")
}

// Helpers.

func hmacToken(alg string, secret []byte, header, payload string) string {
	var h func() hash.Hash
	switch alg {
	case "HS384":
		h = sha512.New384
	case "HS512":
		h = sha512.New
	default:
		h = sha256.New
	}
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	m := hmac.New(h, secret)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// forgeAs signs with k under another algorithm's name in the header.
func forgeAs(k *tokentest.Key, alg string, header, payload string) string {
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return input + "." + base64.RawURLEncoding.EncodeToString(signRaw(k, k.Alg, []byte(input)))
}

func pkixDER(k *tokentest.Key) []byte {
	der, err := x509.MarshalPKIXPublicKey(k.RawPublic())
	if err != nil {
		panic(err)
	}
	return der
}

func pkixPEM(k *tokentest.Key) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkixDER(k)})
}

func jwkJSON(k *tokentest.Key) []byte {
	b, err := json.Marshal(k.Public)
	if err != nil {
		panic(err)
	}
	return b
}

func tokenInput(tok string) string { return tok[:strings.LastIndexByte(tok, '.')] }

func sigOf(tok string) []byte {
	_, _, s := tokentest.Segments(tok)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func ecPrivate() *ecdsa.PrivateKey {
	var raw any
	if err := ecKey.Private.Raw(&raw); err != nil {
		panic(err)
	}
	return raw.(*ecdsa.PrivateKey)
}

// attackerCert is a self-signed certificate for the attacker's key, base64
// (not base64url) DER as x5c wants it.
func attackerCert() string {
	var raw any
	if err := attackerRSA.Private.Raw(&raw); err != nil {
		panic(err)
	}
	priv := raw.(*rsa.PrivateKey)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "idp.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func itoa(n int64) string { return big.NewInt(n).String() }
