package outcome

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"slices"
	"strconv"
	"testing"
)

// TestEveryReasonHasARow reads this package's source for every constant of
// type Reason: a reason declared without a row would be refused as a
// malformed token by Of, which is safe but wrong.
func TestEveryReasonHasARow(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "outcome.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []Reason
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" {
				continue
			}
			v, err := strconv.Unquote(vs.Values[0].(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			declared = append(declared, Reason(v))
		}
	}
	if len(declared) < 20 {
		t.Fatalf("found only %d Reason constants: the parse is wrong", len(declared))
	}
	for _, r := range declared {
		if _, ok := rows[r]; !ok {
			t.Errorf("reason %q has no row", r)
		}
	}
	for _, r := range Reasons() {
		if !slices.Contains(declared, r) {
			t.Errorf("row %q has no constant", r)
		}
	}
}

// The rows keep RFC 6750 §3's rules and the contract's metric vocabulary.
func TestRowsAreConsistent(t *testing.T) {
	// The contract's reason label values of portcullis_auth_failures_total,
	// and the two that opaque tokens and revocation lists added (inactive,
	// revoked: refused tokens like the others).
	contract := []Reason{Missing, Malformed, BadSignature, UnknownKey, BadAlgorithm, Expired, NotYetValid,
		BadIssuer, BadAudience, BadType, MissingClaim, InsufficientScope, ClaimMismatch, Inactive, Revoked}
	for _, r := range Reasons() {
		row := Of(r)
		if row.AuthFailure != slices.Contains(contract, r) {
			t.Errorf("%s: AuthFailure = %v, but the contract's auth failure reasons are %v", r, row.AuthFailure, contract)
		}
		switch row.Challenge {
		case BearerChallenge, InvalidTokenChallenge:
			if row.Status != http.StatusUnauthorized || row.Decision != Unauthenticated {
				t.Errorf("%s: a 401 challenge with status %d, decision %q", r, row.Status, row.Decision)
			}
		case InsufficientScopeChallenge:
			if row.Status != http.StatusForbidden || row.Decision != Forbidden || row.Error != "insufficient_scope" {
				t.Errorf("%s: an insufficient_scope challenge with status %d, decision %q, error %q", r, row.Status, row.Decision, row.Error)
			}
		case NoChallenge:
			// A 401 or 403 about a token carries a challenge; the
			// decision service's refusal of an untrusted caller is about
			// the caller, and makes no auth decision.
			if (row.Status == http.StatusUnauthorized || row.Status == http.StatusForbidden) && row.Decision != "" || row.Status == http.StatusUnauthorized {
				t.Errorf("%s: a %d without a challenge (RFC 6750 §3)", r, row.Status)
			}
		}
		if row.Challenge == InvalidTokenChallenge && row.Error != "invalid_token" {
			t.Errorf("%s: error %q with an invalid_token challenge", r, row.Error)
		}
		if !row.Silent && (row.Error == "" || row.Description == "") {
			t.Errorf("%s: a written refusal needs an error code and a description", r)
		}
		if row.Status < 400 && !(row.Silent && row.Status == 0) {
			t.Errorf("%s: status %d is no refusal", r, row.Status)
		}
	}
	if got := Of("no-such-reason"); got != Of(Malformed) {
		t.Errorf("an unknown reason gets %+v, want the malformed row", got)
	}
}
