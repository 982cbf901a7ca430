// Package schema generates config.schema.json, the JSON Schema (draft
// 2020-12) of portcullis's configuration file, from the types of package
// config: their yaml tags give the keys, config.go's doc comments the
// descriptions, and the Default* values the defaults. It is what editors
// validate and complete the file with.
//
// The schema is an editor aid, never the authority: `portcullis validate`
// is. What the types cannot say (which keys are required, the values of a
// setting that takes one of a few words) is in the tables below, each
// checked against the types so that a renamed field fails generation
// instead of quietly dropping a rule. Everything else validation checks
// (URLs, CIDRs, ranges, names across sections) is left to it.
//
// It must never be imported by the gateway itself: only by the generator
// command (config/schemagen) and by the test that keeps the committed file
// in step with the types.
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/doc"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/portcullis/portcullis/config"
)

// DurationPattern is what config.Duration's UnmarshalYAML accepts as a
// string: time.ParseDuration's syntax without a sign of "-" (negative
// durations are refused), "0" alone being the one number without a unit.
const DurationPattern = `^\+?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

// The rules that validation applies and the types do not show, by Go type
// and yaml key. Generation fails if a key is not a field of its type.
var (
	// required are the keys validation refuses to do without ("is
	// required").
	required = map[string][]string{
		"Config":   {"routes"},
		"Issuer":   {"name", "issuer", "algorithms"},
		"Resource": {"name", "resource"},
		"Route":    {"name", "upstream"},

		"RateLimitPolicy": {"name", "key", "rate"},
	}
	// minItems are the lists that validation refuses empty.
	minItems = map[string]int{
		"Config.routes":     1,
		"Issuer.algorithms": 1,
	}
	// enums are the settings that take one of a few words, compared as
	// written (case-sensitively).
	enums = map[string][]string{
		"Log.level":                 {"debug", "info", "warn", "error"},
		"Log.format":                {"json", "console"},
		"Auth.mode":                 {config.ModeRequired, config.ModeOptional, config.ModePublic},
		"Introspection.auth_method": {config.ClientSecretBasic, config.ClientSecretPost, config.PrivateKeyJWT},
		"Route.upstream_protocol":   {config.ProtocolAuto, config.ProtocolHTTP1, config.ProtocolH2C},

		// Empty is a value of its own: the OTEL_* environment's protocol.
		"Tracing.protocol":       {config.TracingGRPC, config.TracingHTTPProtobuf, ""},
		"Tracing.trust_incoming": {config.TrustTrustedProxies, config.TrustAlways, config.TrustNever},

		"RateLimitStore.on_store_error": {config.OnStoreErrorLocal, config.OnStoreErrorAllow, config.OnStoreErrorDeny},
	}
	// elementDefaults are the templates that list entries start from.
	elementDefaults = map[reflect.Type]any{
		reflect.TypeFor[config.Issuer](): config.DefaultIssuer,
		reflect.TypeFor[config.Route]():  config.DefaultRoute,
	}
)

var (
	durationType  = reflect.TypeFor[config.Duration]()
	claimRuleType = reflect.TypeFor[config.ClaimRule]()
)

const (
	durationRef  = "#/$defs/duration"
	claimRuleRef = "#/$defs/claim_rule"
)

// Schema is one JSON Schema; the field order is the order of the
// generated file's keys.
type Schema struct {
	Schema               string      `json:"$schema,omitempty"`
	Title                string      `json:"title,omitempty"`
	Description          string      `json:"description,omitempty"`
	Ref                  string      `json:"$ref,omitempty"`
	Type                 any         `json:"type,omitempty"` // a name, or a list of names
	Enum                 []string    `json:"enum,omitempty"`
	Const                any         `json:"const,omitempty"`
	Pattern              string      `json:"pattern,omitempty"`
	Default              any         `json:"default,omitempty"`
	Required             []string    `json:"required,omitempty"`
	Properties           *Properties `json:"properties,omitempty"`
	AdditionalProperties any         `json:"additionalProperties,omitempty"` // false, or a *Schema
	Items                *Schema     `json:"items,omitempty"`
	MinItems             *int        `json:"minItems,omitempty"`
	OneOf                []*Schema   `json:"oneOf,omitempty"`
	Defs                 *Properties `json:"$defs,omitempty"`
}

// Properties are named schemas in the order of the struct fields they come
// from (JSON objects have no order, but a reader of the file does).
type Properties []Property

// Property is one named schema of Properties.
type Property struct {
	Name   string
	Schema *Schema
}

// MarshalJSON writes the properties as one object, in order.
func (ps Properties) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(p.Name)
		if err != nil {
			return nil, err
		}
		v, err := marshal(p.Schema)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping: descriptions are read by
// people, and "<" is clearer than "\u003c".
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Generate returns config.schema.json, indented, with a final newline.
// configDir is the directory of package config's source, whose doc
// comments become the descriptions.
func Generate(configDir string) ([]byte, error) {
	docs, err := readDocs(configDir)
	if err != nil {
		return nil, err
	}
	g := &generator{docs: docs}
	root := config.Config{
		Server:   config.DefaultServer,
		Log:      config.DefaultLog,
		Defaults: config.DefaultDefaults,
		Decision: config.DefaultDecision,
		Tracing:  config.DefaultTracing,

		RateLimitStore: config.DefaultRateLimitStore,
	}
	s := g.schema(reflect.TypeOf(root), reflect.ValueOf(root))
	if g.err != nil {
		return nil, g.err
	}
	s.Schema = "https://json-schema.org/draft/2020-12/schema"
	s.Title = "portcullis configuration"
	s.Description = "portcullis's configuration: one YAML file, every key of which config.example.yaml shows with what it does.\n\n" +
		"This schema is an editor aid, generated from the Go types (go run ./config/schemagen > config.schema.json). " +
		"`portcullis validate -config FILE` remains the authority: it also checks what a schema cannot " +
		"(addresses, URLs, CIDRs, paths, ranges, names that refer to other sections), and its messages name the line. " +
		"The schema is stricter in two small ways: a key written without a value (null), which portcullis reads as absent, " +
		"and a number or boolean where text is expected, which portcullis reads as its text, are flagged here."
	s.Defs = &Properties{
		{"duration", &Schema{
			Description: docs.types["Duration"] + "\n\n" +
				"A unit is required (ns, us, ms, s, m, h; combined as in 1h30m): a bare number is refused, " +
				"since it could mean seconds or nanoseconds. 0 alone is accepted. Negative durations are refused.",
			OneOf: []*Schema{
				{Type: "string", Pattern: DurationPattern},
				{Type: "integer", Const: 0},
			},
		}},
		{"claim_rule", g.claimRule()},
	}
	for _, p := range *s.Defs {
		if p.Schema.Description == "" {
			return nil, fmt.Errorf("schema: no doc comment found for $defs/%s in %s", p.Name, configDir)
		}
	}
	if err := g.unusedRules(); err != nil {
		return nil, err
	}

	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type generator struct {
	docs docs
	used map[string]bool // the keys of required, minItems and enums that matched a field
	err  error
}

func (g *generator) fail(format string, args ...any) {
	if g.err == nil {
		g.err = fmt.Errorf("schema: "+format, args...)
	}
}

// schema returns the schema of a value of type t; def, when valid, is the
// value that a key left out takes.
func (g *generator) schema(t reflect.Type, def reflect.Value) *Schema {
	switch t {
	case durationType:
		s := &Schema{Ref: durationRef}
		if def.IsValid() {
			s.Default = formatDuration(time.Duration(def.Int()))
		}
		return s
	case claimRuleType:
		return &Schema{Ref: claimRuleRef}
	}
	switch t.Kind() {
	case reflect.Pointer:
		// An optional setting whose absence means something of its own
		// (routes[].auth.enforce): no default to show.
		return g.schema(t.Elem(), reflect.Value{})
	case reflect.Struct:
		return g.object(t, def)
	case reflect.Slice:
		s := &Schema{Type: "array"}
		var elemDef reflect.Value
		if d, ok := elementDefaults[t.Elem()]; ok {
			elemDef = reflect.ValueOf(d)
		}
		s.Items = g.schema(t.Elem(), elemDef)
		if def.IsValid() && !def.IsNil() {
			s.Default = def.Interface()
		}
		return s
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			g.fail("no schema for %s: map keys must be strings", t)
			return &Schema{}
		}
		return &Schema{Type: "object", AdditionalProperties: g.schema(t.Elem(), reflect.Value{})}
	case reflect.String:
		s := &Schema{Type: "string"}
		if def.IsValid() && def.String() != "" {
			s.Default = def.String()
		}
		return s
	case reflect.Bool:
		s := &Schema{Type: "boolean"}
		if def.IsValid() {
			s.Default = def.Bool()
		}
		return s
	case reflect.Int:
		s := &Schema{Type: "integer"}
		if def.IsValid() {
			s.Default = def.Int()
		}
		return s
	case reflect.Float64:
		s := &Schema{Type: "number"}
		if def.IsValid() {
			s.Default = def.Float()
		}
		return s
	}
	g.fail("no schema for type %s: teach config/schemagen/schema how config decodes it", t)
	return &Schema{}
}

// object is the schema of a struct: its yaml keys and no others, since
// the decoder refuses unknown keys.
func (g *generator) object(t reflect.Type, def reflect.Value) *Schema {
	s := &Schema{Type: "object", AdditionalProperties: false, Properties: &Properties{}}
	keys := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || key == "-" || key == "" {
			continue
		}
		keys[key] = true
		var fd reflect.Value
		if def.IsValid() {
			fd = def.Field(i)
		}
		fs := g.schema(f.Type, fd)
		fs.Description = g.docs.field(t, f, key)
		if fs.Description == "" && (f.Type.Kind() == reflect.Struct && f.Type != durationType) {
			fs.Description = g.docs.types[f.Type.Name()]
		}
		rule := t.Name() + "." + key
		if vs, ok := enums[rule]; ok {
			g.use("enum " + rule)
			fs.Enum = vs
		}
		if n, ok := minItems[rule]; ok {
			g.use("minItems " + rule)
			fs.MinItems = &n
		}
		*s.Properties = append(*s.Properties, Property{key, fs})
	}
	for _, key := range required[t.Name()] {
		g.use("required " + t.Name())
		if !keys[key] {
			g.fail("required key %s.%s is not a field of config.%s", t.Name(), key, t.Name())
		}
		s.Required = append(s.Required, key)
	}
	return s
}

func (g *generator) use(rule string) {
	if g.used == nil {
		g.used = map[string]bool{}
	}
	g.used[rule] = true
}

// unusedRules reports a rule of the tables that named no field: a key
// renamed or moved, whose rule would otherwise be dropped without a word.
func (g *generator) unusedRules() error {
	var missing []string
	for t := range required {
		if !g.used["required "+t] {
			missing = append(missing, "required "+t)
		}
	}
	for r := range minItems {
		if !g.used["minItems "+r] {
			missing = append(missing, "minItems "+r)
		}
	}
	for r := range enums {
		if !g.used["enum "+r] {
			missing = append(missing, "enum "+r)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("schema: rules that match no key of config.Config: %s", strings.Join(missing, ", "))
	}
	return nil
}

// claimRule is the schema of one auth.claims entry, as config/claimrule.go
// decodes it: a plain value, or a mapping with exactly one operator.
func (g *generator) claimRule() *Schema {
	scalar := func() *Schema { return &Schema{Type: []string{"string", "number", "boolean"}} }
	one := 1
	s := &Schema{
		Description: g.docs.types["ClaimRule"],
		OneOf: []*Schema{{
			Description: "A plain value, exact: the claim is this string, number or boolean (same JSON type and value; an array claim never equals it).",
			Type:        []string{"string", "number", "boolean"},
		}},
	}
	for _, op := range config.ClaimOperators {
		var v *Schema
		if op == config.ClaimContains {
			v = scalar()
		} else {
			v = &Schema{Type: "array", Items: scalar(), MinItems: &one}
		}
		desc, ok := g.docs.operators[op]
		if !ok {
			g.fail("no doc comment for the claim operator %q", op)
		}
		s.OneOf = append(s.OneOf, &Schema{
			Description:          desc,
			Type:                 "object",
			Required:             []string{op},
			Properties:           &Properties{{op, v}},
			AdditionalProperties: false,
		})
	}
	return s
}

// formatDuration writes d as an operator would: "15m", not "15m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// docs are the doc comments of package config, as plain text with one
// line per paragraph.
type docs struct {
	types     map[string]string            // type name -> doc
	fields    map[string]map[string]string // type name -> field name -> doc
	operators map[string]string            // claim operator -> doc
}

func readDocs(dir string) (docs, error) {
	d := docs{types: map[string]string{}, fields: map[string]map[string]string{}, operators: map[string]string{}}
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return d, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			return d, err
		}
		files = append(files, f)
	}
	pkg, err := doc.NewFromFiles(fset, files, "github.com/portcullis/portcullis/config")
	if err != nil {
		return d, err
	}
	if pkg.Name != "config" {
		return d, fmt.Errorf("schema: %s holds package %s, not config", dir, pkg.Name)
	}
	text := func(s string) string {
		p := &comment.Printer{TextWidth: -1}
		return strings.TrimSpace(string(p.Text(pkg.Parser().Parse(s))))
	}
	consts := slices.Clone(pkg.Consts)
	for _, t := range pkg.Types {
		d.types[t.Name] = text(t.Doc)
		consts = append(consts, t.Consts...)
		for _, spec := range t.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			fields := map[string]string{}
			for _, f := range st.Fields.List {
				for _, n := range f.Names {
					fields[n.Name] = text(f.Doc.Text())
				}
			}
			d.fields[ts.Name.Name] = fields
		}
	}
	// The claim operators' docs read "ClaimOneOf: the claim is ...".
	names := map[string]string{
		"ClaimOneOf": config.ClaimOneOf, "ClaimContains": config.ClaimContains,
		"ClaimContainsAny": config.ClaimContainsAny, "ClaimContainsAll": config.ClaimContainsAll,
	}
	for _, c := range consts {
		for _, spec := range c.Decl.Specs {
			vs := spec.(*ast.ValueSpec)
			for _, n := range vs.Names {
				if op, ok := names[n.Name]; ok && vs.Doc != nil {
					desc := strings.TrimPrefix(text(vs.Doc.Text()), n.Name+": ")
					d.operators[op] = op + ": " + desc
				}
			}
		}
	}
	return d, nil
}

// goName matches a Go identifier, possibly qualified (Match.PathPrefix).
var goName = regexp.MustCompile(`\b[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*)*\b`)

// field returns the doc of a struct field, with the Go names of the
// struct's fields written as the yaml keys an operator writes
// ("ShutdownGrace is ..." becomes "shutdown_grace is ...").
func (d docs) field(t reflect.Type, f reflect.StructField, key string) string {
	s := d.fields[t.Name()][f.Name]
	if s == "" {
		return ""
	}
	var b strings.Builder
	last := 0
	for _, m := range goName.FindAllStringIndex(s, -1) {
		i, w := m[0], s[m[0]:m[1]]
		b.WriteString(s[last:i])
		last = m[1]
		b.WriteString(reference(t, f, key, w, i == 0 || i >= 2 && s[i-2] == '.'))
	}
	b.WriteString(s[last:])
	return b.String()
}

// reference returns the yaml path that the word w of a doc comment of the
// field f of t stands for, or w itself when it is an ordinary word.
func reference(t reflect.Type, f reflect.StructField, key, w string, sentenceStart bool) string {
	if w == f.Name && sentenceStart {
		return key
	}
	path, ok := yamlPath(t, w)
	if !ok {
		// A field of another section, named in CamelCase: its key where
		// that name has one key in the whole file (StreamIdleTimeout).
		if k, found := keysByName()[w]; found && k != "" && isCamel(w) {
			return k
		}
		return w
	}
	// A single word that is a field's name is a reference only where it
	// cannot be an ordinary word: qualified, in CamelCase, or capitalised
	// in mid-sentence (and not an acronym like TLS).
	if strings.Contains(w, ".") || isCamel(w) || !isAcronym(w) && !sentenceStart {
		return path
	}
	return w
}

// keysByName maps the Go name of every field of config.Config, at any
// depth, to its yaml key, or to "" where two fields of that name have
// different keys.
var keysByName = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || key == "" || key == "-" {
				continue
			}
			if k, dup := m[f.Name]; dup && k != key {
				m[f.Name] = ""
			} else {
				m[f.Name] = key
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[config.Config]())
	return m
})

// yamlPath resolves a (possibly qualified) Go field name of t to its yaml
// path.
func yamlPath(t reflect.Type, name string) (string, bool) {
	var keys []string
	for part := range strings.SplitSeq(name, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return "", false
		}
		f, ok := t.FieldByName(part)
		if !ok {
			return "", false
		}
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			return "", false
		}
		keys = append(keys, key)
		t = f.Type
	}
	return strings.Join(keys, "."), true
}

// isCamel reports whether w is several words run together (StripPrefix).
func isCamel(w string) bool {
	lower := false
	for _, r := range w {
		if unicode.IsLower(r) {
			lower = true
		} else if unicode.IsUpper(r) && lower {
			return true
		}
	}
	return false
}

func isAcronym(w string) bool {
	return strings.IndexFunc(w, unicode.IsLower) < 0
}
