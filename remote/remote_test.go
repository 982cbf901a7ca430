package remote

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		limit    time.Duration
		want     time.Duration
	}{
		{"the first retry comes after a second", 0, time.Minute, time.Second},
		{"each failure doubles the delay", 3, time.Minute, 8 * time.Second},
		{"the delay stops at the limit", 10, time.Minute, time.Minute},
		{"a limit below a second wins", 0, 500 * time.Millisecond, 500 * time.Millisecond},
		{"many failures do not overflow", 1000, time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := backoff(tt.failures, tt.limit); got != tt.want {
				t.Errorf("backoff(%d, %s) = %s, want %s", tt.failures, tt.limit, got, tt.want)
			}
		})
	}
}

func TestJitterStaysWithinTenPercent(t *testing.T) {
	for range 1000 {
		if got := jitter(time.Second); got < 900*time.Millisecond || got > 1100*time.Millisecond {
			t.Fatalf("jitter(1s) = %s, want within ±10%%", got)
		}
	}
}

func TestNotModifiedWithoutValidatorsIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	}))
	defer srv.Close()
	doc, err := Read(t.Context(), Client(nil), Request{URI: srv.URL, MaxBytes: 1024})
	if err == nil {
		t.Fatalf("a 304 to an unconditional GET was taken as a document: %+v", doc)
	}
}

// A location an error or a log line shows keeps no secret: not the
// password of its user info, and not the value of a query parameter (an
// API key some providers take as ?api_key=), whose name stays.
func TestLocationsAreShownWithoutSecrets(t *testing.T) {
	for _, tt := range []struct{ uri, want string }{
		{"https://idp.example.com/keys.json", "https://idp.example.com/keys.json"},
		{"https://idp.example.com/keys.json?api_key=s3cr3t-k3y&v=2", "https://idp.example.com/keys.json?api_key=xxxxx&v=xxxxx"},
		{"https://user:pa55@idp.example.com/keys.json", "https://user:xxxxx@idp.example.com/keys.json"},
	} {
		if got := Redact(tt.uri); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
	// An error of a GET names its location as shown.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	_, err := Read(t.Context(), Client(nil), Request{URI: srv.URL + "/keys.json?api_key=s3cr3t-k3y", MaxBytes: 1024})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "api_key=xxxxx") {
		t.Errorf("the error of a refused GET: %v, want the location with its query's values hidden", err)
	}
}
