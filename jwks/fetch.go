package jwks

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// maxDocument caps every document read (key set and discovery), over HTTP or
// from a file. Real key sets are a few kilobytes; the cap keeps a broken or
// hostile server from making the gateway buffer an unbounded body.
const maxDocument = 1 << 20

// maxRedirects is how many same-origin redirects a fetch follows.
const maxRedirects = 3

// defaultClient bounds every phase of a request, so that a server that
// accepts the connection and then stalls cannot hold a fetch open.
func defaultClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
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
			MaxIdleConnsPerHost:   2,
			ForceAttemptHTTP2:     true,
		},
	}
}

// sameOriginRedirects is the CheckRedirect of every key set client: keys
// come from the configured origin (or the one discovery named), never from
// wherever that origin points next.
func sameOriginRedirects(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	from := via[0].URL
	if req.URL.Scheme != from.Scheme || !strings.EqualFold(req.URL.Host, from.Host) {
		return fmt.Errorf("refusing redirect from %s://%s to another origin %s://%s",
			from.Scheme, from.Host, req.URL.Scheme, req.URL.Host)
	}
	return nil
}

// load fetches and filters the key set, discovering its location first when
// the source has no jwks_uri. It returns the location it used, for the log.
//
// A discovered jwks_uri is cached and reused; discovery is repeated only when
// fetching or parsing from the cached location fails, and the key set is
// then fetched again only if discovery names a different location. This
// keeps the steady state at one request per refresh while still following an
// identity provider that moves its keys.
func (k *KeySet) load(ctx context.Context) (*snapshot, string, error) {
	if k.src.JWKSURI != "" {
		snap, err := k.loadFrom(ctx, k.src.JWKSURI)
		return snap, redact(k.src.JWKSURI), err
	}
	if !k.src.Discovery {
		return nil, "", errors.New("jwks: no jwks_uri configured and discovery is off")
	}
	cached := k.discovered
	if cached != "" {
		snap, err := k.loadFrom(ctx, cached)
		if err == nil {
			return snap, redact(cached), nil
		}
		uri, derr := k.discover(ctx)
		if derr != nil {
			return nil, redact(cached), fmt.Errorf("%w (and re-discovery failed: %w)", err, derr)
		}
		k.discovered = uri
		if uri == cached {
			return nil, redact(cached), err
		}
		snap, err = k.loadFrom(ctx, uri)
		return snap, redact(uri), err
	}
	uri, err := k.discover(ctx)
	if err != nil {
		return nil, "", err
	}
	k.discovered = uri
	snap, err := k.loadFrom(ctx, uri)
	return snap, redact(uri), err
}

// loadFrom reads the key set at uri and keeps its usable keys.
func (k *KeySet) loadFrom(ctx context.Context, uri string) (*snapshot, error) {
	body, err := k.read(ctx, uri)
	if err != nil {
		return nil, err
	}
	snap, err := k.parse(body)
	if err != nil {
		return nil, fmt.Errorf("jwks: %s: %w", redact(uri), err)
	}
	return snap, nil
}

// discover reads the issuer's OpenID configuration and returns its jwks_uri.
//
// The document's issuer must equal the configured one byte for byte (OpenID
// Connect Discovery §4.3): otherwise a misconfigured or impersonating
// provider could hand us the keys of another issuer. Its jwks_uri must be
// https, or http only when the issuer itself is http (loopback and
// development), so that discovery never downgrades the transport of the keys
// and never points at a local file.
func (k *KeySet) discover(ctx context.Context) (string, error) {
	issuer := k.src.IssuerURL
	iu, err := url.Parse(issuer)
	if err != nil || (iu.Scheme != "https" && iu.Scheme != "http") || iu.Host == "" {
		return "", fmt.Errorf("jwks: issuer %q is not an http(s) URL, cannot use discovery", issuer)
	}
	where := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	body, err := k.read(ctx, where)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("jwks: discovery document %s: %w", redact(where), err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("jwks: discovery document issuer %q does not match configured issuer %q", clip(doc.Issuer), issuer)
	}
	ju, err := url.Parse(doc.JWKSURI)
	if err != nil || doc.JWKSURI == "" {
		return "", fmt.Errorf("jwks: discovery document has no valid jwks_uri (%q)", clip(doc.JWKSURI))
	}
	if ju.Scheme != "https" && (ju.Scheme != "http" || iu.Scheme != "http") {
		return "", fmt.Errorf("jwks: discovery jwks_uri scheme %q refused for issuer %q (want https)", clip(ju.Scheme), issuer)
	}
	if ju.Host == "" {
		return "", fmt.Errorf("jwks: discovery jwks_uri %q has no host", clip(doc.JWKSURI))
	}
	return doc.JWKSURI, nil
}

// read returns the document at uri: an http(s) GET answered with 200, or a
// local file; either way at most maxDocument bytes.
func (k *KeySet) read(ctx context.Context, uri string) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("jwks: bad location %q: %w", clip(uri), err)
	}
	switch u.Scheme {
	case "file":
		return readFile(u)
	case "http", "https":
	default:
		return nil, fmt.Errorf("jwks: location %s: scheme %q is not http, https or file", u.Redacted(), u.Scheme)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	req.Header.Set("User-Agent", "portcullis")
	resp, err := k.client.Do(req)
	if err != nil {
		// *url.Error already names the method and the (password-stripped) URL.
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: GET %s: status %s: %q", u.Redacted(), resp.Status, snippet(resp.Body))
	}
	if resp.ContentLength > maxDocument {
		return nil, fmt.Errorf("jwks: GET %s: body of %d bytes exceeds the %d-byte limit", u.Redacted(), resp.ContentLength, maxDocument)
	}
	body, err := readCapped(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("jwks: GET %s: %w", u.Redacted(), err)
	}
	return body, nil
}

// readFile reads a file:// location. Only local paths are accepted
// (file:///path or file://localhost/path).
func readFile(u *url.URL) ([]byte, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("jwks: %s: only local files can be read", u.Redacted())
	}
	path := u.Path
	if path == "" {
		path = u.Opaque // file:relative/path
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	defer f.Close()
	body, err := readCapped(f)
	if err != nil {
		return nil, fmt.Errorf("jwks: %s: %w", path, err)
	}
	return body, nil
}

// readCapped reads r to its end, refusing more than maxDocument bytes
// without reading further than one byte past the limit.
func readCapped(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxDocument+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxDocument {
		return nil, fmt.Errorf("document exceeds the %d-byte limit", maxDocument)
	}
	return body, nil
}

// snippet is the start of an error response, made safe to put in an error
// and a log line: at most 64 bytes, printable ASCII only.
func snippet(r io.Reader) string {
	buf := make([]byte, 64)
	n, _ := io.ReadFull(r, buf)
	return sanitize(string(buf[:n]))
}

// sanitize replaces everything but printable ASCII.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '.'
		}
		return r
	}, s)
}

// clip bounds a string that came from the remote side (a kid, an issuer)
// before it goes into an error or a log line.
func clip(s string) string {
	const limit = 128
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return sanitize(s)
}

// redact hides a password in a location before it is logged.
func redact(uri string) string {
	if u, err := url.Parse(uri); err == nil {
		return u.Redacted()
	}
	return clip(uri)
}
