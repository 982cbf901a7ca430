// Package remote owns reading a document that the configuration names (a key
// set, a revocation list): over HTTP(S) or from a local file, never more than
// a size cap, following redirects only within the configured origin, and
// polling it with jittered backoff. It also owns the helpers that make remote
// text safe to log (Sanitize, Clip, Redact).
//
// It is a package of its own because two stages need exactly these rules,
// jwks (keys) and revocation (revoked tokens), and neither is the other's
// business: each rule has one owner here, so that a fix to, say, the redirect
// check reaches both.
//
// It knows nothing of what a document means. It must never fetch from a
// location that a request or token names, never follow a redirect to another
// scheme or host, and never buffer more than the caller's cap.
package remote

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// MaxRedirects is how many same-origin redirects a fetch follows.
const MaxRedirects = 3

// Client returns the client to fetch documents with: a copy of c, or when c
// is nil a default one whose every phase has a timeout (so that a server
// that accepts the connection and then stalls cannot hold a fetch open).
// Either way its CheckRedirect is SameOriginRedirects.
func Client(c *http.Client) *http.Client {
	if c == nil {
		c = defaultClient()
	} else {
		cp := *c
		c = &cp
	}
	c.CheckRedirect = SameOriginRedirects
	return c
}

func defaultClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: Transport(2)}
}

// Transport is the transport of every client that talks to an identity
// provider (documents here, introspection calls in introspect): every phase
// bounded, TLS 1.2 at least, the environment's proxy honoured, and
// idlePerHost idle connections kept per host (a polled document needs few;
// a call on the request path more).
func Transport(idlePerHost int) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   idlePerHost,
		ForceAttemptHTTP2:     true,
	}
}

// SameOriginRedirects is the CheckRedirect of every document client: a
// document comes from the configured origin, never from wherever that origin
// points next, so that an open redirect on that host cannot hand the document
// to another server, nor downgrade https to http. At most MaxRedirects are
// followed.
func SameOriginRedirects(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	from := via[0].URL
	if req.URL.Scheme != from.Scheme || !strings.EqualFold(req.URL.Host, from.Host) {
		return fmt.Errorf("refusing redirect from %s://%s to another origin %s://%s",
			from.Scheme, from.Host, req.URL.Scheme, req.URL.Host)
	}
	return nil
}

// Request is one read of a document.
type Request struct {
	URI      string // http://, https:// or file://
	Accept   string // the Accept header of an HTTP GET
	MaxBytes int64  // the cap on the document; a longer one is an error

	// The validators of the copy the caller holds (from the Document that
	// brought it). When either is set, an HTTP GET is conditional and a 304
	// answer is a Document with NotModified. Files are always read.
	ETag         string
	LastModified string
}

// Document is what a read brought.
type Document struct {
	Body []byte
	// NotModified: the server answered 304 to a conditional GET; Body is
	// empty and the caller's copy is current.
	NotModified bool
	// The validators to send with the next Request (HTTP only; empty when
	// the server sent none).
	ETag         string
	LastModified string
}

// Read returns the document at r.URI: an HTTP(S) GET answered with 200 (or
// 304 to a conditional GET), or a local file; at most r.MaxBytes bytes.
//
// Its errors carry no package prefix, for the caller to add its own; an
// error response is quoted by its first 64 bytes, sanitized, never whole.
func Read(ctx context.Context, client *http.Client, r Request) (Document, error) {
	u, err := url.Parse(r.URI)
	if err != nil {
		return Document{}, fmt.Errorf("bad location %q: %w", Clip(r.URI), err)
	}
	switch u.Scheme {
	case "file":
		body, err := readFile(u, r.MaxBytes)
		return Document{Body: body}, err
	case "http", "https":
	default:
		return Document{}, fmt.Errorf("location %s: scheme %q is not http, https or file", Display(u), u.Scheme)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Document{}, err
	}
	req.Header.Set("Accept", r.Accept)
	req.Header.Set("User-Agent", "portcullis")
	if r.ETag != "" {
		req.Header.Set("If-None-Match", r.ETag)
	}
	if r.LastModified != "" {
		req.Header.Set("If-Modified-Since", r.LastModified)
	}
	conditional := r.ETag != "" || r.LastModified != ""
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error already names the method and the (password-stripped) URL.
		return Document{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && conditional {
		return Document{NotModified: true, ETag: r.ETag, LastModified: r.LastModified}, nil
	}
	if resp.StatusCode != http.StatusOK {
		return Document{}, fmt.Errorf("GET %s: status %s: %q", Display(u), resp.Status, snippet(resp.Body))
	}
	if resp.ContentLength > r.MaxBytes {
		return Document{}, fmt.Errorf("GET %s: body of %d bytes exceeds the %d-byte limit", Display(u), resp.ContentLength, r.MaxBytes)
	}
	body, err := readCapped(resp.Body, r.MaxBytes)
	if err != nil {
		return Document{}, fmt.Errorf("GET %s: %w", Display(u), err)
	}
	return Document{
		Body:         body,
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
	}, nil
}

// readFile reads a file:// location. Only local paths are accepted
// (file:///path or file://localhost/path).
func readFile(u *url.URL, limit int64) ([]byte, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("%s: only local files can be read", Display(u))
	}
	path := u.Path
	if path == "" {
		path = u.Opaque // file:relative/path
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := readCapped(f, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return body, nil
}

// readCapped reads r to its end, refusing more than limit bytes without
// reading further than one byte past the limit.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("document exceeds the %d-byte limit", limit)
	}
	return body, nil
}

// snippet is the start of an error response, made safe to put in an error
// and a log line: at most 64 bytes, printable ASCII only.
func snippet(r io.Reader) string {
	buf := make([]byte, 64)
	n, _ := io.ReadFull(r, buf)
	return Sanitize(string(buf[:n]))
}

// Sanitize replaces everything but printable ASCII with '.', so that text
// from the remote side cannot forge log lines or terminal escapes.
func Sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '.'
		}
		return r
	}, s)
}

// Clip bounds a string that came from the remote side (a kid, an issuer, a
// member name) to 128 bytes and sanitizes it, before it goes into an error
// or a log line.
func Clip(s string) string {
	const limit = 128
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return Sanitize(s)
}

// Redact hides a password in a location, and its query's values, before
// it is logged (Display).
func Redact(uri string) string {
	if u, err := url.Parse(uri); err == nil {
		return Display(u)
	}
	return Clip(uri)
}

// Display is a location as errors and logs show it: its password hidden
// (url.URL.Redacted) and the value of every query parameter written as
// xxxxx, since some providers take an API key there (?api_key=...), which
// the log must not keep. The parameters' names stay, to tell locations
// apart.
func Display(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Redacted()
	}
	shown := *u
	q := shown.Query()
	for name := range q {
		q[name] = []string{"xxxxx"}
	}
	shown.RawQuery = q.Encode()
	return shown.Redacted()
}
