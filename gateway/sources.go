package gateway

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/introspect"
	"github.com/portcullis/portcullis/jwks"
	"github.com/portcullis/portcullis/remote"
	"github.com/portcullis/portcullis/revocation"
)

// list is one issuer's revocation list with what identifies its source, so
// that a reload which changes neither keeps the list, its entries and its
// polling.
type list struct {
	source listSource
	list   *revocation.List
	stop   context.CancelFunc // nil until started
}

type listSource struct {
	issuer string
	config.Revocation
	skew     time.Duration // entries outlive the exp they name by the issuer's skew
	identity remote.Identity
}

func revocationSource(is config.Issuer, id remote.Identity) listSource {
	return listSource{issuer: is.Name, Revocation: is.Revocation, skew: is.ClockSkew.D(), identity: id}
}

// introspector is one issuer's introspection client with what identifies
// it: its settings and a digest of the credential it sends, so that a
// reload keeps the client (and its cache of answers) unless one of them
// changed, a rotated secret file included.
type introspector struct {
	source introspectionSource
	client *introspect.Client
}

type introspectionSource struct {
	issuer, issuerURL string
	discovery         bool
	config.Introspection
	identity   remote.Identity
	credential [sha256.Size]byte
}

func introspectionSourceOf(is config.Issuer, id remote.Identity) introspectionSource {
	return introspectionSource{issuer: is.Name, issuerURL: is.Issuer, discovery: is.Discovery, Introspection: is.Introspection, identity: id}
}

// credential reads what the issuer's introspection client authenticates
// with: the client secret from its file (the first line) or environment
// variable, or the private key of private_key_jwt. Its errors name where
// it was looked for, never what was found.
func credential(is config.Issuer) (secret string, key jwk.Key, err error) {
	in := is.Introspection
	where := "issuers." + is.Name + ".introspection"
	switch in.AuthMethod {
	case config.PrivateKeyJWT:
		data, err := os.ReadFile(in.PrivateKeyFile)
		if err != nil {
			return "", nil, fmt.Errorf("%s.private_key_file: %w", where, err)
		}
		key, err := jwk.ParseKey(data, jwk.WithPEM(bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----"))))
		if err != nil {
			return "", nil, fmt.Errorf("%s.private_key_file %s: not a PEM or JWK private key", where, in.PrivateKeyFile)
		}
		return "", key, nil
	}
	if in.ClientSecretEnv != "" {
		secret = os.Getenv(in.ClientSecretEnv)
		if secret == "" {
			return "", nil, fmt.Errorf("%s.client_secret_env: the environment variable %s is empty or not set", where, in.ClientSecretEnv)
		}
		return secret, nil, nil
	}
	secret, err = remote.SecretFile(in.ClientSecretFile)
	if err != nil {
		return "", nil, fmt.Errorf("%s.client_secret_file: %w", where, err)
	}
	return secret, nil, nil
}

// introspectionFor returns the issuer's introspection client: old's when it
// is the same, else a new one. nil when the issuer has no introspection.
// id is the issuer's identity with its CA file's digest.
func (g *Gateway) introspectionFor(is config.Issuer, id remote.Identity, old []*introspector) (*introspector, error) {
	if !is.Introspection.Enabled() {
		return nil, nil
	}
	secret, key, err := credential(is)
	if err != nil {
		return nil, err
	}
	src := introspectionSourceOf(is, id)
	if key != nil {
		pub, err := jwk.PublicKeyOf(key)
		if err != nil {
			return nil, fmt.Errorf("issuers.%s.introspection.private_key_file: %w", is.Name, err)
		}
		thumb, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("issuers.%s.introspection.private_key_file: %w", is.Name, err)
		}
		src.credential = sha256.Sum256(thumb)
	} else {
		src.credential = sha256.Sum256([]byte(secret))
	}
	for _, o := range old {
		if o.source == src {
			return o, nil
		}
	}
	in := is.Introspection
	// The request path waits on these calls: more idle connections than a
	// polled document needs.
	client, err := remote.NewClient(src.identity, 32, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("issuers.%s.tls: %w", is.Name, err)
	}
	opts := introspect.Options{
		Client:        client,
		Issuer:        is.Name,
		Endpoint:      in.Endpoint,
		ClientID:      in.ClientID,
		Method:        introspect.Method(in.AuthMethod),
		Secret:        secret,
		Key:           key,
		Timeout:       in.Timeout.D(),
		CacheTTL:      noneIfZero(in.CacheTTL.D()),
		NegativeTTL:   noneIfZero(in.NegativeCacheTTL.D()),
		MaxEntries:    in.MaxEntries,
		MaxConcurrent: in.MaxConcurrent,
		Metrics:       g.metrics.Introspection,
		Log:           g.log, // the client labels its own lines with the issuer
	}
	if key != nil {
		opts.KeyAlg = jwa.SignatureAlgorithm(in.PrivateKeyAlgorithm)
	}
	if in.Endpoint == "" {
		issuerURL := is.Issuer
		discovery := remote.Client(client) // same-origin redirects, as for every document
		opts.Resolve = func(ctx context.Context) (string, error) {
			d, err := jwks.Discover(ctx, discovery, issuerURL)
			if err != nil {
				return "", err
			}
			if d.IntrospectionEndpoint == "" {
				return "", errors.New("the discovery document names no introspection_endpoint: set introspection.endpoint")
			}
			return d.IntrospectionEndpoint, nil
		}
	}
	c, err := introspect.New(opts)
	if err != nil {
		return nil, fmt.Errorf("issuers.%s.introspection: %w", is.Name, err)
	}
	return &introspector{source: src, client: c}, nil
}

// noneIfZero maps the file's 0 (no caching) to introspect's "off".
func noneIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// listFor returns the issuer's revocation list: old's when its source is
// the same, else a new one (not started). nil when the issuer has none.
// id is the issuer's identity with its CA file's digest.
func (g *Gateway) listFor(is config.Issuer, id remote.Identity, old []*list) (l *list, added bool, err error) {
	if !is.Revocation.Enabled() {
		return nil, false, nil
	}
	src := revocationSource(is, id)
	for _, o := range old {
		if o.source == src {
			return o, false, nil
		}
	}
	client, err := remote.NewClient(src.identity, 2, 10*time.Second)
	if err != nil {
		return nil, false, fmt.Errorf("issuers.%s.tls: %w", is.Name, err)
	}
	rl, err := revocation.New(revocation.Options{
		Client:          client,
		Issuer:          is.Name,
		URI:             is.Revocation.URI,
		RefreshInterval: is.Revocation.RefreshInterval.D(),
		MaxEntries:      is.Revocation.MaxEntries,
		ClockSkew:       src.skew,
		Log:             g.log, // the list labels its own lines with the issuer
		Metrics:         g.metrics.Revocation,
	})
	if err != nil {
		return nil, false, fmt.Errorf("issuers.%s.revocation: %w", is.Name, err)
	}
	return &list{source: src, list: rl}, true, nil
}

func (g *Gateway) startList(l *list) { g.startOnce(&l.stop, l.list.Start) }

// notReady lists the issuers whose keys, and those whose revocation lists,
// have never loaded.
func (st *state) notReady() (keys, lists []string) {
	for _, k := range st.issuers {
		if k.set != nil && !k.set.Ready() {
			keys = append(keys, k.source.Issuer)
		}
	}
	for _, l := range st.lists {
		if !l.list.Ready() {
			lists = append(lists, l.source.issuer)
		}
	}
	slices.Sort(keys)
	slices.Sort(lists)
	return keys, lists
}
