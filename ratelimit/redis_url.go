package ratelimit

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The URL schemes NewRedis accepts beyond go-redis's own redis and rediss.
// go-redis parses Sentinel and Cluster URLs with the redis scheme, so the
// scheme alone could not tell them apart; these do.
const (
	SchemeSentinel    = "redis+sentinel"
	SchemeSentinelTLS = "rediss+sentinel"
	SchemeCluster     = "redis+cluster"
	SchemeClusterTLS  = "rediss+cluster"
)

// newRedisClient builds the client for opts.URL.
//
// The three cases below set the same fields on go-redis's three option
// types, which share no type; TestNewRedisURLs checks that they agree.
func newRedisClient(opts RedisOptions, timeout time.Duration) (redis.UniversalClient, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("ratelimit: redis URL: %v", err)
	}
	if u.Host == "" {
		return nil, errors.New("ratelimit: redis URL: no host")
	}
	scheme := u.Scheme
	base, mode, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" || mode != "" && mode != "sentinel" && mode != "cluster" {
		return nil, fmt.Errorf("ratelimit: redis URL: unknown scheme %q (want redis, rediss, %s, %s, %s or %s)",
			scheme, SchemeSentinel, SchemeSentinelTLS, SchemeCluster, SchemeClusterTLS)
	}
	// go-redis reads skip_verify=true in a rediss URL as "accept any
	// certificate". Skipping verification is RedisOptions.TLS's business
	// alone (rate_limit_store.tls.insecure_skip_verify, which needs its
	// acknowledgement): a query option must not turn it off behind it.
	if u.Query().Has("skip_verify") {
		return nil, errors.New("ratelimit: redis URL: skip_verify is not accepted: certificate verification is set by the TLS option only (rate_limit_store.tls)")
	}
	u.Scheme = base
	raw := u.String()

	tlsConfig := func(parsed *tls.Config) *tls.Config {
		if opts.TLS == nil {
			return parsed
		}
		c := opts.TLS.Clone()
		if c.ServerName == "" && !c.InsecureSkipVerify {
			c.ServerName = u.Hostname()
		}
		return c
	}
	password := func(parsed string) string {
		if opts.Password != "" {
			return opts.Password
		}
		return parsed
	}

	switch mode {
	case "sentinel":
		o, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: redis URL: %w", err)
		}
		if o.MasterName == "" {
			return nil, errors.New("ratelimit: redis URL: a sentinel URL needs ?master_name=")
		}
		o.Password = password(o.Password)
		o.TLSConfig = tlsConfig(o.TLSConfig)
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
		o.MaxRetries = -1
		o.DialerRetries = 1 // Guarded backs off; a retry here would only wait out the timeout
		o.ContextTimeoutEnabled = true
		o.DisableIdentity = true
		return redis.NewFailoverClient(o), nil
	case "cluster":
		o, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: redis URL: %w", err)
		}
		o.Password = password(o.Password)
		o.TLSConfig = tlsConfig(o.TLSConfig)
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
		o.MaxRetries = -1
		o.DialerRetries = 1 // Guarded backs off; a retry here would only wait out the timeout
		o.ContextTimeoutEnabled = true
		o.DisableIdentity = true
		return redis.NewClusterClient(o), nil
	default:
		o, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("ratelimit: redis URL: %w", err)
		}
		o.Password = password(o.Password)
		o.TLSConfig = tlsConfig(o.TLSConfig)
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
		o.MaxRetries = -1
		o.DialerRetries = 1 // Guarded backs off; a retry here would only wait out the timeout
		o.ContextTimeoutEnabled = true
		o.DisableIdentity = true
		return redis.NewClient(o), nil
	}
}
