package config

import (
	"fmt"
	"path"
	"slices"
)

// shadowed warns about a route that can never match because an earlier one
// takes every request it would: first match wins, and a catch-all placed
// too early is an easy mistake to make and a hard one to see. This is a
// best-effort check (it compares hosts and methods as written, without
// expanding wildcards), so it only warns.
func (v *validator) shadowed(rs []Route) {
	// Earlier routes by exact path and by prefix; each request path is
	// covered by the prefixes along its ancestors, so a route is compared
	// with a few buckets instead of with every earlier route.
	const bucketMax = 64
	exact := map[string][]int{}
	prefix := map[string][]int{}
	for i, r := range rs {
		p, isPrefix := r.Match.Path, false
		if p == "" {
			p, isPrefix = r.Match.PathPrefix, true
		}
		if p == "" || checkPath(p, isPrefix) != nil {
			continue // reported already; only clean paths have ancestors
		}
		var cands []int
		if r.Match.Path != "" {
			cands = append(cands, exact[p]...)
		}
		for q := p; ; q = path.Dir(q) {
			cands = append(cands, prefix[q]...)
			if q == "/" || q == "." {
				break
			}
		}
		shadowed := false
		for _, j := range cands {
			if covers(rs[j].Match, r.Match) {
				v.warnf(fmt.Sprintf("routes[%d]", i), CodeShadowedRoute, "route %q can never match: route %q (line %d) comes first and takes every request it would", r.Name, rs[j].Name, rs[j].Line)
				shadowed = true
				break
			}
		}
		if isPrefix && !shadowed && p != "/" {
			// An exact path takes its trailing-slash twin (policy): an
			// earlier path: P takes P/ from a later path_prefix: P.
			for _, j := range exact[p] {
				if overlaps(rs[j].Match, r.Match) {
					v.warnf(fmt.Sprintf("routes[%d]", i), CodeConflict, "route %q (line %d), path %s, comes first and also takes %s/, which this prefix would otherwise take: list the route whose policy should decide %s/ first", rs[j].Name, rs[j].Line, p, p, p)
					break
				}
			}
		}
		if r.Match.Path != "" {
			if len(exact[p]) < bucketMax {
				exact[p] = append(exact[p], i)
			}
		} else if len(prefix[p]) < bucketMax {
			prefix[p] = append(prefix[p], i)
		}
	}
}

// overlaps reports whether some request could match both a and b by host
// and method (as written; empty means any).
func overlaps(a, b Match) bool {
	meet := func(x, y []string) bool {
		return len(x) == 0 || len(y) == 0 || slices.ContainsFunc(x, func(s string) bool { return slices.Contains(y, s) })
	}
	return meet(a.Hosts, b.Hosts) && meet(a.Methods, b.Methods)
}

// covers reports whether every request that b matches (by host and method)
// is also matched by a; the path was compared by the caller.
func covers(a, b Match) bool {
	// y ⊆ x, where empty means "any", and x takes what takes says it does.
	subset := func(x, y []string, takes func([]string, string) bool) bool {
		if len(x) == 0 {
			return true
		}
		if len(y) == 0 {
			return false
		}
		for _, s := range y {
			if !takes(x, s) {
				return false
			}
		}
		return true
	}
	return subset(a.Hosts, b.Hosts, slices.Contains[[]string]) && subset(a.Methods, b.Methods, TakesMethod)
}
