package proxy_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestClaimHeadersAreExactOrAbsent: a claim header carries the claim as the
// identity provider signed it, or is not sent. A value the gateway would
// have to change to send (control characters removed, surrounding spaces
// trimmed, cut at the cap) or an array element that the comma list cannot
// keep apart would reach the upstream as another user's or another role's
// value: "ad\u0000min" would arrive as "admin", and the group
// "x,admin" as the two roles "x" and "admin".
func TestClaimHeadersAreExactOrAbsent(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		for i := range f.cfg.Routes {
			if f.cfg.Routes[i].Name == "profile" {
				f.cfg.Routes[i].Forward.ClaimsToHeaders["X-Roles"] = "roles"
			}
		}
	})
	send := func(t *testing.T, sub string, roles []any) (string, []string, []string) {
		t.Helper()
		c := f.claims("")
		c["sub"] = sub
		if roles != nil {
			c["roles"] = roles
		}
		res := f.get("/profile", f.rsa.Sign(c))
		if res.StatusCode != 200 {
			t.Fatalf("status %d: %s", res.StatusCode, res.body)
		}
		h := f.up.Last().Header
		return h.Get("X-User-Id"), h.Values("X-User-Id"), h.Values("X-Roles")
	}

	t.Run("exact values are forwarded as they are", func(t *testing.T) {
		sub, _, roles := send(t, "alice", []any{"admin", "user"})
		if sub != "alice" || len(roles) != 1 || roles[0] != "admin,user" {
			t.Errorf("X-User-Id %q, X-Roles %q", sub, roles)
		}
	})
	for _, sub := range []string{
		"ad\x00min", "admin\r\n", "adm\u0085in", "ad\u2028min", "\tadmin",
		" admin", "admin ",
		"admin" + strings.Repeat(" ", 5000) + "x", // cut at 4096, then trimmed
		"admin\x7f",
	} {
		t.Run("sub "+strings.ToValidUTF8(sub[:min(len(sub), 12)], "?"), func(t *testing.T) {
			got, all, _ := send(t, sub, nil)
			if got == "admin" {
				t.Fatalf("a token for %q reached the upstream as X-User-Id: admin", sub[:min(len(sub), 40)])
			}
			if len(all) != 0 {
				t.Errorf("X-User-Id %q for a sub it cannot carry exactly", all)
			}
		})
	}
	for name, roles := range map[string][]any{
		"an element holding a comma":           {"viewer,admin"},
		"an element with a leading space":      {"viewer", " admin"},
		"an element cut at the cap":            {strings.Repeat("a", 4090), "administrators"},
		"an element holding a control char":    {"ad\x00min"},
		"an object element (commas inside it)": {map[string]any{"a": "x", "b": "admin"}},
	} {
		t.Run("roles: "+name, func(t *testing.T) {
			_, _, got := send(t, "alice", roles)
			for _, v := range got {
				for _, r := range strings.Split(v, ",") {
					if strings.TrimSpace(r) == "admin" {
						t.Fatalf("roles %.60q reached the upstream as X-Roles %.80q, which lists admin", roles, v)
					}
				}
			}
			if len(got) != 0 {
				t.Errorf("X-Roles %.80q for roles it cannot carry exactly", got)
			}
		})
	}
}

// TestScopesAreSplitOnSpacesOnly: a scope claim that is a string is a list
// of scope-tokens separated by spaces (RFC 6749 §3.3), and a scope-token
// cannot hold other white space. An identity provider that grants a
// pattern of scopes (Hydra's wildcard strategy, Keycloak's dynamic
// scopes) issues "orders:x<NBSP>orders:read" as one scope, which the
// client chose; split on any white space it would grant orders:read.
func TestScopesAreSplitOnSpacesOnly(t *testing.T) {
	f := newFixture(t)
	for _, sep := range []string{"\u00a0", "\t", "\n", "\r", "\v", "\f", "\u0085", "\u2003", "\u3000"} {
		t.Run(strings.ToValidUTF8(fmt.Sprintf("%q", sep), "?"), func(t *testing.T) {
			res := f.get("/orders/1", f.rsa.Sign(f.claims("orders:x"+sep+"orders:read")))
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("scope %q: status %d, want 403: it is one scope, not orders:read", "orders:x"+sep+"orders:read", res.StatusCode)
			}
		})
	}
	if res := f.get("/orders/1", f.rsa.Sign(f.claims("profile  orders:read "))); res.StatusCode != http.StatusOK {
		t.Errorf("scopes separated by spaces: status %d, want 200", res.StatusCode)
	}
}
