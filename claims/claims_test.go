package claims

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"an object is claims", `{"sub": "alice", "n": 1.50}`, nil},
		{"an empty object is claims", `{}`, nil},
		{"an array is not", `[{"sub": "alice"}]`, ErrNotObject},
		{"null is not", `null`, ErrNotObject},
		{"a string is not", `"x"`, ErrNotObject},
		{"invalid JSON is not", `{"sub": }`, ErrNotObject},
		{"a second object after the first is trailing data", `{} {}`, ErrTrailingData},
		{"a closing brace after the object is trailing data", `{"sub": "alice"}}`, ErrTrailingData},
		{"a closing bracket after the object is trailing data", `{"sub": "alice"}]`, ErrTrailingData},
		{"white space after the object is not trailing data", "{\"sub\": \"alice\"} \r\n\t", nil},
		{"a number beyond float64 is refused", `{"n": 1e309}`, ErrNumberOrDepth},
		{"a huge negative number is refused", `{"n": -1e309}`, ErrNumberOrDepth},
		{"nesting of 32 below the object is accepted", `{"a": ` + deep(MaxDepth) + `}`, nil},
		{"nesting of 33 below the object is refused", `{"a": ` + deep(MaxDepth+1) + `}`, ErrNumberOrDepth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.doc))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%s) = %v, want %v", tt.doc, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "alice") {
				t.Errorf("the error %q quotes the claims", err)
			}
			if err == nil && tt.doc == `{"sub": "alice", "n": 1.50}` && got["n"] != json.Number("1.50") {
				t.Errorf("n = %#v, want the number as written", got["n"])
			}
		})
	}
}

func TestNumericDate(t *testing.T) {
	tests := []struct {
		name   string
		v      any
		want   time.Time
		ok     bool
		failed bool
	}{
		{"absent is no date", nil, time.Time{}, false, false},
		{"whole seconds", json.Number("1900000000"), time.Unix(1900000000, 0), true, false},
		{"fractions are truncated", json.Number("1900000000.9"), time.Unix(1900000000, 0), true, false},
		{"zero is 1970, a date like any other", json.Number("0"), time.Unix(0, 0), true, false},
		{"before 1970 is a date", json.Number("-5"), time.Unix(-5, 0), true, false},
		{"2^53 is the last date", json.Number("9007199254740992"), time.Unix(1<<53, 0), true, false},
		{"beyond 2^53 is not a date", json.Number("9007199254740994"), time.Time{}, false, true},
		{"a string is not a date", "1900000000", time.Time{}, false, true},
		{"a boolean is not a date", true, time.Time{}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := NumericDate(tt.v)
			if (err != nil) != tt.failed || ok != tt.ok || !got.Equal(tt.want) {
				t.Fatalf("NumericDate(%#v) = %v, %v, %v; want %v, %v, failed %v", tt.v, got, ok, err, tt.want, tt.ok, tt.failed)
			}
		})
	}
}
