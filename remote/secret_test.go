package remote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
		fails               bool
	}{
		{"plain", "s3cret", "s3cret", false},
		{"newline", "s3cret\n", "s3cret", false},
		{"crlf", "s3cret\r\n", "s3cret", false},
		{"first line only", "s3cret\nsecond\n", "s3cret", false},
		{"inner spaces kept", " a b ", " a b ", false},
		{"empty", "", "", true},
		{"empty first line", "\nlater", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := SecretFile(path)
			if tc.fails {
				if err == nil {
					t.Fatalf("SecretFile(%q) = %q, want an error", tc.content, got)
				}
				if tc.content != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.content)) {
					t.Errorf("the error %q quotes the file", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("SecretFile(%q) = %q, %v; want %q", tc.content, got, err, tc.want)
			}
		})
	}
	if _, err := SecretFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file gave no error")
	}
}
