package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// batchIssuers is a valid issuers section for the documents below.
const batchIssuers = `issuers:
  - name: corp
    issuer: "https://idp.example.com/"
    audiences: [api]
    algorithms: [RS256]
`

// batchRoutes writes n routes under "routes:", with their items indented
// by indent spaces, in the shapes a hand-written table has: block and flow
// mappings, comments between items (some at the start of the line),
// folded, literal and multi-line quoted scalars, compact nested lists, an
// inline merge key, explicit nulls. edit may rewrite route i's text.
func batchRoutes(n, indent int, edit func(i int, item string) string) string {
	var b strings.Builder
	b.WriteString("routes:   # the table\n")
	pad := strings.Repeat(" ", indent)
	for i := range n {
		var item string
		switch i % 5 {
		case 0:
			item = fmt.Sprintf("- name: r%d\n  match:\n    path_prefix: /svc%d\n    methods:\n    - GET\n    - head\n  upstream: \"http://127.0.0.1:9001\"\n  auth: {scopes: {all_of: [read]}}\n", i, i)
		case 1:
			item = fmt.Sprintf("- {name: r%d, match: {path: /exact%d, hosts: [H%d.Example.com]}, upstream: \"http://127.0.0.1:9001\", forward: {claims_to_headers: {X-User-Id: sub}}}\n", i, i, i%9)
		case 2:
			item = fmt.Sprintf("- name: \"r%d\n    quoted\"\n  match: {path_prefix: /q%d}\n  upstream: >-\n    http://127.0.0.1:9002\n  strip_prefix: ~\n  timeout: 5s\n", i, i)
		case 3:
			item = fmt.Sprintf("- name: r%d\n  <<: {timeout: 7s, upstream: \"http://127.0.0.1:9003\"}\n  match: {path_prefix: /m%d}\n  auth:\n    mode: public\n", i, i)
		default:
			item = fmt.Sprintf("-\n  name: r%d   # a comment\n  match: {path_prefix: /lit%d}\n  upstream: |-\n    http://127.0.0.1:9004\n\n  auth: {claims: {\"https://x.example/roles\": {contains_any: [admin, 5, true]}}}\n", i, i)
		}
		if i%7 == 0 {
			item = "# section " + fmt.Sprint(i) + "\n\n" + item
		}
		if edit != nil {
			item = edit(i, item)
		}
		for _, l := range strings.SplitAfter(item, "\n") {
			if l != "" && l != "\n" && !strings.HasPrefix(l, "#") {
				l = pad + l
			}
			b.WriteString(l)
		}
	}
	return b.String()
}

// TestBatchesMatchWholeDocument checks that parsing the routes a batch at a
// time gives exactly what parsing the document whole gives, the config or
// every problem with its line, and that it leaves to the whole-document
// path the files it must.
func TestBatchesMatchWholeDocument(t *testing.T) {
	example, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	big := batchIssuers + batchRoutes(1500, 2, nil) + "log: {level: debug}\n"
	if len(big) < 3*batchBytes {
		t.Fatalf("the large document is %d bytes, fewer than three batches", len(big))
	}
	tests := []struct {
		name    string
		doc     string
		batched bool // false: parseInBatches must leave it to parseWhole
	}{
		{"the example file", string(example), true},
		{"a thousand routes of every shape", big, true},
		{"items at the start of the line", batchIssuers + batchRoutes(600, 0, nil), true},
		{"routes before the other sections", batchRoutes(600, 4, nil) + batchIssuers + "server: {listen: \":8080\"}\n", true},
		{"CRLF line ends", strings.ReplaceAll(big, "\n", "\r\n"), true},
		{"a document start and end marker", "---\n" + big + "...\n", true},
		{"mistakes in several batches", batchIssuers + batchRoutes(1000, 2, func(i int, item string) string {
			switch i {
			case 3:
				return strings.Replace(item, "timeout: 7s", "timeout: soon", 1)
			case 350:
				return strings.Replace(item, "path_prefix: /svc350", "path_prefix: svc350/", 1) + "  colour: red\n"
			case 701:
				return strings.Replace(item, "name: r701", "name: r700", 1)
			case 999:
				return strings.Replace(item, "contains_any: [admin, 5, true]", "contains_any: []", 1)
			}
			return item
		}) + "issuers: []\n", true},
		{"warnings only", batchIssuers + batchRoutes(400, 2, func(i int, item string) string {
			if i == 0 {
				return "- {name: all, match: {path_prefix: /}, upstream: \"http://127.0.0.1:9001\"}\n" + item
			}
			return item
		}), true},
		{"a route with no mapping", batchIssuers + "routes:\n  -\n  - x\n  - [a]\n", true},
		{"no routes at all", batchIssuers, false},
		{"a flow list of routes", batchIssuers + "routes: [{name: r, match: {path_prefix: /}, upstream: \"http://h\"}]\n", false},
		{"an anchor in one batch and its alias in another", batchIssuers + batchRoutes(1000, 2, func(i int, item string) string {
			switch i {
			case 5:
				return strings.Replace(item, "auth: {", "auth: &shared {", 1)
			case 900:
				return strings.Replace(item, "auth: {claims", "auth: *shared\n  forward: {claims", 1)
			}
			return item
		}), false},
		{"a syntax error in the third batch", batchIssuers + batchRoutes(1000, 2, func(i int, item string) string {
			if i == 801 {
				return strings.Replace(item, "}, upstream", ", upstream", 1)
			}
			return item
		}), false},
		{"routes written twice", batchIssuers + batchRoutes(3, 2, nil) + batchRoutes(3, 2, nil), false},
		{"a tab in an indentation", batchIssuers + batchRoutes(3, 2, nil) + "server:\n\tlisten: \":1\"\n", false},
		{"a YAML directive", "%YAML 1.1\n---\n" + batchIssuers + batchRoutes(3, 2, nil), false},
		{"a lone carriage return", batchIssuers + batchRoutes(3, 2, nil) + "# a\rb\n", false},
		{"a line separator", batchIssuers + batchRoutes(3, 2, nil) + "# a\u2028b\n", false},
		{"an item less indented than the first", batchIssuers + "routes:\n    - {name: a, match: {path: /}, upstream: \"http://h\"}\n  - {name: b}\n", false},
		{"a key after the items at their indent", batchIssuers + "routes:\n  - {name: a, match: {path: /}, upstream: \"http://h\"}\n  log: {}\n", false},
		{"a second document", batchIssuers + batchRoutes(3, 2, nil) + "---\nroutes: []\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compareBatches(t, []byte(tt.doc), tt.batched)
		})
	}
}

// compareBatches parses doc both ways and reports any difference; with
// wantBatched, it also requires that parseInBatches took the document.
func compareBatches(t *testing.T, doc []byte, wantBatched bool) {
	t.Helper()
	whole, wholeErr := parseWhole(doc, "test.yaml")
	got, err := parseInBatches(doc, "test.yaml")
	if err == errWholeDocument {
		if wantBatched {
			t.Errorf("parseInBatches left the document to parseWhole")
		}
		return
	}
	if !wantBatched {
		t.Errorf("parseInBatches took a document it must leave to parseWhole")
	}
	if !reflect.DeepEqual(got, whole) || !reflect.DeepEqual(err, wholeErr) {
		t.Errorf("parsed in batches:\n%v\n%+v\nparsed whole:\n%v\n%+v", err, got, wholeErr, whole)
	}
}

// FuzzBatchesMatchWholeDocument looks for a document that parseInBatches
// takes and reads otherwise than parseWhole.
func FuzzBatchesMatchWholeDocument(f *testing.F) {
	f.Add([]byte(batchIssuers + batchRoutes(6, 2, nil)))
	f.Add([]byte(batchRoutes(6, 0, nil) + batchIssuers))
	f.Add([]byte("routes:\n  - {name: a, match: {path: /}, upstream: \"http://h\"}\n  # c\nlog: {}\n"))
	f.Add([]byte("routes: # x\n- name: a\n  match: {path: \"/a\n  b\"}\n- name: b\n  upstream: |\n   http://h\n...\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		whole, wholeErr := parseWhole(doc, "fuzz.yaml")
		got, err := parseInBatches(doc, "fuzz.yaml")
		if err == errWholeDocument {
			return
		}
		if !reflect.DeepEqual(got, whole) || !reflect.DeepEqual(err, wholeErr) {
			t.Errorf("parsed in batches:\n%v\n%+v\nparsed whole:\n%v\n%+v", err, got, wholeErr, whole)
		}
	})
}
