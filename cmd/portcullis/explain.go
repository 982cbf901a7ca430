package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/portcullis/portcullis/config"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/jwks"
)

// headerFlags collects repeated -H "Name: value" flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// explainCommand is a dry run of one request: which route, which checks,
// what the upstream would receive. Nothing is forwarded. It exits 0 when the
// request would be allowed, 1 when it would be refused, and 3 when it could
// not be checked (the file, the token file or the keys could not be read),
// so that scripts can assert a policy before it is deployed.
func explainCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("explain", stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	tok := fs.String("token", "", "bearer token, or @FILE to read it from a file")
	var headers headerFlags
	fs.Var(&headers, "H", `request header "Name: value" (repeatable)`)
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	jwksFile := fs.String("jwks", "", "read every issuer's keys from this JWKS file instead of fetching them")
	noVerify := fs.Bool("no-verify", false, "skip signature checks (every other check still runs)")
	remote := fs.String("remote-addr", "192.0.2.10:54321", "client address the request comes from")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: portcullis explain -config FILE [-token JWT|@FILE] [-H 'Name: value']... [-json] [-jwks FILE | -no-verify] METHOD URL")
		fs.PrintDefaults()
	}
	// Flags may come before or after METHOD URL.
	var positional []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *path == "" || len(positional) != 2 {
		fs.Usage()
		return errUsage
	}
	if *jwksFile != "" && *noVerify {
		fmt.Fprintln(stderr, "portcullis explain: -jwks and -no-verify exclude each other")
		return errUsage
	}
	cfg, err := loadConfig(*path, stderr)
	if err != nil {
		if errors.Is(err, errReported) {
			return fmt.Errorf("%w: %s has problems (above)", errUnchecked, *path)
		}
		return fmt.Errorf("%w: %v", errUnchecked, err)
	}
	if *jwksFile != "" {
		// Read at once: a missing or broken file is the operator's
		// mistake, to be said now, not after waiting for keys to load.
		b, err := os.ReadFile(*jwksFile)
		if err != nil {
			return fmt.Errorf("%w: -jwks: %v", errUnchecked, err)
		}
		if _, err := jwk.Parse(b); err != nil {
			return fmt.Errorf("%w: -jwks %s: not a JWK set: %v", errUnchecked, *jwksFile, err)
		}
		// A set that parses but has no key an issuer could verify with
		// (empty, a symmetric key only, algorithms the issuers do not
		// allow) is said now too, with why each key was dropped.
		if err := checkJWKSFile(b, cfg.Issuers); err != nil {
			return fmt.Errorf("%w: -jwks %s: %v", errUnchecked, *jwksFile, err)
		}
	}
	// The method as given, not upper-cased: the gateway refuses one with
	// lower-case letters (405), and so does its explanation.
	if !config.IsToken(positional[0]) {
		fmt.Fprintf(stderr, "portcullis explain: %q is not an HTTP method\n", positional[0])
		return errUsage
	}
	req, err := http.NewRequest(positional[0], positional[1], nil)
	if err != nil || req.URL.Host == "" {
		fmt.Fprintf(stderr, "portcullis explain: %q is not an absolute URL\n", positional[1])
		return errUsage
	}
	req.RemoteAddr = *remote
	req.RequestURI = req.URL.RequestURI()
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			fmt.Fprintf(stderr, "portcullis explain: -H %q is not \"Name: value\"\n", h)
			return errUsage
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
		req.Header.Del("Host")
	}
	if *tok != "" {
		raw := *tok
		if file, ok := strings.CutPrefix(raw, "@"); ok {
			b, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("%w: -token: %v", errUnchecked, err)
			}
			raw = strings.TrimSpace(string(b))
		}
		req.Header.Add("Authorization", "Bearer "+raw)
	}

	ex, err := gateway.Explain(ctx, cfg, req, gateway.ExplainOptions{JWKSFile: *jwksFile, NoVerify: *noVerify})
	if err != nil {
		return fmt.Errorf("%w: %v", errUnchecked, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(ex); err != nil {
			return err
		}
	} else {
		printExplanation(stdout, ex)
	}
	switch {
	case ex.Allowed:
		return nil
	case ex.Status == http.StatusServiceUnavailable || len(ex.KeysMissing) > 0:
		// Keys, an introspection endpoint or a revocation list could not
		// be reached: the request was not judged, so it is no refusal.
		return fmt.Errorf("%w: the token could not be checked (keys, introspection or revocation list unavailable; see above)", errUnchecked)
	}
	// Refused is an answer, not a failure of the command: exit 1, and
	// nothing more to say than the explanation printed above.
	return errReported
}

// checkJWKSFile says why a -jwks set would give no issuer a key: every
// issuer that verifies signatures reads its keys from the file, each with
// its own algorithms. nil when one of them can use it (one that cannot is
// then reported with the explanation, as an issuer without keys).
func checkJWKSFile(set []byte, issuers []config.Issuer) error {
	var first error
	for _, is := range issuers {
		if is.JWKSURI == "" && !is.Discovery {
			continue // introspection only: no keys
		}
		err := jwks.Check(set, is.Algorithms)
		if err == nil {
			return nil
		}
		if first == nil {
			first = fmt.Errorf("issuer %s (algorithms %v): %w", is.Name, is.Algorithms, err)
		}
	}
	return first
}

func printExplanation(w io.Writer, ex *gateway.Explanation) {
	fmt.Fprintf(w, "request   %s %s\n", ex.Method, ex.URL)
	if ex.NoVerify {
		fmt.Fprintln(w, "WARNING   -no-verify: signatures are NOT checked; a forged token would pass here")
	}
	if len(ex.KeysMissing) > 0 {
		fmt.Fprintf(w, "WARNING   keys could not be loaded for issuers %v (try -jwks FILE or -no-verify)\n", ex.KeysMissing)
	}
	if ex.Route != "" {
		fmt.Fprintf(w, "route     %s\n", ex.Route)
	} else {
		fmt.Fprintln(w, "route     none")
	}
	fmt.Fprintln(w, "checks")
	for _, c := range ex.Checks {
		mark := "pass"
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %-16s %s\n", mark, c.Stage, c.Detail)
	}
	for _, m := range ex.Misses {
		fmt.Fprintf(w, "          route %s (line %d): %s does not match\n", m.Route, m.Line, m.Part)
	}
	if ex.Allowed {
		fmt.Fprintf(w, "result    ALLOWED: forwarded as %s %s\n", ex.Upstream.Method, ex.Upstream.URL)
		fmt.Fprintln(w, "upstream headers")
		printHeaders(w, ex.Upstream.Header)
		return
	}
	fmt.Fprintf(w, "result    REFUSED: %d %s\n", ex.Status, http.StatusText(ex.Status))
	if v := ex.Response.Header.Get("WWW-Authenticate"); v != "" {
		fmt.Fprintf(w, "          WWW-Authenticate: %s\n", v)
	}
	fmt.Fprintf(w, "          %s\n", strings.TrimSpace(ex.Response.Body))
}

func printHeaders(w io.Writer, h http.Header) {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range h[name] {
			if name == "Authorization" && len(v) > 20 {
				v = v[:20] + "... (as sent)"
			}
			fmt.Fprintf(w, "  %s: %s\n", name, v)
		}
	}
}
