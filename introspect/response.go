package introspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxAnswer caps the answer read. A real one is a few hundred bytes; the cap
// keeps a broken or hostile server from making the gateway buffer an
// unbounded body on the request path.
const maxAnswer = 64 << 10

// maxNumericDate bounds exp to what float64 holds exactly, as token/ does.
const maxNumericDate = 1 << 53

// read judges the endpoint's answer (RFC 7662 §2.2). Only a 200 with one
// JSON object whose "active" is a boolean is an answer; anything else is
// ErrUnavailable, never a guess at what the server meant.
func (c *Client) read(resp *http.Response, token string) (Response, error) {
	if resp.StatusCode != http.StatusOK {
		return Response{}, c.unavailable("status %d %s: %q", resp.StatusCode,
			http.StatusText(resp.StatusCode), snippet(resp.Body, append([]string{token}, c.hidden...)))
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
	claims, err := decodeAnswer(body)
	if err != nil {
		return Response{}, c.unavailable("%v", err)
	}
	switch active, ok := claims["active"]; {
	case !ok:
		return Response{}, c.unavailable("the answer has no \"active\" member")
	case active == true:
	case active == false:
		// Whatever else it says describes a token that is not to be used.
		return Response{}, nil
	default:
		return Response{}, c.unavailable("the answer's \"active\" is not a JSON boolean")
	}
	exp, err := numericDate(claims["exp"])
	if err != nil {
		return Response{}, c.unavailable("the answer's \"exp\" is not a NumericDate")
	}
	return Response{Active: true, Claims: claims, Expiry: exp}, nil
}

// decodeAnswer decodes the answer as token/ decodes a JWT payload: one JSON
// object, numbers as json.Number, each a finite float64, nesting bounded.
func decodeAnswer(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, errors.New("the answer is not a JSON object")
	}
	if dec.More() {
		return nil, errors.New("trailing data after the answer's JSON object")
	}
	if !finiteNumbers(claims, 0) {
		return nil, errors.New("the answer has a number beyond float64 range, or nests deeper than 32")
	}
	return claims, nil
}

// finiteNumbers reports whether every number in v is a finite float64 and v
// nests at most 32 deep, so that no reader of the claims can take a number
// for a different value than another.
func finiteNumbers(v any, depth int) bool {
	if depth > 32 {
		return false
	}
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return err == nil && !math.IsInf(f, 0)
	case map[string]any:
		for _, e := range x {
			if !finiteNumbers(e, depth+1) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !finiteNumbers(e, depth+1) {
				return false
			}
		}
	}
	return true
}

// numericDate reads exp (RFC 7662 §2.2 uses RFC 7519's NumericDate): absent
// is the zero time; present, it must be a JSON number of seconds, truncated
// to whole seconds as token/ does.
func numericDate(v any) (time.Time, error) {
	if v == nil {
		return time.Time{}, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, errors.New("not a NumericDate")
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f > maxNumericDate || f < -maxNumericDate {
		return time.Time{}, errors.New("not a NumericDate")
	}
	return time.Unix(int64(f), 0), nil
}

// snippet is the start of an error answer, made safe for an error and a log
// line: some servers echo the request, which holds the token and perhaps
// the client's credentials. So hide (the token, the secret and its encoding)
// is cut out wherever it appears, and so is every long run of token-like characters (an echoed secret, an
// assertion, a token cut short by the window), before the first 64 bytes of
// what is left are kept as printable ASCII.
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

// tokenish reports whether c may be part of a token, a secret or their
// form or base64 encodings.
func tokenish(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-._~+/=%", c) >= 0
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
