package remote

import (
	"bytes"
	"fmt"
	"os"
)

// SecretFile reads a secret the gateway presents to another service (an
// OAuth client secret, a Redis password, an OTLP header value) from a
// file: its first line, without the line ending, the way Kubernetes
// Secrets and `echo secret > file` both write one. An empty first line is
// an error, so that a secret that was not mounted is found at start and
// not at the first refused call. Errors name the file, never what it
// holds.
func SecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	first, _, _ := bytes.Cut(data, []byte("\n"))
	first = bytes.TrimRight(first, "\r")
	if len(first) == 0 {
		return "", fmt.Errorf("%s: the first line is empty", path)
	}
	return string(first), nil
}
