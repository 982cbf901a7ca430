package introspect

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/claims"
)

// maxAnswer caps the answer read. A real one is a few hundred bytes; the cap
// keeps a broken or hostile server from making the gateway buffer an
// unbounded body on the request path.
const maxAnswer = 64 << 10

// read judges the endpoint's answer (RFC 7662 §2.2). Only a 200 with one
// JSON object whose "active" is a boolean is an answer; anything else is
// ErrUnavailable, never a guess at what the server meant.
func (c *Client) read(resp *http.Response, token string) (Response, error) {
	if resp.StatusCode != http.StatusOK {
		return Response{}, c.unavailable("status %d %s: %q", resp.StatusCode,
			http.StatusText(resp.StatusCode), snippet(resp.Body, append(echoes(token), c.hidden...)))
	}
	if resp.ContentLength > maxAnswer {
		return Response{}, c.unavailable("answer of %d bytes exceeds the %d-byte limit", resp.ContentLength, maxAnswer)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return Response{}, c.unavailable("reading the answer: %w", err)
	}
	if len(body) > maxAnswer {
		return Response{}, c.unavailable("answer exceeds the %d-byte limit", maxAnswer)
	}
	// The texts of these errors are fixed: the decoder's own quote the
	// answer, which describes the token and its owner.
	answer, err := claims.Decode(body)
	if err != nil {
		return Response{}, c.unavailable("the answer is %v", err)
	}
	switch active, ok := answer["active"]; {
	case !ok:
		return Response{}, c.unavailable("the answer has no \"active\" member")
	case active == true:
	case active == false:
		// Whatever else it says describes a token that is not to be used.
		return Response{}, nil
	default:
		return Response{}, c.unavailable("the answer's \"active\" is not a JSON boolean")
	}
	exp, _, err := claims.NumericDate(answer["exp"])
	if err != nil {
		return Response{}, c.unavailable("the answer's \"exp\" is not a NumericDate")
	}
	return Response{Active: true, Claims: answer, Expiry: exp}, nil
}

// snippet is the start of an error answer, made safe for an error and a log
// line: some servers echo the request, which holds the token and perhaps
// the client's credentials. So hide (the token and the secret, as echoes
// gives them) is cut out wherever it appears, and so is every long run of
// token-like characters (an echoed secret, an assertion, a token cut short
// by the window, or escaped in a way echoes does not foresee), before the
// first 64 bytes of what is left are kept as printable ASCII.
func snippet(r io.Reader, hide []string) string {
	const window, keep, longRun = 256, 64, 16
	buf := make([]byte, window)
	n, _ := io.ReadFull(r, buf)
	s := string(buf[:n])
	for _, h := range hide {
		if h != "" {
			s = strings.ReplaceAll(s, h, "[redacted]")
		}
	}
	full := n == window

	var b strings.Builder
	for i := 0; i < len(s); {
		if !tokenish(s[i]) {
			b.WriteByte(printable(s[i]))
			i++
			continue
		}
		j := i
		for j < len(s) && tokenish(s[j]) {
			j++
		}
		// A run at the end of a full window may be the start of a long one.
		if j-i >= longRun || (full && j == len(s)) {
			b.WriteString("[redacted]")
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	out := strings.TrimSpace(b.String())
	if len(out) > keep {
		out = out[:keep]
	}
	return out
}

// echoes are the forms in which a server may quote s back: as sent, form
// encoded, and JSON escaped, both as Go escapes a string and with "/" as
// "\/", as PHP does.
func echoes(s string) []string {
	quoted, _ := json.Marshal(s) // a string always marshals
	j := string(quoted[1 : len(quoted)-1])
	return []string{s, url.QueryEscape(s), j, strings.ReplaceAll(j, "/", `\/`)}
}

// tokenish reports whether c may be part of a token, a secret or their
// form, JSON (the backslash of "\/" or "\u00fc") or base64 encodings.
func tokenish(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-._~+/=%\\", c) >= 0
}

// printable replaces everything but printable ASCII.
func printable(c byte) byte {
	if c < 0x20 || c > 0x7e {
		return '.'
	}
	return c
}

// clip bounds and sanitizes a configured string before it goes into an
// error.
func clip(s string) string {
	const limit = 128
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	b := []byte(s)
	for i := range b {
		b[i] = printable(b[i])
	}
	return string(b)
}
