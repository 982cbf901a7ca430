package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	rt := &Runtime{trustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"an untrusted peer is the client, whatever it forwards", "192.0.2.1:1", []string{"203.0.113.5"}, "192.0.2.1"},
		{"behind a trusted peer, the right-most untrusted hop", "10.0.0.1:1", []string{"1.1.1.1, 203.0.113.5, 10.0.0.9"}, "203.0.113.5"},
		{"hops are read across header lines, right to left", "10.0.0.1:1", []string{"203.0.113.5", "10.0.0.8, 10.0.0.9"}, "203.0.113.5"},
		{"an untrusted hop ends the walk, on the last line too", "10.0.0.1:1", []string{"203.0.113.6", "203.0.113.5"}, "203.0.113.5"},
		{"a hop that is no address stops at the last that was", "10.0.0.1:1", []string{"203.0.113.5, junk, 10.0.0.9"}, "10.0.0.9"},
		{"an empty header line stops the walk", "10.0.0.1:1", []string{"203.0.113.5", ""}, "10.0.0.1"},
		{"only trusted hops: the left-most of them", "10.0.0.1:1", []string{"10.0.0.7,10.0.0.8"}, "10.0.0.7"},
		{"IPv6 counts by its /64", "[2001:db8:1:2::99]:1", nil, "2001:db8:1:2::/64"},
		{"a peer that is no address is counted as given", "pipe", nil, "pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := rt.clientIP(r); got != tt.want {
				t.Errorf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

// The RateLimit fields' names are Structured Field strings whatever the
// route is called: printable ASCII, '"' and '\' escaped.
func TestSFString(t *testing.T) {
	for in, want := range map[string]string{
		"orders[0]":     `"orders[0]"`,
		"profil-été[0]": `"profil-??t??[0]"`,
		`a"b\c`:         `"a\"b\\c"`,
		"tab\there":     `"tab?here"`,
		"per-subject":   `"per-subject"`,
	} {
		if got := sfString(in); got != want {
			t.Errorf("sfString(%q) = %s, want %s", in, got, want)
		}
	}
}
