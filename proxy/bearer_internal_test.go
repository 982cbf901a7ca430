package proxy

import (
	"net/http"
	"testing"

	"github.com/portcullis/portcullis/outcome"
)

// TestBearerCredential: which Authorization values carry a bearer token,
// which carry none, and which are a bearer credential that is malformed
// (RFC 6750 §2.1: "Bearer" 1*SP b64token; RFC 9110 §11.1: the scheme in
// any case). A malformed one is refused on every route, optional ones too;
// only a value with no bearer credential in it is Missing.
func TestBearerCredential(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
	cases := []struct {
		name   string
		values []string
		token  string
		reason outcome.Reason
	}{
		{"Bearer, one space and a token is read", []string{"Bearer " + jwt}, jwt, ""},
		{"the scheme in lower case is read", []string{"bearer " + jwt}, jwt, ""},
		{"the scheme in upper case is read", []string{"BEARER " + jwt}, jwt, ""},
		{"two spaces after Bearer are read (1*SP)", []string{"Bearer  " + jwt}, jwt, ""},
		{"white space around the value is not part of it", []string{" \tBearer " + jwt + " \t"}, jwt, ""},

		{"no header is missing", nil, "", outcome.Missing},
		{"Basic credentials are missing", []string{"Basic YWxpY2U6c2VjcmV0"}, "", outcome.Missing},
		{"a DPoP scheme is missing", []string{"DPoP " + jwt}, "", outcome.Missing},
		{"Bearer:token is another word, missing", []string{"Bearer:" + jwt}, "", outcome.Missing},
		{"a bare token is missing", []string{jwt}, "", outcome.Missing},
		{"a Digest list without Bearer is missing", []string{`Digest username="a", realm="r", nonce="n"`}, "", outcome.Missing},
		{"a scheme that starts with Bearer is missing", []string{"Bearerx " + jwt}, "", outcome.Missing},

		{"Bearer and a tab is malformed", []string{"Bearer\t" + jwt}, "", outcome.Malformed},
		{"bearer and a tab is malformed", []string{"bearer\t" + jwt}, "", outcome.Malformed},
		{"a space then a tab after Bearer is malformed", []string{"Bearer \t" + jwt}, "", outcome.Malformed},
		{"Bearer and NBSP (Latin-1 white space) is malformed", []string{"Bearer\xa0" + jwt}, "", outcome.Malformed},
		{"Bearer and a comma is malformed", []string{"Bearer," + jwt}, "", outcome.Malformed},
		{"Bearer alone is malformed", []string{"Bearer"}, "", outcome.Malformed},
		{"Bearer and spaces alone is malformed", []string{"Bearer   "}, "", outcome.Malformed},
		{"a token and another word is malformed", []string{"Bearer " + jwt + " x"}, "", outcome.Malformed},
		{"two bearer tokens in a list are malformed", []string{"Bearer " + jwt + ", Bearer " + jwt}, "", outcome.Malformed},
		{"a bearer token after Basic is malformed", []string{"Basic x, Bearer " + jwt}, "", outcome.Malformed},
		{"a bearer token after Basic, no space, is malformed", []string{"Basic x,bearer " + jwt}, "", outcome.Malformed},
		{"a bearer token after Basic, with a tab, is malformed", []string{"Basic x,\tBEARER\t" + jwt}, "", outcome.Malformed},
		{"a bearer token after empty list members is malformed", []string{"Basic x, , Bearer " + jwt}, "", outcome.Malformed},
		{"Bearer alone after Basic is malformed", []string{"Basic x, Bearer"}, "", outcome.Malformed},
		{"a list that starts with a comma and Bearer is malformed", []string{"Basic x,Bearer"}, "", outcome.Malformed},
		{"two Authorization headers are malformed", []string{"Bearer " + jwt, "Basic x"}, "", outcome.Malformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Authorization": tc.values}
			if tc.values == nil {
				h = http.Header{}
			}
			tok, err := bearer(h)
			switch {
			case tc.reason == "" && err != nil:
				t.Fatalf("refused as %s (%s), want the token read", err.Reason, err.Detail)
			case tc.reason == "" && tok != tc.token:
				t.Fatalf("token %q, want %q", tok, tc.token)
			case tc.reason != "" && err == nil:
				t.Fatalf("token %q read, want %s", tok, tc.reason)
			case tc.reason != "" && err.Reason != tc.reason:
				t.Fatalf("refused as %s (%s), want %s", err.Reason, err.Detail, tc.reason)
			}
		})
	}
}

// A value of many commas is judged in one pass: laterBearer must not be
// quadratic in the header's length (up to 8 KiB).
func BenchmarkBearerManyCommas(b *testing.B) {
	v := "Basic "
	for len(v) < 8000 {
		v += ","
	}
	h := http.Header{"Authorization": {v}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bearer(h); err.Reason != outcome.Missing {
			b.Fatal(err.Reason)
		}
	}
}
