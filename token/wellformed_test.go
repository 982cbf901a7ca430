package token

import (
	"strings"
	"testing"
)

// Every byte value, in each of the three segments: only the base64url
// alphabet passes, and the shape rules hold around it.
func TestWellFormedAcceptsBase64URLOnly(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for b := range 256 {
		c := string(rune(b))
		if b >= 0x80 {
			c = string([]byte{byte(b)})
		}
		want := strings.IndexByte(alphabet, byte(b)) >= 0
		for _, raw := range []string{"a" + c + ".b.c", "a.b" + c + ".c", "a.b.c" + c} {
			if got := wellFormed(raw) == nil; got != want {
				t.Errorf("byte %#02x in %q: well formed = %v, want %v", b, raw, got, want)
			}
		}
	}
	for raw, want := range map[string]bool{
		"a.b.c": true, "a.b": false, "a.b.c.d": false, ".b.c": false, "a..c": false, "a.b.": false, "": false,
	} {
		if got := wellFormed(raw) == nil; got != want {
			t.Errorf("%q: well formed = %v, want %v", raw, got, want)
		}
	}
}
