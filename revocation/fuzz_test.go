package revocation

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzParse: whatever the document, parse never panics, and what it accepts
// is valid JSON that encoding/json (which reads member names without regard
// to case and lets a repeated member win) reads as the very same entries,
// within the documented bounds; re-encoded, it is accepted again as the
// same list. A document the parser accepted but read differently from a
// plain JSON reader is a document whose publisher and gateway disagree on
// what is revoked.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"entries": []}`,
		`{"entries": [{"jti": "a", "exp": 1900003600}, {"sub": "alice", "before": 1900000000}]}`,
		`{"entries": [{"JTI": "a", "exp": 1900003600}]}`,
		`{"entries": [{"jti": "a", "jti": "b", "exp": 1900003600}]}`,
		`{"entries": [{"jti": "a", "exp": 1.5}]}`,
		`{"entries": [{"sub": "", "before": 1}]}`,
		`{"entries": [{"jti": "a", "exp": 100}]}`,
		`{"entries": [], "x": 1}`,
		`{"entries": [{"jti": "\u00e9\ud800", "exp": 1900003600}]}`,
		`{"entries": [{"sub": "b", "before": 253402300800}]}`,
		`[]`, `null`, ``, `{"entries": [{}]}`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Unix(1_900_000_000, 0)
	const maxEntries, skew = 8, 30 * time.Second
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := parse(body, maxEntries, now, skew)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var doc struct {
			Entries []map[string]any `json:"entries"`
		}
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("accepted %q, which encoding/json cannot read: %v", body, err)
		}
		if len(doc.Entries) > maxEntries {
			t.Fatalf("accepted %d entries, more than %d", len(doc.Entries), maxEntries)
		}
		jti, sub := map[string]int64{}, map[string]int64{}
		for _, e := range doc.Entries {
			if len(e) != 2 {
				t.Fatalf("accepted an entry with %d members: %v", len(e), e)
			}
			num := func(name string) int64 {
				n, ok := e[name].(json.Number)
				if !ok {
					t.Fatalf("accepted %s = %#v, not a number", name, e[name])
				}
				v, err := n.Int64()
				if err != nil || v < 0 || v > maxTime {
					t.Fatalf("accepted %s = %s, not a whole number from 0 to %d", name, n, maxTime)
				}
				return v
			}
			str := func(name string) string {
				v, ok := e[name].(string)
				if !ok || v == "" || len(v) > 1024 {
					t.Fatalf("accepted %s = %#v", name, e[name])
				}
				return v
			}
			switch {
			case e["jti"] != nil:
				id, exp := str("jti"), num("exp")
				if cur, ok := jti[id]; now.Before(time.Unix(exp, 0).Add(skew)) && (!ok || exp > cur) {
					jti[id] = exp
				}
			case e["sub"] != nil:
				who, before := str("sub"), num("before")
				if cur, ok := sub[who]; !ok || before > cur {
					sub[who] = before
				}
			default:
				t.Fatalf("accepted an entry of neither shape: %v", e)
			}
		}
		if fmt.Sprint(jti) != fmt.Sprint(s.jti) || fmt.Sprint(sub) != fmt.Sprint(s.sub) {
			t.Fatalf("%q: parsed jti %v sub %v; encoding/json reads jti %v sub %v", body, s.jti, s.sub, jti, sub)
		}
		// Re-encoded, the list is the same list.
		again := []map[string]any{}
		for id, exp := range s.jti {
			again = append(again, map[string]any{"jti": id, "exp": exp})
		}
		for who, before := range s.sub {
			again = append(again, map[string]any{"sub": who, "before": before})
		}
		re, err := json.Marshal(map[string]any{"entries": again})
		if err != nil {
			t.Fatal(err)
		}
		s2, err := parse(re, maxEntries, now, skew)
		if err != nil {
			t.Fatalf("the re-encoded list %s is refused: %v", re, err)
		}
		if fmt.Sprint(s2.jti) != fmt.Sprint(s.jti) || fmt.Sprint(s2.sub) != fmt.Sprint(s.sub) {
			t.Fatalf("re-encoded, %s reads as jti %v sub %v", re, s2.jti, s2.sub)
		}
	})
}
