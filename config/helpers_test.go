package config_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/config"
)

// The smallest valid issuer and route, one line each, so that a test case
// can be written around the one section it is about.
const (
	issuerOK = `issuers: [{name: corp, issuer: "https://idp.example.com/", audiences: [api], algorithms: [RS256]}]` + "\n"
	routeOK  = `routes: [{name: r, match: {path_prefix: /}, upstream: "http://127.0.0.1:9001"}]` + "\n"
)

// issuerDoc wraps one issuer entry (its lines after "  - ", indented by
// four spaces) into a valid file.
func issuerDoc(body string) string {
	return "issuers:\n  - " + body + "\n" + routeOK
}

// routeDoc wraps one route entry (its lines after "  - ", indented by four
// spaces) into a valid file.
func routeDoc(body string) string {
	return issuerOK + "routes:\n  - " + body + "\n"
}

// markedLine returns the 1-based line of the one line of doc that carries
// the marker comment "#<", or 0 when none does.
func markedLine(t *testing.T, doc string) int {
	t.Helper()
	line := 0
	for i, l := range strings.Split(doc, "\n") {
		if strings.Contains(l, "#<") {
			if line != 0 {
				t.Fatalf("two lines carry the #< marker:\n%s", numbered(doc))
			}
			line = i + 1
		}
	}
	return line
}

// mustParse parses doc and fails the test on any problem.
func mustParse(t *testing.T, doc string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatalf("unexpected problems:\n%v\nin:\n%s", err, numbered(doc))
	}
	requireCodes(t, cfg.Warnings)
	return cfg
}

// problemsOf parses doc and returns its problems, failing the test if
// there are none or if a config came back alongside them.
func problemsOf(t *testing.T, doc string) config.Problems {
	t.Helper()
	cfg, err := config.Parse([]byte(doc), "test.yaml")
	if err == nil {
		t.Fatalf("no problem reported for:\n%s", numbered(doc))
	}
	if cfg != nil {
		t.Fatalf("a config was returned together with problems")
	}
	var ps config.Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		t.Fatalf("error is not a non-empty Problems: %#v", err)
	}
	requireCodes(t, ps)
	return ps
}

// requireProblem asserts that ps holds a problem for field at line with
// code, the rule that fired. saying, when not empty, is words its message
// must contain: for the cases whose point is a hint or a reference in the
// message ("did you mean", "first on line 5"), never to tell rules apart.
func requireProblem(t *testing.T, ps config.Problems, field string, line int, code config.Code, saying string) {
	t.Helper()
	for _, p := range ps {
		if p.Field == field && p.Line == line && p.Code == code && strings.Contains(p.Msg, saying) {
			if p.File != "test.yaml" {
				t.Errorf("problem names file %q, want test.yaml", p.File)
			}
			return
		}
	}
	want := fmt.Sprintf("want a problem at line %d, field %q, code %s", line, field, code)
	if saying != "" {
		want += fmt.Sprintf(", saying %q", saying)
	}
	t.Errorf("%s; got:\n%s", want, withCodes(ps))
}

// problemCase is a document that must be refused with a problem at field,
// on the line marked "#<", with code and, when saying is not empty, words
// its message contains (see requireProblem).
type problemCase struct {
	name   string
	doc    string
	field  string
	code   config.Code
	saying string
}

// requireProblems runs each case as a subtest: its document must be
// refused with the problem the case describes.
func requireProblems(t *testing.T, tests []problemCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireProblem(t, problemsOf(t, tt.doc), tt.field, markedLine(t, tt.doc), tt.code, tt.saying)
		})
	}
}

// requireWarnings runs each case as a subtest: its document must be
// accepted with the warning the case describes.
func requireWarnings(t *testing.T, tests []problemCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireProblem(t, mustParse(t, tt.doc).Warnings, tt.field, markedLine(t, tt.doc), tt.code, tt.saying)
		})
	}
}

// requireCodes asserts that every problem carries a code: a rule that
// reports without one cannot be told apart from the others.
func requireCodes(t *testing.T, ps config.Problems) {
	t.Helper()
	for _, p := range ps {
		if p.Code == "" {
			t.Errorf("problem without a code: %v", p)
		}
	}
}

// hasCode reports whether any problem of ps has code.
func hasCode(ps config.Problems, code config.Code) bool {
	for _, p := range ps {
		if p.Code == code {
			return true
		}
	}
	return false
}

// withCodes lists problems as Problems.Error does, each with its code.
func withCodes(ps config.Problems) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "[%s] %v\n", p.Code, p)
	}
	return b.String()
}

func numbered(doc string) string {
	var b strings.Builder
	for i, l := range strings.Split(doc, "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, l)
	}
	return b.String()
}
