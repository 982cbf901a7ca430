package resource

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// cacheControl lets clients and shared caches keep a document for five
// minutes. The documents are public and change only when the configuration
// is reloaded, so this bounds how long a reload takes to reach clients
// while sparing the gateway a fetch on every discovery; RFC 9728 sets no
// caching rule of its own.
const cacheControl = "public, max-age=300"

// Set is the configured documents, validated and rendered once. It is
// immutable: a reload builds a new Set. A nil *Set serves nothing.
type Set struct {
	// byPath maps a metadata path to the documents served at it, one per
	// origin (the same path on two hosts is two resources).
	byPath map[string][]document
}

// document is one rendered document and the authority it is served for.
type document struct {
	hostname string // lowercase
	port     string // explicit, or the resource scheme's default
	portless string // the port a Host without one means: the scheme's default
	body     []byte
}

// NewSet validates every document and renders its JSON once. It refuses two
// documents that would be served at the same URL (https://x and https://x/
// derive one URL; https://x and https://x:443 name one origin), since only
// one of them could be served and a client that derived the URL from the
// other would discard it (§3.3).
func NewSet(docs []Metadata) (*Set, error) {
	s := &Set{byPath: make(map[string][]document, len(docs))}
	owner := make(map[string]string, len(docs)) // where it is served -> resource
	for i, m := range docs {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("protected resource %d: %w", i, err)
		}
		id, err := parseIdentifier(m.Resource)
		if err != nil { // Validate has checked it; kept for safety
			return nil, fmt.Errorf("protected resource %d: %w", i, err)
		}
		where := id.hostname + " " + id.port + " " + id.metadataPath()
		if other, dup := owner[where]; dup {
			return nil, fmt.Errorf("protected resource %d: %q and %q would be served at the same metadata URL %s",
				i, other, m.Resource, id.origin+id.metadataPath())
		}
		owner[where] = m.Resource
		body, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("protected resource %d: %w", i, err)
		}
		p := id.metadataPath()
		s.byPath[p] = append(s.byPath[p], document{
			hostname: id.hostname, port: id.port, portless: defaultPort(id.scheme), body: body})
	}
	return s, nil
}

// IsMetadataPath reports whether path is under WellKnownPrefix, so that the
// gateway can hand such requests to the Set before its route table. It
// says nothing of whether a document is configured there: ServeHTTP answers
// 404 for those that are not.
func (s *Set) IsMetadataPath(path string) bool {
	if s == nil {
		return false
	}
	rest, ok := strings.CutPrefix(path, WellKnownPrefix)
	return ok && (rest == "" || rest[0] == '/')
}

// Lookup returns the rendered document served at path for a request with
// the given Host header. path is the request path as sent
// (URL.EscapedPath); resource paths never need escaping, so URL.Path gives
// the same answer for every configured document. It matches only the exact
// well-known path of a configured resource.
//
// The host is compared case-insensitively, and the port as the client's
// origin: a resource with an explicit port matches only a Host with that
// port, and one without matches a Host with no port or its scheme's default
// (443, or 80 for loopback http). A document is useless on another origin,
// since the client's §3.3 check would fail there.
//
// The body is shared: the caller must not modify it. Lookup allocates
// nothing.
func (s *Set) Lookup(host, path string) (body []byte, ok bool) {
	if s == nil {
		return nil, false
	}
	docs := s.byPath[path]
	if len(docs) == 0 {
		return nil, false
	}
	name, port, ok := splitHost(host)
	if !ok {
		return nil, false
	}
	for _, d := range docs {
		p := port
		if p == "" {
			p = d.portless
		}
		if p == d.port && strings.EqualFold(name, d.hostname) {
			return d.body, true
		}
	}
	return nil, false
}

// splitHost splits a Host header into the host name (brackets removed) and
// the port ("" when there is none). A bare IPv6 address without brackets is
// no Host.
func splitHost(host string) (name, port string, ok bool) {
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", "", false
		}
		name, rest := host[1:end], host[end+1:]
		if rest == "" {
			return name, "", true
		}
		if rest[0] != ':' {
			return "", "", false
		}
		return name, rest[1:], true
	}
	i := strings.IndexByte(host, ':')
	if i < 0 {
		return host, "", true
	}
	if strings.IndexByte(host[i+1:], ':') >= 0 {
		return "", "", false
	}
	return host[:i], host[i+1:], true
}

// Fixed answers: nothing of the request or the configuration is echoed.
var (
	notFoundBody   = []byte(`{"error":"not_found","error_description":"no protected resource metadata at this URL"}` + "\n")
	notAllowedBody = []byte(`{"error":"method_not_allowed","error_description":"protected resource metadata is read with GET"}` + "\n")
)

// ServeHTTP serves the documents, without asking for a token: GET and HEAD
// get 200 with the JSON (no body for HEAD), any other method 405 with Allow,
// and a URL with no document a fixed 404 JSON error, whatever the method.
func (s *Set) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "application/json")
	body, ok := s.Lookup(r.Host, r.URL.EscapedPath())
	if !ok {
		writeFixed(w, r, http.StatusNotFound, notFoundBody)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		writeFixed(w, r, http.StatusMethodNotAllowed, notAllowedBody)
		return
	}
	h.Set("Cache-Control", cacheControl)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func writeFixed(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// ChallengeParam returns the auth-param `resource_metadata="<url>"` that a
// Bearer challenge appends (after ", ") to tell the client where the
// resource's metadata is (RFC 9728 §5.1). Call it once per resource when
// the configuration is loaded, not per request.
//
// URLs that NewSet accepts are quoted as they are. Anything else is still
// made a valid quoted-string: '"' and '\\' become quoted-pairs, and
// controls and bytes beyond ASCII are percent-encoded as a URL would have
// them, so the result can never break or extend the header.
func ChallengeParam(metadataURL string) string {
	var b strings.Builder
	b.Grow(len(`resource_metadata=""`) + len(metadataURL))
	b.WriteString(`resource_metadata="`)
	for i := 0; i < len(metadataURL); i++ {
		switch c := metadataURL[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c >= 0x7f:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
