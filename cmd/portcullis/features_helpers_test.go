package main

// Helpers shared by the end-to-end tests of audit mode (audit_test.go),
// protected resource metadata (resource_test.go), opaque tokens
// (opaque_test.go) and revocation lists (revocation_test.go): requests with
// a Host of their own, the access-log line of one request, a strict parser
// of WWW-Authenticate challenges, bounded polling and secret checks.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

// requestIDHeader is the header that carries the request id on every
// response and in the access log's request_id field.
const requestIDHeader = "X-Request-Id"

// doHost is do with the Host header set to host ("" keeps the URL's).
func doHost(t *testing.T, method, url, host string, headers map[string]string) *response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for name, v := range headers {
		req.Header[name] = append(req.Header[name], v)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %q): %v", method, url, host, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return &response{Response: res, body: body}
}

// withHeaders merges header maps; later ones win.
func withHeaders(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// accessLine returns the access-log line of the request whose response
// carried res's request id, waiting (at most 3s) for the process to write
// it: the line is written after the response, so it may lag behind it.
func accessLine(t *testing.T, g *gatewaytest.GatewayProcess, res *response) map[string]any {
	t.Helper()
	id := res.Header.Get(requestIDHeader)
	if id == "" {
		t.Fatalf("%s %s: the response has no %s", res.Request.Method, res.Request.URL, requestIDHeader)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		out := g.Output()
		for _, line := range strings.Split(out, "\n") {
			if !strings.Contains(line, id) {
				continue
			}
			var entry map[string]any
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				continue // a line still being written
			}
			if entry["msg"] == "request" && entry["request_id"] == id {
				return entry
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line with request_id %s within 3s:\n%s", id, gatewaytest.Tail(out, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkFields asserts that a log entry holds each field with the value
// given (numbers as JSON decodes them: float64). A nil want means the field
// must be absent.
func checkFields(t *testing.T, entry map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		got, ok := entry[k]
		switch {
		case w == nil && ok:
			t.Errorf("access log %q = %v, want no such field (line %v)", k, got, entry)
		case w != nil && (!ok || got != w):
			t.Errorf("access log %q = %v (present %v), want %v (line %v)", k, got, ok, w, entry)
		}
	}
}

// eventually polls cond every 50ms until it reports true, for at most
// timeout, and fails the test with cond's last word if it never does.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counter is one series of /metrics now (0 when absent); lbls as labels
// writes them.
func counter(t *testing.T, g *gatewaytest.GatewayProcess, name, lbls string) float64 {
	t.Helper()
	return series(scrape(t, g), name)[lbls]
}

// checkSeries asserts that a metric family holds exactly want (label set
// as labels writes it -> value).
func checkSeries(t *testing.T, g *gatewaytest.GatewayProcess, name string, want map[string]float64) {
	t.Helper()
	if got := series(scrape(t, g), name); !mapsEqual(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", name, got, want)
	}
}

// checkNoSecret fails t if text, called where, holds any of secrets.
func checkNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			t.Fatal("checkNoSecret: an empty secret would match anything")
		}
		if i := strings.Index(text, s); i >= 0 {
			lo, hi := max(0, i-80), min(len(text), i+len(s)+80)
			t.Errorf("%s holds a secret (%d bytes) at byte %d: ...%s...", where, len(s), i, text[lo:hi])
		}
	}
}

// challenge is one WWW-Authenticate challenge, parsed.
type challenge struct {
	scheme string
	params map[string]string // lower-cased names; quoted values unquoted
}

// parseChallenge parses a header value holding exactly one challenge with
// auth-params (RFC 9110 §11.3, formerly RFC 7235 §2.1):
//
//	challenge  = auth-scheme [ 1*SP #auth-param ]
//	auth-param = token BWS "=" BWS ( token / quoted-string )
//
// It is strict: anything else (a stray quote, an unescaped quote inside a
// quoted string, a missing comma, an empty element, a parameter named
// twice, which §11.2 forbids) is an error.
func parseChallenge(v string) (challenge, error) {
	c := challenge{params: map[string]string{}}
	i := 0
	token := func() string {
		start := i
		for i < len(v) && isTchar(v[i]) {
			i++
		}
		return v[start:i]
	}
	ows := func() {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
	}
	c.scheme = token()
	if c.scheme == "" {
		return c, fmt.Errorf("no auth-scheme at byte 0")
	}
	if i == len(v) {
		return c, nil
	}
	if v[i] != ' ' {
		return c, fmt.Errorf("byte %d: want SP after the auth-scheme, got %q", i, v[i])
	}
	for i < len(v) && v[i] == ' ' {
		i++
	}
	for {
		name := token()
		if name == "" {
			return c, fmt.Errorf("byte %d: want an auth-param name", i)
		}
		ows()
		if i == len(v) || v[i] != '=' {
			return c, fmt.Errorf("byte %d: want '=' after %q", i, name)
		}
		i++
		ows()
		var value string
		if i < len(v) && v[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for !closed {
				switch {
				case i == len(v):
					return c, fmt.Errorf("unterminated quoted-string for %q", name)
				case v[i] == '"':
					closed = true
					i++
				case v[i] == '\\':
					if i+1 == len(v) || !isQuotedPairChar(v[i+1]) {
						return c, fmt.Errorf("byte %d: bad quoted-pair", i)
					}
					b.WriteByte(v[i+1])
					i += 2
				case isQdtext(v[i]):
					b.WriteByte(v[i])
					i++
				default:
					return c, fmt.Errorf("byte %d: %q is not allowed in a quoted-string", i, v[i])
				}
			}
			value = b.String()
		} else {
			value = token()
			if value == "" {
				return c, fmt.Errorf("byte %d: want a token or a quoted-string as the value of %q", i, name)
			}
		}
		key := strings.ToLower(name)
		if _, dup := c.params[key]; dup {
			return c, fmt.Errorf("auth-param %q appears twice", name)
		}
		c.params[key] = value
		ows()
		if i == len(v) {
			return c, nil
		}
		if v[i] != ',' {
			return c, fmt.Errorf("byte %d: want ',' between auth-params, got %q", i, v[i])
		}
		i++
		ows()
	}
}

// isTchar: RFC 9110 §5.6.2 tchar.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isQdtext: RFC 9110 §5.6.4 qdtext (HTAB, SP, %x21, %x23-5B, %x5D-7E,
// obs-text).
func isQdtext(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || (0x23 <= c && c <= 0x5b) || (0x5d <= c && c <= 0x7e) || c >= 0x80
}

// isQuotedPairChar: what may follow a backslash (HTAB, SP, VCHAR,
// obs-text).
func isQuotedPairChar(c byte) bool {
	return c == '\t' || c == ' ' || (0x21 <= c && c <= 0x7e) || c >= 0x80
}

// onlyChallenge returns the one WWW-Authenticate challenge of res, parsed,
// failing the test when there is not exactly one or it is not valid syntax.
func onlyChallenge(t *testing.T, res *response) challenge {
	t.Helper()
	values := res.Header.Values("WWW-Authenticate")
	if len(values) != 1 {
		t.Fatalf("%s %s: %d WWW-Authenticate headers %q, want exactly one", res.Request.Method, res.Request.URL, len(values), values)
	}
	c, err := parseChallenge(values[0])
	if err != nil {
		t.Fatalf("WWW-Authenticate %q is not a valid RFC 9110 challenge: %v", values[0], err)
	}
	return c
}

func TestParseChallengeIsStrict(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want map[string]string
	}{
		{`Bearer`, map[string]string{}},
		{`Bearer realm="portcullis"`, map[string]string{"realm": "portcullis"}},
		{`Bearer realm="p", resource_metadata="https://x/.well-known/oauth-protected-resource/a"`,
			map[string]string{"realm": "p", "resource_metadata": "https://x/.well-known/oauth-protected-resource/a"}},
		{`Bearer realm = "a\"b" ,error=invalid_token`, map[string]string{"realm": `a"b`, "error": "invalid_token"}},
	}
	for _, tc := range good {
		c, err := parseChallenge(tc.in)
		if err != nil || c.scheme != "Bearer" || fmt.Sprint(c.params) != fmt.Sprint(tc.want) {
			t.Errorf("parseChallenge(%q) = %+v, %v; want Bearer %v", tc.in, c, err, tc.want)
		}
	}
	for _, in := range []string{
		``,
		`Bearer realm="a`,
		`Bearer realm="a" error="b"`,
		`Bearer realm="a"b"`,
		`Bearer realm="a",, error="b"`,
		`Bearer realm="a", realm="b"`,
		`Bearer realm=`,
		`Bearer realm="a", resource_metadata=https://x/y`,
		"Bearer realm=\"a\x01\"",
	} {
		if c, err := parseChallenge(in); err == nil {
			t.Errorf("parseChallenge(%q) = %+v, want an error", in, c)
		}
	}
}

// featureHead is the server and log sections of the feature tests'
// configurations: the given listeners, a short shutdown grace, and JSON
// access logs that the tests read back.
func featureHead(listen, admin string) string {
	return fmt.Sprintf(`server:
  listen: %q
  admin_listen: %q
  shutdown_grace: 2s
log:
  level: info
  format: json
  access_log: true
`, listen, admin)
}
