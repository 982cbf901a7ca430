package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/metrics"
	"github.com/portcullis/portcullis/outcome"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/proxy"
)

// ExplainOptions configure Explain.
type ExplainOptions struct {
	// JWKSFile, when set, is where every issuer's keys are read from
	// (offline), instead of its jwks_uri or discovery.
	JWKSFile string
	// NoVerify skips signature checks (every other check still runs); the
	// explanation says so.
	NoVerify bool
	// KeysTimeout bounds the wait for issuers' keys (default 10s).
	KeysTimeout time.Duration
}

// Explanation is what the gateway would do with one request.
type Explanation struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	// Allowed: the request would be forwarded.
	Allowed  bool          `json:"allowed"`
	Status   int           `json:"status"` // what the client would get (200: forwarded)
	Route    string        `json:"route,omitempty"`
	Checks   []policy.Line `json:"checks"`
	Scopes   []string      `json:"token_scopes,omitempty"`
	NoVerify bool          `json:"signature_not_verified,omitempty"`
	// Routes that did not match, with why, when none did.
	Misses []RouteMiss `json:"route_misses,omitempty"`
	// Response is the refusal the client would get.
	Response *ExplainedResponse `json:"response,omitempty"`
	// Upstream is the request the upstream would receive.
	Upstream *ExplainedRequest `json:"upstream,omitempty"`
	// KeysMissing lists issuers whose keys could not be loaded.
	KeysMissing []string `json:"issuers_without_keys,omitempty"`
}

// RouteMiss says why one route did not take the request.
type RouteMiss struct {
	Route string `json:"route"`
	Line  int    `json:"line"`
	Part  string `json:"mismatch"` // host, path or method
}

// ExplainedResponse is a refusal.
type ExplainedResponse struct {
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// ExplainedRequest is what would be forwarded.
type ExplainedRequest struct {
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Header http.Header `json:"header"`
}

// capture is a transport that records the request it is given instead of
// sending it: explain's upstream.
type capture struct{ req *http.Request }

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	c.req = r
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(nil)), Request: r,
	}, nil
}

// Explain runs req through a gateway built from cfg, exactly as serving
// would, except that nothing is forwarded: the request that would reach the
// upstream is captured instead. It needs the issuers' keys (from their
// jwks_uri, or opts.JWKSFile), unless opts.NoVerify.
func Explain(ctx context.Context, cfg *config.Config, req *http.Request, opts ExplainOptions) (*Explanation, error) {
	if opts.JWKSFile != "" {
		abs, err := filepath.Abs(opts.JWKSFile)
		if err != nil {
			return nil, err
		}
		c := *cfg
		c.Issuers = append([]config.Issuer(nil), cfg.Issuers...)
		for i := range c.Issuers {
			c.Issuers[i].JWKSURI = "file://" + abs
			c.Issuers[i].Discovery = false
		}
		cfg = &c
	}
	up := &capture{}
	g, err := newGateway(&Gateway{log: zap.NewNop(), metrics: metrics.New(), transport: up, noVerify: opts.NoVerify, dryRun: true}, cfg)
	if err != nil {
		return nil, err
	}
	ex := &Explanation{Method: req.Method, URL: req.URL.String(), NoVerify: opts.NoVerify}
	if !opts.NoVerify && len(cfg.Issuers) > 0 {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		g.Start(ctx)
		timeout := opts.KeysTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		wctx, wcancel := context.WithTimeout(ctx, timeout)
		_ = g.WaitReady(wctx)
		wcancel()
		ex.KeysMissing = g.NotReady()
	}

	explainWith(ex, cfg, g.handler, up, req)
	return ex, nil
}

// ExplainRequest explains req with g's current configuration and keys, as
// g would serve it, except that nothing is forwarded. cfg is the
// configuration g was built from (for the lines of routes that missed).
func (g *Gateway) ExplainRequest(cfg *config.Config, req *http.Request) *Explanation {
	ex := &Explanation{Method: req.Method, URL: req.URL.String()}
	up := &capture{}
	h := proxy.New(g.handler.Runtime().WithTransport(up), metrics.New(), zap.NewNop())
	explainWith(ex, cfg, h, up, req)
	return ex
}

// explainWith serves req through h, whose transport is up, and renders the
// outcome: the same Serve as ServeHTTP, so the verdict shown is the one
// served.
func explainWith(ex *Explanation, cfg *config.Config, h *proxy.Handler, up *capture, req *http.Request) {
	upgradeAsked := req.Header.Values("Upgrade")
	rec := httptest.NewRecorder()
	o := h.Serve(rec, req)
	rt := h.Runtime()
	host, _ := rt.RoutedHost(req)
	ex.Checks, ex.Scopes = render(o, rt.Table(), rt.Verifier(), req, host, upgradeAsked)
	ex.Status = o.Status
	if o.Route != nil {
		ex.Route = o.Route.Name
	} else if o.Path != "" && o.Reason != outcome.BadHost {
		for _, r := range rt.Table().Routes() {
			if part := r.Mismatch(host, o.Path, req.Method); part != "" {
				line := 0
				if r.Index < len(cfg.Routes) {
					line = cfg.Routes[r.Index].Line
				}
				ex.Misses = append(ex.Misses, RouteMiss{Route: r.Name, Line: line, Part: part})
			}
		}
	}
	if up.req != nil {
		ex.Allowed = true
		h := up.req.Header
		if ua := h["User-Agent"]; len(ua) == 1 && ua[0] == "" {
			// ReverseProxy sets it empty so that net/http sends none:
			// the upstream never sees it, and neither does explain.
			h = h.Clone()
			delete(h, "User-Agent")
		}
		ex.Upstream = &ExplainedRequest{Method: up.req.Method, URL: up.req.URL.String(), Header: h}
	} else {
		ex.Response = &ExplainedResponse{Header: rec.Header(), Body: rec.Body.String()}
	}
}
