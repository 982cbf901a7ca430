package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"

	"gopkg.in/yaml.v3"
)

// Parsing the routes a batch at a time.
//
// yaml.v3 builds the node tree of a whole document before anything can be
// decoded from it, and the tree is about 18 times the size of its text: a
// yaml.Node takes 160 bytes, and a route of the bench harness's table is
// 30 of them. For the harness's 10,000-route file (2.8 MB) the tree is 51
// MB live, and `portcullis validate` on that file peaked at 127-133 MB
// resident. Routes are almost all of such a file and never refer to one
// another, so parseInBatches parses the rest of the file with the route
// items' lines emptied (the skeleton), then the routes' list a batch of
// about batchBytes of text at a time, decoding each batch into the Config
// before it parses the next: only one batch's nodes are alive at once
// (docs/benchmarks.md, "Loading a 10,000-route file").
//
// It takes only a file that it can cut without changing what any node
// means or on which line it is:
//
//   - a top-level "routes:" written once, at the start of its line, with
//     its list in block style on the lines below it ("- " items);
//   - no anchors and no aliases anywhere, since a batch parsed alone cannot
//     see an anchor in another, and the alias budget (decoder.maxVisits)
//     is stated in nodes of the whole document;
//   - no %YAML or %TAG directive, which would apply to every batch;
//   - no tab in any line's indentation, and no line break other than "\n"
//     and "\r\n" (YAML also breaks lines at a lone "\r", U+0085, U+2028
//     and U+2029, which the cutting would not count).
//
// Every other file, and every file in which the skeleton or a batch is not
// valid YAML or not of the shape the cutting expected, Parse parses whole,
// and then reports exactly what it always has: parseInBatches reports no
// YAML problem of its own, and what it decoded before a batch turned out
// not to parse is dropped unreported. Decoding and validation are the same
// code either way; TestBatchesMatchWholeDocument and
// FuzzBatchesMatchWholeDocument compare the two paths.

// errWholeDocument is what parseInBatches returns for a file that must be
// parsed whole.
var errWholeDocument = errors.New("config: the file must be parsed whole")

// batchBytes is the text of routes parsed at once: 64 KiB, about 230
// routes of the harness's table and 1.2 MB of nodes. Measured on the
// 10,000-route file, `portcullis validate` peaks at 48-49 MB resident with
// batches of 8, 16 or 64 KiB, 54-57 MB with 256 KiB and 68-74 MB with 1
// MiB: below 64 KiB the decoded routes and their lines are the peak, and
// every batch costs a parser.
const batchBytes = 64 << 10

// routeBatch is a run of whole route items: data[start:end], whose first
// line is line.
type routeBatch struct {
	start, end int
	line       int
	items      int
}

// routeCut is where splitRoutes cut a file.
type routeCut struct {
	keyLine  int    // the line of "routes:"
	items    int    // the routes, all batches together
	skeleton []byte // the file with the route items' lines emptied
	batches  []routeBatch
}

// parseInBatches parses and checks data as Parse does, or returns
// errWholeDocument.
func parseInBatches(data []byte, name string) (*Config, error) {
	cut, ok := splitRoutes(data)
	if !ok {
		return nil, errWholeDocument
	}
	root, p := parseDocument(cut.skeleton, name)
	if p != nil || !plainTree(root, 0) || !routesKeyEmpty(root, cut.keyLine) {
		return nil, errWholeDocument
	}
	cfg := newConfig()
	d := newDecoder(name, root)
	// Without aliases every node is visited once (twice when merged), so
	// the budget, which is stated for the whole document, cannot run out.
	d.maxVisits = math.MaxInt
	d.value(root, reflect.ValueOf(cfg).Elem(), "")
	routes := make([]Route, cut.items)
	i := 0
	for _, b := range cut.batches {
		seq := parseBatch(data, b)
		if seq == nil {
			// Nothing decoded so far has been reported: cfg and d are
			// dropped, and the whole-document path starts afresh.
			return nil, errWholeDocument
		}
		for _, e := range seq.Content {
			d.element(e, reflect.ValueOf(&routes[i]).Elem(), fmt.Sprintf("routes[%d]", i))
			i++
		}
	}
	cfg.Routes = routes
	return check(cfg, d)
}

// parseBatch parses one batch into its list node, with the lines of the
// file, or returns nil when the batch is not exactly b.items plain list
// items.
func parseBatch(data []byte, b routeBatch) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data[b.start:b.end]))
	var doc, next yaml.Node
	if dec.Decode(&doc) != nil || !errors.Is(dec.Decode(&next), io.EOF) {
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil
	}
	seq := doc.Content[0]
	if seq.Kind != yaml.SequenceNode || len(seq.Content) != b.items || !plainTree(seq, b.line-1) {
		return nil
	}
	return seq
}

// plainTree reports whether the tree under n has no anchor and no alias,
// and moves every node down by offset lines.
func plainTree(n *yaml.Node, offset int) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return false
	}
	n.Line += offset
	for _, c := range n.Content {
		if !plainTree(c, offset) {
			return false
		}
	}
	return true
}

// routesKeyEmpty reports whether the top-level mapping has its routes key
// on line keyLine and, the items having been emptied, no value for it.
func routesKeyEmpty(root *yaml.Node, keyLine int) bool {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Line == keyLine && k.Kind == yaml.ScalarNode && k.Value == "routes" {
			return v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" && v.Value == ""
		}
	}
	return false
}

// splitRoutes finds the route items of data and cuts them into batches,
// or reports that data is not a file it can cut (see the top of this
// file). It reads lines only; the parser then confirms the cut.
func splitRoutes(data []byte) (routeCut, bool) {
	if hasOtherLineBreaks(data) {
		return routeCut{}, false
	}
	const (
		beforeKey = iota // and in the other sections
		beforeItems
		inItems
		afterItems
	)
	var (
		cut        routeCut
		state      = beforeKey
		seqIndent  int
		first, end int // the route items' bytes
	)
	line := 0
	for off := 0; off < len(data); {
		next := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		line++
		text := bytes.TrimSuffix(bytes.TrimSuffix(data[off:next], []byte("\n")), []byte("\r"))
		indent := 0
		for indent < len(text) && text[indent] == ' ' {
			indent++
		}
		content := text[indent:]
		switch {
		case len(content) > 0 && content[0] == '\t':
			return routeCut{}, false
		case indent == 0 && len(content) > 0 && content[0] == '%':
			return routeCut{}, false
		}
		if indent == 0 && isRoutesKey(text) {
			if cut.keyLine != 0 {
				return routeCut{}, false // written twice
			}
			cut.keyLine, state = line, beforeItems
			off = next
			continue
		}
		blank := len(content) == 0 || content[0] == '#'
		item := len(content) > 0 && content[0] == '-' && (len(content) == 1 || content[1] == ' ')

		switch state {
		case beforeItems:
			if blank {
				break
			}
			if !item {
				return routeCut{}, false // a flow list, a scalar, no value
			}
			seqIndent, first, state = indent, off, inItems
			cut.items++
			cut.batches = append(cut.batches, routeBatch{start: off, line: line, items: 1})
		case inItems:
			switch {
			case blank || indent > seqIndent:
			case indent == seqIndent && item:
				cut.items++
				if b := &cut.batches[len(cut.batches)-1]; off-b.start < batchBytes {
					b.items++
				} else {
					b.end = off
					cut.batches = append(cut.batches, routeBatch{start: off, line: line, items: 1})
				}
			case indent > 0:
				// Less indented than the items, yet not at the start of
				// its line: no top-level key. YAML reads it as more of
				// the routes' value (" !", a tag, made the emptied list
				// a null); only the whole document says what it is.
				return routeCut{}, false
			default:
				end, state = off, afterItems
			}
		}
		off = next
	}
	switch state {
	case beforeKey, beforeItems:
		return routeCut{}, false
	case inItems:
		end = len(data)
	}
	cut.batches[len(cut.batches)-1].end = end

	skeleton := make([]byte, 0, first+bytes.Count(data[first:end], []byte("\n"))+len(data)-end)
	skeleton = append(skeleton, data[:first]...)
	for range bytes.Count(data[first:end], []byte("\n")) {
		skeleton = append(skeleton, '\n')
	}
	cut.skeleton = append(skeleton, data[end:]...)
	return cut, true
}

// isRoutesKey reports whether a line is "routes:" with no value on it,
// only white space or a comment after the colon.
func isRoutesKey(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("routes:"))
	if !ok {
		return false
	}
	trimmed := bytes.TrimLeft(rest, " ")
	return len(trimmed) == 0 || trimmed[0] == '#' && len(trimmed) < len(rest)
}

// hasOtherLineBreaks reports whether data breaks a line anywhere with
// something other than "\n" or "\r\n", which YAML counts as a line but
// splitRoutes would not.
func hasOtherLineBreaks(data []byte) bool {
	for i := bytes.IndexByte(data, '\r'); i >= 0; {
		if i+1 >= len(data) || data[i+1] != '\n' {
			return true
		}
		j := bytes.IndexByte(data[i+1:], '\r')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return bytes.Contains(data, []byte("\u0085")) || bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029"))
}
