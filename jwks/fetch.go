package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/remote"
)

// maxDocument caps every document read (key set and discovery), over HTTP or
// from a file. Real key sets are a few kilobytes; the cap keeps a broken or
// hostile server from making the gateway buffer an unbounded body.
const maxDocument = 1 << 20

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
		return snap, remote.Redact(k.src.JWKSURI), err
	}
	if !k.src.Discovery {
		return nil, "", errors.New("jwks: no jwks_uri configured and discovery is off")
	}
	cached := k.discovered
	if cached != "" {
		snap, err := k.loadFrom(ctx, cached)
		if err == nil {
			return snap, remote.Redact(cached), nil
		}
		uri, derr := k.discover(ctx)
		if derr != nil {
			return nil, remote.Redact(cached), fmt.Errorf("%w (and re-discovery failed: %w)", err, derr)
		}
		k.discovered = uri
		if uri == cached {
			return nil, remote.Redact(cached), err
		}
		snap, err = k.loadFrom(ctx, uri)
		return snap, remote.Redact(uri), err
	}
	uri, err := k.discover(ctx)
	if err != nil {
		return nil, "", err
	}
	k.discovered = uri
	snap, err := k.loadFrom(ctx, uri)
	return snap, remote.Redact(uri), err
}

// loadFrom reads the key set at uri and keeps its usable keys.
func (k *KeySet) loadFrom(ctx context.Context, uri string) (*snapshot, error) {
	body, err := k.read(ctx, uri)
	if err != nil {
		return nil, err
	}
	snap, err := k.parse(body)
	if err != nil {
		return nil, fmt.Errorf("jwks: %s: %w", remote.Redact(uri), err)
	}
	return snap, nil
}

// discover reads the issuer's OpenID configuration and returns its jwks_uri.
func (k *KeySet) discover(ctx context.Context) (string, error) {
	d, err := Discover(ctx, k.client, k.src.IssuerURL)
	if err != nil {
		return "", err
	}
	if d.JWKSURI == "" {
		return "", errors.New("jwks: discovery document has no valid jwks_uri (\"\")")
	}
	return d.JWKSURI, nil
}

// Discovery is what the gateway reads of an issuer's discovery document.
type Discovery struct {
	JWKSURI               string // "" when the document has none
	IntrospectionEndpoint string // "" when the document has none (RFC 8414 §2)
}

// Discover reads the issuer's OpenID configuration (OpenID Connect
// Discovery §4, which RFC 8414 authorization servers serve too).
//
// The document's issuer must equal the configured one byte for byte (§4.3):
// otherwise a misconfigured or impersonating provider could hand us the keys
// of another issuer, or the endpoint that tokens and client secrets are sent
// to. Each location it names must be https, or http only when the issuer
// itself is http (loopback and development), so that discovery never
// downgrades the transport and never points at a local file.
func Discover(ctx context.Context, client *http.Client, issuer string) (Discovery, error) {
	iu, err := url.Parse(issuer)
	if err != nil || (iu.Scheme != "https" && iu.Scheme != "http") || iu.Host == "" {
		return Discovery{}, fmt.Errorf("jwks: issuer %q is not an http(s) URL, cannot use discovery", issuer)
	}
	where := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	doc, err := remote.Read(ctx, client, remote.Request{URI: where, Accept: "application/json", MaxBytes: maxDocument})
	if err != nil {
		return Discovery{}, fmt.Errorf("jwks: %w", err)
	}
	var d struct {
		Issuer                string `json:"issuer"`
		JWKSURI               string `json:"jwks_uri"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
	}
	if err := json.Unmarshal(doc.Body, &d); err != nil {
		return Discovery{}, fmt.Errorf("jwks: discovery document %s: %w", remote.Redact(where), err)
	}
	if d.Issuer != issuer {
		return Discovery{}, fmt.Errorf("jwks: discovery document issuer %q does not match configured issuer %q", remote.Clip(d.Issuer), issuer)
	}
	for _, loc := range []struct{ name, uri string }{{"jwks_uri", d.JWKSURI}, {"introspection_endpoint", d.IntrospectionEndpoint}} {
		if loc.uri == "" {
			continue
		}
		u, err := url.Parse(loc.uri)
		if err != nil {
			return Discovery{}, fmt.Errorf("jwks: discovery document has no valid %s (%q)", loc.name, remote.Clip(loc.uri))
		}
		if u.Scheme != "https" && (u.Scheme != "http" || iu.Scheme != "http") {
			return Discovery{}, fmt.Errorf("jwks: discovery %s scheme %q refused for issuer %q (want https)", loc.name, remote.Clip(u.Scheme), issuer)
		}
		if u.Host == "" {
			return Discovery{}, fmt.Errorf("jwks: discovery %s %q has no host", loc.name, remote.Clip(loc.uri))
		}
	}
	return Discovery{JWKSURI: d.JWKSURI, IntrospectionEndpoint: d.IntrospectionEndpoint}, nil
}

// read returns the document at uri: an http(s) GET answered with 200, or a
// local file; either way at most maxDocument bytes.
func (k *KeySet) read(ctx context.Context, uri string) ([]byte, error) {
	doc, err := remote.Read(ctx, k.client, remote.Request{
		URI:      uri,
		Accept:   "application/jwk-set+json, application/json",
		MaxBytes: maxDocument,
	})
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return doc.Body, nil
}
