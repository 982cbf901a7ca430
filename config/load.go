package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxFileSize is the largest file Load and Parse accept. A configuration
// is a few kilobytes; the cap keeps a wrong path (a log file, /dev/zero)
// from being read into memory whole.
const MaxFileSize = 4 << 20

// Load reads and checks the file at path. See Parse.
//
// Reading errors are reported as Problems too, with Line 0, so that every
// caller has a single kind of error to print.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Problems{{File: path, Code: CodeUnreadable, Msg: "cannot read the file: " + pathErr(err)}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, Problems{{File: path, Code: CodeUnreadable, Msg: "cannot read the file: " + pathErr(err)}}
	}
	return Parse(data, path)
}

// pathErr drops the path from an *fs.PathError, which Problem.File already
// names.
func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse decodes and checks one YAML document; name is used as Problem.File.
//
// It returns either a complete, valid Config with every default applied and
// its non-fatal findings in Config.Warnings, or a nil Config and a Problems
// error listing every mistake found, in line order. It never returns a
// partial Config: a gateway that started with half of its routes, or with
// an auth block silently dropped, would be worse than one that refused to
// start.
func Parse(data []byte, name string) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, Problems{{File: name, Code: CodeTooLarge, Msg: fmt.Sprintf("the file is larger than %d bytes (4 MiB); a configuration file is never that big", MaxFileSize)}}
	}
	if cfg, err := parseInBatches(data, name); err != errWholeDocument {
		return cfg, err
	}
	return parseWhole(data, name)
}

// parseWhole is Parse for any file: it parses the document into one node
// tree, then decodes and checks it. Parse takes it for the files that
// parseInBatches cannot cut, and for every file with a YAML error.
func parseWhole(data []byte, name string) (*Config, error) {
	root, p := parseDocument(data, name)
	if p != nil {
		return nil, Problems{*p}
	}

	cfg := newConfig()
	d := newDecoder(name, root)
	d.value(root, reflect.ValueOf(cfg).Elem(), "")
	return check(cfg, d)
}

// check normalizes and validates what d decoded into cfg, and returns the
// result as Parse does.
func check(cfg *Config, d *decoder) (*Config, error) {
	name := d.file
	if d.aborted {
		return nil, tidy(d.problems)
	}
	normalize(cfg)
	for i := range cfg.Issuers {
		cfg.Issuers[i].Line, _ = d.lineOf(fmt.Sprintf("issuers[%d]", i))
	}
	for i := range cfg.Routes {
		cfg.Routes[i].Line, _ = d.lineOf(fmt.Sprintf("routes[%d]", i))
	}

	v := &validator{file: name, lines: d.lines, routeLines: d.routeLines, failed: d.failed}
	v.config(cfg)
	if ps := append(d.problems, v.problems...); len(ps) > 0 {
		return nil, tidy(ps)
	}
	cfg.Warnings = tidy(v.warnings)
	return cfg, nil
}

// parseDocument turns data into the node of its one top-level mapping, or
// explains why it cannot.
func parseDocument(data []byte, name string) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Problem{File: name, Code: CodeEmptyFile, Msg: "the file is empty; it needs at least a routes section (see config.example.yaml)"}
		}
		return nil, syntaxProblem(err, data, name)
	}

	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxProblem(err, data, name)
	default:
		return nil, &Problem{File: name, Line: next.Line, Code: CodeMultipleDocuments, Msg: "a second YAML document starts here (after \"---\"); the file must hold exactly one"}
	}

	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	root = deref(root)
	switch {
	case root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null":
		return nil, &Problem{File: name, Code: CodeEmptyFile, Msg: "the file is empty; it needs at least a routes section (see config.example.yaml)"}
	case root.Kind != yaml.MappingNode:
		return nil, &Problem{File: name, Line: root.Line, Code: CodeWrongType, Msg: "the top level must be a mapping with the keys server, log, issuers and routes, not " + describe(root)}
	}
	return root, nil
}

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner). yaml.v3 reports their line 0-based while it reports scanner
// lines 1-based, so the line must be corrected to point at the right place.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// syntaxProblem turns a yaml.v3 parse error into a Problem with the best
// line that can be recovered from it.
func syntaxProblem(err error, data []byte, name string) *Problem {
	msg := err.Error()
	line := 0
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if parserProblems[msg] {
			line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
		switch {
		case strings.HasPrefix(msg, "unknown anchor '"):
			anchor := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
			line = lineWhere(data, func(l []byte) bool { return bytes.Contains(l, []byte("*"+anchor)) })
			msg = fmt.Sprintf("alias *%s refers to no anchor &%s defined above it", anchor, anchor)
		case strings.HasPrefix(msg, "control characters are not allowed"):
			line = lineWhere(data, func(l []byte) bool {
				return bytes.ContainsFunc(l, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\r' || r == 0x7f })
			})
		case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "Unicode"):
			line = lineWhere(data, func(l []byte) bool { return !utf8.Valid(l) })
			msg = "the file is not valid UTF-8 text (" + msg + ")"
		case strings.HasPrefix(msg, "input error"):
		default:
			// yaml.v3 omits the line when its 0-based mark is 0.
			line = 1
		}
	}
	if strings.Contains(msg, "cannot start any token") && line > 0 && strings.Contains(lineText(data, line), "\t") {
		msg += " (YAML does not allow tabs for indentation; use spaces)"
	}
	return &Problem{File: name, Line: line, Code: CodeSyntax, Msg: "invalid YAML: " + msg}
}

// lineWhere returns the 1-based number of the first line for which f is
// true, or 0.
func lineWhere(data []byte, f func([]byte) bool) int {
	for i, l := range bytes.Split(data, []byte("\n")) {
		if f(l) {
			return i + 1
		}
	}
	return 0
}

func lineText(data []byte, line int) string {
	ls := bytes.SplitN(data, []byte("\n"), line+1)
	if line-1 < len(ls) {
		return string(ls[line-1])
	}
	return ""
}
