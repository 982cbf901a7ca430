package config

import (
	"fmt"
	"slices"
	"strings"
)

// Problem is one mistake in the file.
type Problem struct {
	File  string // path as given to Load, or the name given to Parse
	Line  int    // 1-based YAML line; 0 when the file as a whole is at fault
	Field string // dotted path, e.g. "routes[2].auth.issuers[0]"
	Msg   string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Field == "" {
		return loc + ": " + p.Msg
	}
	return loc + ": " + p.Field + ": " + p.Msg
}

// Problems is every mistake found in one file, in line order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// tidy drops repeated problems (an anchor reused by several routes reports
// its own mistakes once per use, at the same line) and sorts by line. The
// sort is stable so that problems on one line keep the order in which they
// were found: decoding first, then validation, field by field.
func tidy(ps Problems) Problems {
	if len(ps) == 0 {
		return nil
	}
	seen := make(map[Problem]bool, len(ps))
	out := make(Problems, 0, len(ps))
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b Problem) int { return a.Line - b.Line })
	return out
}
