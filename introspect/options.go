package introspect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.uber.org/zap"

	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/remote"
)

// Method is how the gateway authenticates itself to the introspection
// endpoint (RFC 7662 §2.1 requires some authentication; the methods are
// those of RFC 6749 §2.3 and RFC 7523 §2.2, named as in RFC 8414's
// introspection_endpoint_auth_methods_supported).
type Method string

const (
	// ClientSecretBasic sends the client ID and secret in an HTTP Basic
	// Authorization header (RFC 6749 §2.3.1). Every server must support it.
	ClientSecretBasic Method = "client_secret_basic"
	// ClientSecretPost sends them as client_id and client_secret form fields.
	ClientSecretPost Method = "client_secret_post"
	// PrivateKeyJWT sends a short-lived JWT signed with the client's private
	// key (RFC 7523 §2.2): no shared secret crosses the wire.
	PrivateKeyJWT Method = "private_key_jwt"
)

// The defaults of Options' zero values.
const (
	DefaultTimeout     = 2 * time.Second
	DefaultCacheTTL    = 60 * time.Second
	DefaultNegativeTTL = 5 * time.Second
	DefaultMaxEntries  = 10000
	// DefaultMaxConcurrent is a few times what an authorization server on
	// the same network answers within a Timeout at a steady rate of new
	// tokens: enough that a burst does not queue, few enough that the
	// gateway cannot hold the server's every connection.
	DefaultMaxConcurrent = 64
)

// Options configure one issuer's Client. Zero values take the defaults above.
type Options struct {
	// Issuer is the configured issuer's name: the metrics' issuer label and
	// the subject of error texts. Required.
	Issuer string

	// Endpoint is the introspection endpoint, an http(s) URL. When empty,
	// Resolve finds it on first use (for example discovery's
	// introspection_endpoint); its first successful answer is kept for the
	// life of the Client, and a failed one is retried by the next call.
	Endpoint string
	Resolve  func(ctx context.Context) (string, error)

	// ClientID identifies the gateway to the authorization server. Required.
	ClientID string
	// Method is the client authentication; empty means ClientSecretBasic.
	Method Method
	// Secret is the client secret of ClientSecretBasic and ClientSecretPost,
	// read by the caller from a file or the environment. It goes only into
	// the request: never into a log line, an error or a metric.
	Secret string
	// Key and KeyAlg sign the client assertion of PrivateKeyJWT: an RSA, EC
	// or OKP private key, and an asymmetric algorithm it can sign with
	// (RS*, PS*, ES*, EdDSA). They are tried once by New, so that a key that
	// cannot sign with KeyAlg is found at load time.
	Key    jwk.Key
	KeyAlg jwa.SignatureAlgorithm

	// Timeout bounds one call to the endpoint, resolving it included, and
	// separately a request's wait for one of MaxConcurrent's slots.
	Timeout time.Duration
	// MaxConcurrent bounds the calls in flight to the endpoint at once. A
	// call goes on after the requests that wanted it gave up (so that its
	// answer serves the next), so without a bound a client that sends new
	// tokens and disconnects at once would keep the gateway's requests in
	// flight few while its calls to the server pile up. A request that
	// would start one more waits for a slot, at most Timeout; after that
	// it fails with ErrUnavailable.
	MaxConcurrent int
	// CacheTTL bounds how long an active answer is remembered; it is never
	// remembered past its exp. Negative: active answers are not cached.
	CacheTTL time.Duration
	// NegativeTTL is how long an inactive answer is remembered. It is short
	// because a token may be issued after a server said it was unknown.
	// Negative: inactive answers are not cached.
	NegativeTTL time.Duration
	// MaxEntries bounds how many answers are remembered. Negative turns the
	// cache off: every request asks.
	MaxEntries int

	// Client makes the calls; nil means one with every phase bounded. Its
	// redirect policy is replaced: redirects are never followed.
	Client *http.Client
	// Metrics records calls and cache use; nil records nothing.
	Metrics *metrics.Introspection
	// Log receives a warning when a call fails, with its (sanitized) error,
	// at most one line every FailureLogInterval; nil logs nothing. Without
	// it, a wrong secret shows only as every opaque token's 503.
	Log *zap.Logger
	// Now is the clock of the cache, of the assertion's iat and exp and of
	// the failure log's interval; nil means time.Now.
	Now func() time.Time
}

// New validates o, applies its defaults and returns the Client. Its errors
// name the field at fault (and never quote the secret).
func New(o Options) (*Client, error) {
	if o.Issuer == "" {
		return nil, errors.New("introspect: issuer name is required")
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("introspect: issuer %s: "+format, append([]any{o.Issuer}, args...)...)
	}
	if o.Endpoint != "" {
		if err := checkEndpoint(o.Endpoint); err != nil {
			return nil, fail("endpoint: %v", err)
		}
	} else if o.Resolve == nil {
		return nil, fail("endpoint is required when it cannot be resolved")
	}
	if o.ClientID == "" {
		return nil, fail("client_id is required")
	}
	if o.Method == "" {
		o.Method = ClientSecretBasic
	}
	if o.Timeout < 0 {
		return nil, fail("timeout must not be negative")
	}
	if o.MaxConcurrent < 0 {
		return nil, fail("max_concurrent must not be negative")
	}

	c := &Client{
		issuer:      o.Issuer,
		timeout:     or(o.Timeout, DefaultTimeout),
		now:         o.Now,
		m:           o.Metrics.Issuer(o.Issuer),
		resolve:     o.Resolve,
		resolving:   make(chan struct{}, 1),
		http:        noRedirects(o.Client),
		activeTTL:   or(o.CacheTTL, DefaultCacheTTL),
		negativeTTL: or(o.NegativeTTL, DefaultNegativeTTL),
		flights:     map[tokenHash]*flight{},
		slots:       make(chan struct{}, or(o.MaxConcurrent, DefaultMaxConcurrent)),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if o.Log != nil {
		c.failures = &failureLog{log: o.Log.With(zap.String("issuer", o.Issuer)), now: c.now}
	}
	if o.Endpoint != "" {
		c.endpoint.Store(&o.Endpoint)
	}
	if n := or(o.MaxEntries, DefaultMaxEntries); n > 0 {
		c.cache = newCache(n, c.m)
	}

	switch o.Method {
	case ClientSecretBasic, ClientSecretPost:
		if o.Secret == "" {
			return nil, fail("method %s needs a client secret", o.Method)
		}
		c.auth = secretAuth(o.Method, o.ClientID, o.Secret)
		c.hidden = echoes(o.Secret)
		if o.Method == ClientSecretBasic {
			// A server that quotes the request's Authorization back
			// quotes the secret in base64, which a short credential
			// leaves too short for snippet's long-run rule.
			c.hidden = append(c.hidden, echoes(basicCredential(o.ClientID, o.Secret))...)
		}
	case PrivateKeyJWT:
		a, err := keyAuth(o.ClientID, o.Key, o.KeyAlg, c.now)
		if err != nil {
			return nil, fail("method %s: %v", o.Method, err)
		}
		c.auth = a
	default:
		return nil, fail("unknown client authentication method %q (want %s, %s or %s)",
			clip(string(o.Method)), ClientSecretBasic, ClientSecretPost, PrivateKeyJWT)
	}
	return c, nil
}

// or is v, or def when v is zero.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// checkEndpoint accepts an absolute http(s) URL with a host, configured or
// resolved.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		// Not quoted: an unparsable URL cannot be stripped of a password.
		return errors.New("not a valid URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%s: scheme %q is not http or https", remote.Display(u), clip(u.Scheme))
	}
	if u.Host == "" {
		return fmt.Errorf("%s has no host", remote.Display(u))
	}
	return nil
}
