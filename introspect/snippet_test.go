package introspect_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/introspect"
)

// An endpoint that answers an error quotes the token back in some escaping
// of its own: the error's snippet hides it in every one, long or short.
func TestTheErrorSnippetHidesAnEscapedToken(t *testing.T) {
	tests := []struct {
		name  string
		token string
		echo  func(token string) string // the escaped token, as the body quotes it
	}{
		{
			name:  `JSON with "/" escaped, as PHP does`,
			token: "AbCd/EfGh/IjKl/MnOp/QrSt",
			echo:  func(tok string) string { return strings.ReplaceAll(tok, "/", `\/`) },
		},
		{
			name:  `a short token in JSON with "/" escaped`,
			token: "Ab/Cd/Ef",
			echo:  func(tok string) string { return strings.ReplaceAll(tok, "/", `\/`) },
		},
		{
			name:  "a short token form-encoded",
			token: "Ab/Cd+Ef",
			echo:  url.QueryEscape,
		},
		{
			name:  `JSON with "/" as \u002f, an escaping not foreseen`,
			token: "AbCd/EfGh/IjKl/MnOp/QrSt",
			echo:  func(tok string) string { return strings.ReplaceAll(tok, "/", `\u002f`) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"error":"invalid_request","token":"`+tt.echo(r.PostFormValue("token"))+`"}`)
			})
			c := mustNew(t, options(s.endpoint()))
			_, err := c.Introspect(context.Background(), tt.token)
			if !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if !strings.Contains(err.Error(), "invalid_request") {
				t.Errorf("err = %v, want the snippet of the answer", err)
			}
			// The token's pieces between escapes, which a run of
			// token-like characters cut at each escape would keep.
			for _, piece := range strings.FieldsFunc(tt.token, func(r rune) bool { return r == '/' || r == '+' }) {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("the error quotes %q of the token: %v", piece, err)
				}
			}
			if strings.Contains(strings.ReplaceAll(err.Error(), `\`, ""), tt.token) {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}

// A server that quotes the Authorization header back in its error quotes
// the client's secret in base64: the snippet hides it, though a short
// credential makes a run too short for the long-run rule.
func TestTheErrorSnippetHidesAnEchoedBasicCredential(t *testing.T) {
	s := newIDP(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"invalid_client","got":"`+r.Header.Get("Authorization")+`"}`)
	})
	o := options(s.endpoint())
	o.ClientID, o.Secret = "gw", "s3cr"
	const credential = "Z3c6czNjcg==" // base64("gw:s3cr"), 12 characters
	c := mustNew(t, o)
	_, err := c.Introspect(context.Background(), "an-opaque-token-value")
	if !errors.Is(err, introspect.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("err = %v, want the snippet of the answer", err)
	}
	if strings.Contains(err.Error(), strings.TrimRight(credential, "=")) {
		t.Errorf("the error quotes the client's credential: %v", err)
	}
}
