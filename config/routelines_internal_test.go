package config

import "testing"

func TestRouteLinesKeepEveryPathApart(t *testing.T) {
	var r routeLines
	other := map[string]int{}
	paths := []string{"routes", "routes[0]", "routes[00]", "routes[+0]", "routes[0].name", "routes[0]x", `routes[0]["a.b"]`,
		"routes[10].name", "routes[1].name", "routes[1]0].name", "issuers[0]", `["routes[0]"]`}
	for i, p := range paths {
		r.setLine(other, p, i+1)
	}
	for i, p := range paths {
		if got, ok := r.lineOf(other, p); !ok || got != i+1 {
			t.Errorf("line of %q = %d, %v; want %d", p, got, ok, i+1)
		}
	}
	if _, ok := r.lineOf(other, "routes[2].name"); ok {
		t.Error("a path never set has a line")
	}
}
