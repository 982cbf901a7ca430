package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
	"github.com/portcullis/portcullis/token/tokentest"
)

// listServer serves a revocation list over HTTP on loopback: a body and a
// status that the test changes, and a count of fetches.
type listServer struct {
	*httptest.Server
	mu      sync.Mutex
	status  int
	body    string
	fetches atomic.Int64
}

func newListServer(t *testing.T, status int, body string) *listServer {
	s := &listServer{status: status, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *listServer) set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// revocationList renders a list document: jti entries (jti -> exp) and
// sub entries (sub -> before).
func revocationList(jtis map[string]int64, subs map[string]int64) string {
	var entries []string
	for jti, exp := range jtis {
		entries = append(entries, fmt.Sprintf(`{"jti": %q, "exp": %d}`, jti, exp))
	}
	for sub, before := range subs {
		entries = append(entries, fmt.Sprintf(`{"sub": %q, "before": %d}`, sub, before))
	}
	slices.Sort(entries)
	return "{\"entries\": [\n  " + strings.Join(entries, ",\n  ") + "\n]}\n"
}

// revocationConfig renders two issuers with revocation lists polled every
// second, of at most 5 entries: corp's from a file, partner's over HTTP; and
// one route, orders, that accepts both.
func revocationConfig(corp, partner *tokentest.Issuer, listFile, listURL, upstream string) func(listen, admin string) string {
	return func(listen, admin string) string {
		return featureHead(listen, admin) + "issuers:\n" + corpIssuer(corp) + fmt.Sprintf(`    required_claims: ["sub", "exp"]
    revocation:
      uri: "file://%s"
      refresh_interval: 1s
      max_entries: 5
  - name: partner
    issuer: %q
    jwks_uri: %q
    discovery: false
    audiences: ["orders-api"]
    algorithms: ["RS256"]
    revocation:
      uri: %q
      refresh_interval: 1s
      max_entries: 5
routes:
`, listFile, partner.URL(), partner.JWKSURL(), listURL) + ordersRoute(upstream)
	}
}

// TestRevocationLists drives `portcullis serve` with revocation lists: a
// listed jti and a subject logged out are refused although their tokens
// verify, a token accepted (and cached) before is refused once a refresh
// lists it, /readyz waits for every list, and a broken list after a good
// one keeps the good one.
func TestRevocationLists(t *testing.T) {
	t.Parallel()
	corp, corpKeys := newIssuer(t, "c1")
	partner, partnerKeys := newIssuer(t, "p1")
	upstream := gatewaytest.NewUpstream(t)

	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	logout := now.Add(-30 * time.Minute).Unix()
	corpToken := func(sub, jti string, iat time.Time) string {
		c := tokentest.Standard(corp.URL(), "orders-api", sub, "orders:read", time.Hour).With("exp", exp, "jti", jti, "iat", iat.Unix())
		return corpKeys[0].Sign(c)
	}
	revokedJTI := corpToken("alice", "jti-revoked", now.Add(-time.Minute))
	later := corpToken("alice", "jti-later", now.Add(-time.Minute))
	clean := corpToken("alice", "jti-clean", now.Add(-time.Minute))
	malloryBefore := corpToken("mallory", "jti-m1", now.Add(-time.Hour))
	malloryAfter := corpToken("mallory", "jti-m2", now.Add(-time.Minute))
	partnerToken := func(jti string) string {
		return partnerKeys[0].Sign(tokentest.Standard(partner.URL(), "orders-api", "pat", "orders:read", time.Hour).With("jti", jti))
	}
	partnerRevoked, partnerGood := partnerToken("p-revoked"), partnerToken("p-good")
	partnerGoodList := revocationList(map[string]int64{"p-revoked": exp}, nil)

	listFile := filepath.Join(t.TempDir(), "revoked.json")
	goodList := revocationList(map[string]int64{"jti-revoked": exp}, map[string]int64{"mallory": logout})
	replaceFile(t, listFile, goodList)
	partnerList := newListServer(t, http.StatusInternalServerError, "down for maintenance")
	g := startGateway(t, revocationConfig(corp, partner, listFile, partnerList.URL+"/revoked.json", upstream.URL))

	get := func(t *testing.T, tok string) *response {
		t.Helper()
		return do(t, http.MethodGet, g.URL("/orders/1"), bearer(tok))
	}
	wantStatus := func(t *testing.T, what, tok string, status int) *response {
		t.Helper()
		res := get(t, tok)
		if res.StatusCode != status {
			t.Errorf("%s: status %d, want %d: %s", what, res.StatusCode, status, res.body)
		}
		return res
	}
	revoked := func(t *testing.T, what, tok string) {
		t.Helper()
		res := wantStatus(t, what, tok, http.StatusUnauthorized)
		if res.StatusCode != http.StatusUnauthorized {
			return
		}
		ch := onlyChallenge(t, res)
		if ch.Params["error"] != "invalid_token" || ch.Params["error_description"] != "the token has been revoked" {
			t.Errorf("%s: challenge %q, want invalid_token, the token has been revoked", what, res.Header.Get("WWW-Authenticate"))
		}
	}

	t.Run("/readyz is 503 naming the issuer whose list has not loaded", func(t *testing.T) {
		var last *response
		eventually(t, 5*time.Second, "/readyz naming only partner's list", func() (bool, string) {
			last = do(t, http.MethodGet, g.AdminURL("/readyz"), nil)
			var body struct {
				Status string    `json:"status"`
				Keys   *[]string `json:"issuers_without_keys"`
				Lists  []string  `json:"issuers_without_revocation_list"`
			}
			decodeJSON(t, last, &body)
			ok := last.StatusCode == http.StatusServiceUnavailable && body.Status == "not ready" &&
				body.Keys != nil && len(*body.Keys) == 0 && slices.Equal(body.Lists, []string{"partner"})
			return ok, fmt.Sprintf("%d %s", last.StatusCode, last.body)
		})
		if partnerList.fetches.Load() < 1 {
			t.Errorf("the partner list was never fetched")
		}
	})
	t.Run("a token of an issuer whose list never loaded is 503 with Retry-After", func(t *testing.T) {
		res := wantStatus(t, "partner token", partnerGood, http.StatusServiceUnavailable)
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
		checkFields(t, accessLine(t, g, res), map[string]any{"reason": "revocation_unavailable", "issuer": "partner"})
	})
	t.Run("a listed jti is 401 invalid_token, reason revoked", func(t *testing.T) {
		revoked(t, "jti-revoked", revokedJTI)
		res := get(t, revokedJTI)
		checkFields(t, accessLine(t, g, res), map[string]any{"reason": "revoked", "issuer": "corp", "status": 401.0})
	})
	t.Run("a sub entry revokes the subject's tokens issued before it, not after", func(t *testing.T) {
		revoked(t, "mallory's token issued before the logout", malloryBefore)
		wantStatus(t, "mallory's token issued after the logout", malloryAfter, http.StatusOK)
	})
	t.Run("a token accepted and cached is refused once a refresh lists it", func(t *testing.T) {
		hits := counter(t, g, "portcullis_token_cache_hits_total", labels("issuer", "corp"))
		wantStatus(t, "jti-later before it is listed", later, http.StatusOK)
		wantStatus(t, "jti-later again (cached)", later, http.StatusOK)
		if h := counter(t, g, "portcullis_token_cache_hits_total", labels("issuer", "corp")); h < hits+1 {
			t.Fatalf("portcullis_token_cache_hits_total{issuer=\"corp\"} went from %v to %v: the token was not served from the cache", hits, h)
		}
		goodList = revocationList(map[string]int64{"jti-revoked": exp, "jti-later": exp}, map[string]int64{"mallory": logout})
		replaceFile(t, listFile, goodList)
		start := time.Now()
		eventually(t, 5*time.Second, "jti-later refused after the list named it", func() (bool, string) {
			res := get(t, later)
			return res.StatusCode == http.StatusUnauthorized, fmt.Sprintf("%d %s", res.StatusCode, res.body)
		})
		t.Logf("refused %v after the list changed (refresh_interval 1s)", time.Since(start).Round(10*time.Millisecond))
		revoked(t, "jti-later", later)
		wantStatus(t, "an unlisted token", clean, http.StatusOK)
		if n := counter(t, g, "portcullis_revocation_entries", labels("issuer", "corp")); n != 3 {
			t.Errorf("portcullis_revocation_entries{issuer=\"corp\"} = %v, want 3", n)
		}
	})
	t.Run("once the HTTP list loads, /readyz is 200 and the partner's tokens are judged by it", func(t *testing.T) {
		partnerList.set(http.StatusOK, partnerGoodList)
		res := waitStatus(t, g.Process, g.AdminURL("/readyz"), http.StatusOK, 5*time.Second)
		if !strings.Contains(string(res.body), `"ready"`) {
			t.Errorf("/readyz body %s", res.body)
		}
		wantStatus(t, "partner p-good", partnerGood, http.StatusOK)
		revoked(t, "partner p-revoked", partnerRevoked)
	})

	// stillRefusing: the last good lists are what is served.
	stillRefusing := func(t *testing.T) {
		t.Helper()
		revoked(t, "jti-revoked", revokedJTI)
		revoked(t, "jti-later", later)
		revoked(t, "mallory before the logout", malloryBefore)
		revoked(t, "partner p-revoked", partnerRevoked)
		wantStatus(t, "an unlisted token", clean, http.StatusOK)
		if n := counter(t, g, "portcullis_revocation_entries", labels("issuer", "corp")); n != 3 {
			t.Errorf("portcullis_revocation_entries{issuer=\"corp\"} = %v, want the last good list's 3", n)
		}
	}
	// Each step breaks both lists at once, the file's one way and the HTTP
	// one's another, so that the four kinds of broken list cost two waits.
	refreshes := "portcullis_revocation_refresh_total"
	corpErrors, corpSuccesses := labels("issuer", "corp", "result", "error"), labels("issuer", "corp", "result", "success")
	partnerErrors, partnerSuccesses := labels("issuer", "partner", "result", "error"), labels("issuer", "partner", "result", "success")
	oversized := strings.Replace(partnerGoodList, "{\"entries\"", "{"+strings.Repeat(" ", 80<<10)+"\"entries\"", 1)
	tooMany := map[string]int64{}
	for i := range 6 {
		tooMany[fmt.Sprintf("jti-%d", i)] = exp
	}
	for _, step := range []struct {
		name      string
		breakFile func(t *testing.T)
		partner   func() // breaks the HTTP list
	}{
		{"a list with more entries than max_entries from the file, a garbage body over HTTP",
			func(t *testing.T) { replaceFile(t, listFile, revocationList(tooMany, nil)) },
			func() { partnerList.set(http.StatusOK, "<html>502 Bad Gateway</html>") }},
		{"a missing file, a body over HTTP larger than the cap",
			func(t *testing.T) {
				if err := os.Remove(listFile); err != nil {
					t.Fatal(err)
				}
			},
			func() { partnerList.set(http.StatusOK, oversized) }},
	} {
		t.Run(step.name+": the last good lists stay, and errors are counted", func(t *testing.T) {
			refresh := series(scrape(t, g), refreshes)
			step.breakFile(t)
			step.partner()
			// Before the change every fetch succeeded: these errors are
			// fetches of the broken lists.
			waitCounter(t, g, refreshes, corpErrors, refresh[corpErrors]+1)
			waitCounter(t, g, refreshes, partnerErrors, refresh[partnerErrors]+1)
			stillRefusing(t)
			// Back to the good lists: the next fetches succeed again.
			refresh = series(scrape(t, g), refreshes)
			replaceFile(t, listFile, goodList)
			partnerList.set(http.StatusOK, partnerGoodList)
			waitCounter(t, g, refreshes, corpSuccesses, refresh[corpSuccesses]+1)
			waitCounter(t, g, refreshes, partnerSuccesses, refresh[partnerSuccesses]+1)
		})
	}
	tokens := []string{revokedJTI, later, clean, malloryBefore, malloryAfter, partnerRevoked, partnerGood}
	t.Run("a failed fetch is logged as serving the last good list, and no token is logged", func(t *testing.T) {
		if !strings.Contains(g.Stderr(), "serving the last good list") {
			t.Errorf("no log line says the last good list is served:\n%s", gatewaytest.Tail(g.Stderr(), 20))
		}
		for _, tok := range tokens {
			// The signature is what makes a token usable.
			checkNoSecret(t, "the log", g.Output(), tok, tok[strings.LastIndex(tok, ".")+1:])
		}
	})
	t.Run("every log line, the revocation list's included, is a JSON object with unique keys", func(t *testing.T) {
		checkJSONLog(t, g.Stderr(), tokens...)
	})
}
