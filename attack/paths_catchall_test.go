package attack_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// A GET-only protected route takes HEAD too. Go's ServeMux ("GET /x"),
// Express (app.get), Flask and Spring (@GetMapping) run the GET handler for
// HEAD: its side effects run, and its status and headers (ETag, Location,
// Set-Cookie, X-Total-Count...) come back. Were HEAD left to the public
// catch-all, an anonymous client would read them without a token.
func TestHeadIsAGetOnAGetOnlyRoute(t *testing.T) {
	tg := newCatchAllTarget(t)
	t.Run("without a token HEAD is refused as GET is", func(t *testing.T) {
		tg.refused(t, httptest.NewRequest(http.MethodGet, "http://api.example.com/reports/q3", nil), http.StatusUnauthorized, "unknown", "missing")
		tg.refused(t, httptest.NewRequest(http.MethodHead, "http://api.example.com/reports/q3", nil), http.StatusUnauthorized, "unknown", "missing")
	})
	t.Run("HEAD needs the GET route's scope", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodHead, "http://api.example.com/reports/q3", nil)
		req.Header.Set("Authorization", "Bearer "+tg.rsa.Sign(tg.claims("orders:create")))
		tg.refused(t, req, http.StatusForbidden, "corp", "insufficient_scope")
	})
	t.Run("HEAD with the GET route's scope is forwarded as HEAD", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodHead, "http://api.example.com/reports/q3", nil)
		req.Header.Set("Authorization", "Bearer "+tg.rsa.Sign(tg.claims("reports:read")))
		if up := tg.allowed(t, req); up.Method != http.MethodHead || up.URL.Path != "/reports/q3" {
			t.Errorf("upstream received %s %s, want HEAD /reports/q3", up.Method, up.URL.Path)
		}
	})
	// Only GET brings HEAD with it: routes that list POST or DELETE leave
	// HEAD to the routes after them, here the public catch-all, as they
	// leave GET.
	t.Run("a POST-only route does not take HEAD", func(t *testing.T) {
		up := tg.allowed(t, httptest.NewRequest(http.MethodHead, "http://api.example.com/orders/1", nil))
		if up.Method != http.MethodHead {
			t.Errorf("upstream received %s, want HEAD", up.Method)
		}
	})
}

// An exact protected path takes its path with a trailing slash. Express
// (non-strict routing, its default), Spring MVC before 6, Rails and Laravel
// route "/admin/" to the "/admin" handler: were "/admin/" left to the
// public catch-all, it would reach that handler without a token.
func TestAnExactPathTakesItsTrailingSlash(t *testing.T) {
	tg := newCatchAllTarget(t)
	for _, p := range []string{"/admin", "/admin/", "/admin//", "/x/../admin/"} {
		t.Run("without a token "+p+" is refused", func(t *testing.T) {
			tg.refused(t, httptest.NewRequest(http.MethodGet, "http://api.example.com"+p, nil), http.StatusUnauthorized, "unknown", "missing")
		})
	}
	t.Run("with the route's scope the slash is forwarded as sent", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "http://api.example.com/admin/", nil)
		req.Header.Set("Authorization", "Bearer "+tg.rsa.Sign(tg.claims("admin")))
		if up := tg.allowed(t, req); up.URL.Path != "/admin/" {
			t.Errorf("upstream received %s, want the path that was matched, /admin/", up.URL.Path)
		}
	})
	// One slash is all an exact path gains: below it, and other names
	// that start with it, are still the catch-all's.
	for _, p := range []string{"/admin/x", "/adminx"} {
		t.Run(p+" is still the catch-all's", func(t *testing.T) {
			if up := tg.allowed(t, httptest.NewRequest(http.MethodGet, "http://api.example.com"+p, nil)); up.URL.Path != p {
				t.Errorf("upstream received %s, want %s", up.URL.Path, p)
			}
		})
	}
}
