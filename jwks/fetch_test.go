package jwks_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/token/tokentest"
)

func TestRedirects(t *testing.T) {
	other := tokentest.NewIssuer(ecA()) // another host: a different port on loopback
	defer other.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(tokentest.JWKS(ecA()))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/jwks", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.JWKSURL(), http.StatusFound)
	})
	mux.HandleFunc("/hop/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			http.Redirect(w, r, "/jwks", http.StatusFound)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name    string
		path    string
		wantErr string // "" for success
	}{
		{"a redirect within the same origin is followed", "/moved", ""},
		{"three redirects are followed", "/hop/2", ""},
		{"a fourth redirect is refused", "/hop/3", "stopped after 3 redirects"},
		{"a redirect to another host is refused", "/elsewhere", "refusing redirect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, jwks.Source{JWKSURI: srv.URL + tt.path}, nil)
			err := h.set.Refresh(context.Background())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				equalKids(t, h.kids(), "ec-a")
				return
			}
			errContains(t, err, tt.wantErr)
		})
	}
	if got := other.JWKSFetches(); got != 0 {
		t.Errorf("the other host was asked %d times", got)
	}
}

func TestFileLocations(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(`{"keys":[`+strings.Repeat(" ", 1<<20)+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		uri     string
		wantErr string
	}{
		{"a file over the 1 MiB cap is refused", "file://" + big, "exceeds the 1048576-byte limit"},
		{"a missing file is an error", "file://" + filepath.Join(dir, "missing.json"), "no such file"},
		{"a file on another host is refused", "file://example.com/jwks.json", "only local files"},
		{"an unknown scheme is refused", "ftp://127.0.0.1/jwks.json", `scheme "ftp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, jwks.Source{JWKSURI: tt.uri}, nil)
			errContains(t, h.set.Refresh(context.Background()), tt.wantErr)
		})
	}
}
