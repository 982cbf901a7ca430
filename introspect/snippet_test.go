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
