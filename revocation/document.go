package revocation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/remote"
)

// Why a document was refused. Either way the whole document is refused and
// the last good list stays.
var (
	// ErrInvalidDocument: the document is not JSON, or not of the format in
	// the package comment (an entry of neither shape, an unknown member...).
	ErrInvalidDocument = errors.New("revocation: invalid document")
	// ErrTooManyEntries: the document has more than MaxEntries entries.
	ErrTooManyEntries = errors.New("revocation: too many entries")
)

// maxTime is the latest time an entry may name, 9999-12-31T23:59:59Z: far
// enough for any token, near enough that adding a skew cannot overflow.
const maxTime = 253402300799

// The members of an entry, as bits of a set.
const (
	hasJTI = 1 << iota
	hasExp
	hasSub
	hasBefore
)

// entry is one decoded entry: a jti with its exp, or a sub with its before.
type entry struct {
	jti, sub    string
	exp, before int64
}

// parse decodes a document strictly (see the package comment) into a
// snapshot. jti entries already expired at now (with skew) are left out;
// they still count toward maxEntries, which bounds the document.
//
// It reads the document token by token rather than into structs, because
// encoding/json matches member names without regard to case and lets a
// repeated member overwrite the first: in a list whose mistakes un-revoke
// tokens, both must be errors.
func parse(body []byte, maxEntries int, now time.Time, skew time.Duration) (*snapshot, error) {
	d := decoder{dec: json.NewDecoder(bytes.NewReader(body)), body: body}
	d.dec.UseNumber()
	s := &snapshot{jti: make(map[string]int64), sub: make(map[string]int64)}
	if err := d.open(top, '{', "the document"); err != nil {
		return nil, err
	}
	seen := false
	for d.dec.More() {
		name, err := d.string(top, "a member name")
		if err != nil {
			return nil, err
		}
		if name != "entries" {
			return nil, d.errorf("unknown top-level member %q", remote.Clip(name))
		}
		if seen {
			return nil, d.errorf(`"entries" appears twice`)
		}
		seen = true
		if err := d.entries(s, maxEntries, now, skew); err != nil {
			return nil, err
		}
	}
	if _, err := d.token(); err != nil {
		return nil, err
	}
	if !seen {
		return nil, d.errorf(`no "entries" member`)
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return nil, d.errorf("data after the document")
	}
	return s, nil
}

// at is where in the document a problem lies, as the prefix of its error:
// entries[i], or the top level when negative. It is formatted only when
// there is an error, so that reading an entry allocates no message.
type at int

// top is the top level of the document.
const top at = -1

func (a at) String() string {
	if a < 0 {
		return ""
	}
	return fmt.Sprintf("entries[%d]: ", int(a))
}

// decoder reads one document and says where its problems are.
type decoder struct {
	dec  *json.Decoder
	body []byte
}

// entries reads the "entries" array into s.
func (d *decoder) entries(s *snapshot, maxEntries int, now time.Time, skew time.Duration) error {
	if err := d.open(top, '[', `"entries"`); err != nil {
		return err
	}
	for i := 0; d.dec.More(); i++ {
		if i == maxEntries {
			return fmt.Errorf("%w: the document has more than %d (max entries)", ErrTooManyEntries, maxEntries)
		}
		e, err := d.entry(at(i))
		if err != nil {
			return err
		}
		if e.jti != "" {
			if !expired(e.exp, now, skew) {
				s.jti[e.jti] = max(s.jti[e.jti], e.exp)
			}
			continue
		}
		if before, ok := s.sub[e.sub]; !ok || e.before > before {
			s.sub[e.sub] = e.before
		}
	}
	_, err := d.token()
	return err
}

// entry reads the entry where is, which must be exactly one of the two
// shapes.
func (d *decoder) entry(where at) (entry, error) {
	var e entry
	if err := d.open(where, '{', "the entry"); err != nil {
		return e, err
	}
	var has int
	for d.dec.More() {
		name, err := d.string(where, "a member name")
		if err != nil {
			return e, err
		}
		var bit int
		switch name {
		case "jti":
			bit = hasJTI
			e.jti, err = d.subject(where, name)
		case "sub":
			bit = hasSub
			e.sub, err = d.subject(where, name)
		case "exp":
			bit = hasExp
			e.exp, err = d.time(where, name)
		case "before":
			bit = hasBefore
			e.before, err = d.time(where, name)
		default:
			return e, d.errorf("%sunknown member %q", where, remote.Clip(name))
		}
		if has&bit != 0 {
			return e, d.errorf("%smember %q appears twice", where, name)
		}
		has |= bit
		if err != nil {
			return e, err
		}
	}
	if _, err := d.token(); err != nil {
		return e, err
	}
	switch {
	case has == hasJTI|hasExp, has == hasSub|hasBefore:
		return e, nil
	case has&hasJTI != 0 && has&hasSub != 0:
		return e, d.errorf("%shas both jti and sub; an entry revokes one or the other", where)
	case has&hasJTI != 0:
		return e, d.errorf(`%sa jti entry has exactly "jti" and "exp"`, where)
	case has&hasSub != 0:
		return e, d.errorf(`%sa sub entry has exactly "sub" and "before"`, where)
	default:
		return e, d.errorf("%shas neither jti nor sub", where)
	}
}

// subject reads the value of a jti or sub member.
func (d *decoder) subject(where at, name string) (string, error) {
	s, err := d.string(where, name)
	switch {
	case err != nil:
		return "", err
	case s == "":
		return "", d.errorf("%s%s is empty", where, name)
	case len(s) > maxMember:
		return "", d.errorf("%s%s is longer than %d bytes", where, name, maxMember)
	}
	return s, nil
}

// time reads the value of an exp or before member: a NumericDate in whole
// seconds.
func (d *decoder) time(where at, name string) (int64, error) {
	tok, err := d.token()
	if err != nil {
		return 0, err
	}
	n, ok := tok.(json.Number)
	if !ok {
		return 0, d.errorf("%s%s is not a number", where, name)
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || v < 0 || v > maxTime {
		return 0, d.errorf("%s%s is %s; want whole seconds since 1970, not negative, not past the year 9999",
			where, name, remote.Clip(string(n)))
	}
	return v, nil
}

// string reads a token that must be a string: what, where is.
func (d *decoder) string(where at, what string) (string, error) {
	tok, err := d.token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", d.errorf("%s%s is not a string", where, what)
	}
	return s, nil
}

// open reads the token that opens what, where is: a JSON object or array.
func (d *decoder) open(where at, delim json.Delim, what string) error {
	tok, err := d.token()
	if err != nil {
		return err
	}
	if tok != delim {
		kind := "an object"
		if delim == '[' {
			kind = "an array"
		}
		return d.errorf("%s%s is not %s", where, what, kind)
	}
	return nil
}

// token reads the next token; a syntax error or a truncated document is an
// ErrInvalidDocument.
func (d *decoder) token() (json.Token, error) {
	tok, err := d.dec.Token()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, d.errorf("%s", remote.Clip(err.Error()))
	}
	return tok, nil
}

// errorf is an ErrInvalidDocument at the current line.
func (d *decoder) errorf(format string, args ...any) error {
	line := 1 + bytes.Count(d.body[:d.dec.InputOffset()], []byte{'\n'})
	return fmt.Errorf("%w: line %d: %s", ErrInvalidDocument, line, fmt.Sprintf(format, args...))
}
