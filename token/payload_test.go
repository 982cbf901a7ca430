package token_test

import (
	"context"
	"testing"

	"github.com/portcullis/portcullis/outcome"
)

// TestAPayloadWithAClosingDelimiterAfterItIsMalformed: the payload must be
// exactly one JSON object (RFC 7519 §7.2 step 10), whatever follows it: a
// stray '}' or ']' is trailing data like any other, which no strict reader
// of the same token (an upstream, a library) would take as claims.
func TestAPayloadWithAClosingDelimiterAfterItIsMalformed(t *testing.T) {
	v := verifier(t)
	const pl = `{"iss":"https://idp.example.com/","sub":"alice","aud":"orders-api","exp":1900000060}`
	if _, err := v.Verify(context.Background(), rsaKey.SignPayload([]byte(pl+" \n")), nil); err != nil {
		t.Fatalf("the payload followed by white space: %v", err)
	}
	for _, trailer := range []string{"}", "]", " }", "}}", "]}"} {
		if _, err := v.Verify(context.Background(), rsaKey.SignPayload([]byte(pl+trailer)), nil); reason(err) != outcome.Malformed {
			t.Errorf("the payload followed by %q: Verify = %v, want malformed", trailer, err)
		}
	}
}
