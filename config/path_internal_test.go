package config

import "testing"

func TestParentPathUndoesJoinPath(t *testing.T) {
	for _, parent := range []string{"", "routes[3]", "routes[0].auth.claims", `routes[0].auth.claims["a.b"]`} {
		for _, key := range []string{"name", "X-User-Id", "https://example.com/roles", `a"]["b`, "a[1]", "x.y"} {
			if got := parentPath(joinPath(parent, key)); got != parent {
				t.Errorf("parentPath(joinPath(%q, %q)) = %q", parent, key, got)
			}
		}
		if got := parentPath(parent + "[12]"); got != parent {
			t.Errorf("parentPath(%q) = %q", parent+"[12]", got)
		}
	}
}
