package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// decoder fills a Config from a yaml.Node tree by walking the tree against
// the yaml tags of the Config types.
//
// It exists because yaml.v3's own strict mode (Decoder.KnownFields) is lost
// as soon as a type has an UnmarshalYAML method or a value is decoded with
// Node.Decode, so an unknown key inside a route would pass unnoticed; and
// because yaml.v3 stops at the first type error, while an operator wants
// every mistake in one run. Walking the nodes ourselves also gives the line
// of every key, which validation reuses.
//
// The decoder starts from the defaults and writes only the keys present in
// the file, which is how "absent" (default applies) is told apart from
// "explicitly empty" (`required_claims: []`). A key whose value is null is
// treated as absent.
type decoder struct {
	file     string
	problems Problems

	// lines and routeLines map a field path ("routes[2].auth.issuers[0]")
	// to the line of its key (for mapping entries) or of the element (for
	// list entries): routeLines the paths inside routes, lines the others.
	// setLine and lineOf read and write them.
	lines      map[string]int
	routeLines routeLines
	// failed holds the paths whose value could not be decoded, so that
	// validation does not pile a second, confusing message on top (an
	// "is required" for a field that was written, but with the wrong type).
	failed map[string]bool

	// visits counts nodes decoded, aliases included, against maxVisits:
	// each alias re-walks its anchor, so a few lines of nested aliases
	// (the "billion laughs" file) would otherwise mean billions of visits.
	visits, maxVisits int
	aborted           bool

	// inMapping holds the mappings whose entries are being collected, to
	// refuse a merge key ("<<") that refers back to its own mapping.
	inMapping map[*yaml.Node]bool
}

// aliasAllowance is how many nodes beyond twice the document's own node
// count the decoder visits before giving up; legitimate reuse of an anchor
// (a shared auth block in every route) stays far below it.
const aliasAllowance = 100_000

func newDecoder(file string, root *yaml.Node) *decoder {
	return &decoder{
		file:      file,
		lines:     map[string]int{},
		failed:    map[string]bool{},
		maxVisits: 2*countNodes(root) + aliasAllowance,
		inMapping: map[*yaml.Node]bool{},
	}
}

// countNodes counts the nodes of the tree as written, without following
// aliases.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

func (d *decoder) setLine(p string, line int) { d.routeLines.setLine(d.lines, p, line) }

func (d *decoder) lineOf(p string) (int, bool) { return d.routeLines.lineOf(d.lines, p) }

func (d *decoder) addf(line int, field string, code Code, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Field: field, Code: code, Msg: fmt.Sprintf(format, args...)})
}

// fail records a problem with the value at path and marks path as failed.
func (d *decoder) fail(n *yaml.Node, path string, code Code, format string, args ...any) {
	d.failed[path] = true
	d.addf(n.Line, path, code, format, args...)
}

// resolve follows aliases and charges the visit to the budget. It returns
// nil once the budget is spent; the decoder then unwinds without looking at
// anything else.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	if d.aborted {
		return nil
	}
	d.visits++
	if d.visits > d.maxVisits {
		d.aborted = true
		d.addf(n.Line, "", CodeAliasExpansion, "aliases expand to more than %d values; refusing to expand further (is this a \"billion laughs\" file?)", d.maxVisits)
		return nil
	}
	return deref(n)
}

// deref follows aliases without charging the budget. The parser guarantees
// that an alias points to a node that is not itself an alias.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	issuerType      = reflect.TypeFor[Issuer]()
	routeType       = reflect.TypeFor[Route]()
	claimRuleType   = reflect.TypeFor[ClaimRule]()
)

// value decodes n into v, which must be addressable.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n = d.resolve(n); n == nil {
		return
	}
	if v.Type() == claimRuleType {
		d.claimRule(n, v.Addr().Interface().(*ClaimRule), path)
		return
	}
	if v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			code := CodeInvalid
			if ce, ok := errors.AsType[*codedError](err); ok {
				code = ce.code
			}
			d.fail(n, path, code, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		// An optional setting whose absence means something of its own
		// (routes[].auth.enforce: the default applies).
		v.Set(reflect.New(v.Type().Elem()))
		d.value(n, v.Elem(), path)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.String:
		if s, ok := d.str(n, path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.fail(n, path, CodeWrongType, "must be true or false, not %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(n, path, CodeWrongType, "must be true or false, not %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.fail(n, path, CodeWrongType, "must be a whole number, not %s", describe(n))
			return
		}
		var i int
		if err := n.Decode(&i); err != nil {
			d.fail(n, path, CodeOutOfRange, "%s is out of range", n.Value)
			return
		}
		v.SetInt(int64(i))
	case reflect.Float64:
		// A ratio (tracing.sample_ratio): 1 and 0 are written as
		// whole numbers as often as 0.25 is not.
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") {
			d.fail(n, path, CodeWrongType, "must be a number, not %s", describe(n))
			return
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			d.fail(n, path, CodeWrongType, "must be a number, not %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		// Only reachable if a field of an unsupported type is added to
		// Config; the tests decode every field.
		panic("config: no decoder for " + v.Type().String())
	}
}

// structure decodes a mapping into a struct, key by key, leaving the
// fields whose keys are absent (or null) as they are: at their defaults.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, CodeWrongType, "must be a mapping (key: value), not %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	for _, e := range d.entries(n, path) {
		fp := joinPath(path, e.key)
		i, ok := fields.index[e.key]
		if !ok {
			d.addf(e.k.Line, fp, CodeUnknownKey, "unknown key %q%s", e.key, suggest(e.key, fields.names))
			continue
		}
		d.setLine(fp, e.k.Line)
		if val := deref(e.v); val.Kind == yaml.ScalarNode && val.ShortTag() == "!!null" {
			continue
		}
		d.value(e.v, v.Field(i), fp)
	}
}

// sequence decodes a list into a slice, replacing any default: a list in
// the file is the whole list.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf(" (write [%s] for a list of one)", n.Value)
		}
		d.fail(n, path, CodeWrongType, "must be a list, not %s%s", describe(n), hint)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		d.element(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// element decodes one entry of a list into elem, starting from the
// defaults of an issuer or a route.
func (d *decoder) element(e *yaml.Node, elem reflect.Value, path string) {
	d.setLine(path, e.Line)
	switch elem.Type() {
	case issuerType:
		elem.Set(reflect.ValueOf(newIssuer()))
	case routeType:
		elem.Set(reflect.ValueOf(newRoute()))
	}
	d.value(e, elem, path)
}

// mapping decodes a mapping into a map[string]T.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, CodeWrongType, "must be a mapping (key: value), not %s", describe(n))
		return
	}
	entries := d.entries(n, path)
	m := reflect.MakeMapWithSize(v.Type(), len(entries))
	for _, e := range entries {
		fp := joinPath(path, e.key)
		d.setLine(fp, e.k.Line)
		ev := reflect.New(v.Type().Elem()).Elem()
		d.value(e.v, ev, fp)
		m.SetMapIndex(reflect.ValueOf(e.key), ev)
	}
	v.Set(m)
}

type entry struct {
	key  string
	k, v *yaml.Node
}

// entries lists the key/value pairs of a mapping, refusing duplicate keys
// (yaml.v3 does not when it builds nodes; the last one would silently win)
// and expanding merge keys ("<<: *defaults"), where a key written in the
// mapping itself wins over a merged one, and an earlier merged mapping wins
// over a later one, as the YAML merge-key spec says.
func (d *decoder) entries(n *yaml.Node, path string) []entry {
	if d.inMapping[n] {
		d.addf(n.Line, path, CodeBadMerge, "a merge key (<<) refers back to the mapping that contains it")
		return nil
	}
	d.inMapping[n] = true
	defer delete(d.inMapping, n)

	var own, merged []entry
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if kk := deref(k); kk.Kind == yaml.ScalarNode && kk.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(v, path)...)
			continue
		}
		key, ok := d.key(k, path)
		if !ok {
			continue
		}
		if line, dup := seen[key]; dup {
			d.addf(k.Line, joinPath(path, key), CodeDuplicateKey, "key %q is already set on line %d", key, line)
			continue
		}
		seen[key] = k.Line
		own = append(own, entry{key, k, v})
	}
	for _, e := range merged {
		if _, dup := seen[e.key]; !dup {
			seen[e.key] = e.k.Line
			own = append(own, e)
		}
	}
	return own
}

// merge returns the entries that a merge key's value contributes.
func (d *decoder) merge(v *yaml.Node, path string) []entry {
	if v = d.resolve(v); v == nil {
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return d.entries(v, path)
	case yaml.SequenceNode:
		var out []entry
		for _, m := range v.Content {
			if m = d.resolve(m); m == nil {
				return nil
			}
			if m.Kind != yaml.MappingNode {
				d.addf(m.Line, path, CodeBadMerge, "a merge key (<<) takes a mapping or a list of mappings, not a list holding %s", describe(m))
				continue
			}
			out = append(out, d.entries(m, path)...)
		}
		return out
	}
	d.addf(v.Line, path, CodeBadMerge, "a merge key (<<) takes a mapping or a list of mappings, not %s", describe(v))
	return nil
}

// key returns the text of a mapping key.
func (d *decoder) key(k *yaml.Node, path string) (string, bool) {
	if k = d.resolve(k); k == nil {
		return "", false
	}
	if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
		d.addf(k.Line, path, CodeWrongType, "keys must be plain strings, not %s", describe(k))
		return "", false
	}
	return k.Value, true
}

// str returns a scalar as written. Numbers and booleans are accepted as
// their text (an audience may well be "12345"), as yaml.v3 does.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
			return n.Value, true
		}
	}
	d.fail(n, path, CodeWrongType, "must be a string, not %s", describe(n))
	return "", false
}

type structFields struct {
	index map[string]int
	names []string
}

var fieldCache sync.Map // reflect.Type -> structFields

// fieldsOf maps the yaml keys of a struct type to field indexes.
func fieldsOf(t reflect.Type) structFields {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(structFields)
	}
	fs := structFields{index: map[string]int{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		fs.index[name] = i
		fs.names = append(fs.names, name)
	}
	fieldCache.Store(t, fs)
	return fs
}
