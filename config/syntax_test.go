package config

import (
	"strings"
	"testing"
)

// Each syntax rule's edges, pinned once: validation and policy.Compile both
// call these, so these cases hold for both.

func TestCheckHost(t *testing.T) {
	for _, tt := range []struct {
		host, err string // err: "" for accepted, else a part of the message
	}{
		{"api.example.com", ""},
		{"localhost", ""},
		{"10.0.0.5", ""},
		{"*.example.com", ""},
		{"xn--bcher-kva.example", ""},
		{"[::1]", ""},
		{"[2001:db8::1]", ""},
		{strings.Repeat("a.", 126) + "a", ""}, // 253 characters
		{strings.Repeat("a.", 126) + "ab", "longer than"},
		{"", "must not be empty"},
		{"*", "only wildcard"},
		{"*.", "empty label"},
		{"a.*.example.com", "only wildcard"},
		{"*.*.example.com", "only wildcard"},
		{"api.example.com:443", "without a port"},
		{"api.example.com.", "empty label"},
		{".example.com", "empty label"},
		{"a..b", "empty label"},
		{"a_b.example.com", "not a host name"},
		{"API.example.com", "not a host name"}, // validation lower-cases first
		{"a b", "not a host name"},
		{"[::1", "IPv6 address"},
		{"[10.0.0.1]", "IPv6 address"},
		{"[fe80::1%eth0]", "IPv6 address"},
		{"[::1]:8080", "IPv6 address"},
	} {
		err := CheckHost(tt.host)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("CheckHost(%q) = %v, want accepted", tt.host, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("CheckHost(%q) = %v, want an error with %q", tt.host, err, tt.err)
		}
	}
}

func TestCheckScope(t *testing.T) {
	for _, tt := range []struct {
		scope string
		ok    bool
	}{
		{"orders:read", true},
		{"https://graph.example.com/Orders.Read", true},
		{"!#$%&'()*+,-./:;<=>?@[]^_`{|}~", true}, // every printable ASCII but '"' and '\\'
		{"", false},
		{"a b", false},
		{"a\tb", false},
		{"a\u00a0b", false}, // a no-break space is white space too
		{`a"b`, false},
		{`a\b`, false},
		{"café", false},
		{"a\x7f", false},
	} {
		if err := CheckScope(tt.scope); (err == nil) != tt.ok {
			t.Errorf("CheckScope(%q) = %v, want ok %v", tt.scope, err, tt.ok)
		}
	}
}

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{
		"GET": true, "X-User-Id": true, "x_user_id": true, "!#$%&'*+-.^_`|~09azAZ": true,
		"": false, "GE T": false, "X:Y": false, "X\r\nY": false, "é": false, `"x"`: false, "a/b": false, "(x)": false,
	} {
		if got := IsToken(s); got != want {
			t.Errorf("IsToken(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestFoldHeader(t *testing.T) {
	for in, want := range map[string]string{
		"X-User-Id": "x-user-id", "X_USER_ID": "x-user-id", "x_user-id": "x-user-id", "x-user-id": "x-user-id",
	} {
		if got := FoldHeader(in); got != want {
			t.Errorf("FoldHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReservedHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "content_length": true, "X_Forwarded_For": true, "HOST": true, "X-Request-Id": true,
		"X-User-Id": false, "X-Forwarded-User": false, "Cookie2": false,
	} {
		if got := ReservedHeader(name); got != want {
			t.Errorf("ReservedHeader(%q) = %v, want %v", name, got, want)
		}
	}
}
