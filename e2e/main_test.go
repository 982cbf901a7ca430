// Package e2e runs portcullis, the built binary, against a real OAuth2
// authorization server: Ory Hydra v2 on loopback with an in-memory
// database and JWT access tokens, or opaque ones that the gateway
// introspects (RFC 7662). Tokens are obtained over HTTP with the
// client-credentials grant, keys are rotated and tokens revoked through
// Hydra's APIs, and every outcome is observed as a client and an upstream
// would observe it.
//
// Hydra is not a dependency of portcullis: it is built from the separate
// tools module e2e/tools by .ci/hydra.sh, which prints the binary's path.
// The tests find it through PORTCULLIS_HYDRA_BIN, or at the path
// .ci/hydra.sh caches it under. Without it they skip, so that `go test
// ./...` stays fast for developers; with PORTCULLIS_E2E_REQUIRED=1 (as in
// .ci/run) its absence is a failure instead.
//
// Every process a test starts is ended by its PID in t.Cleanup, and every
// wait is bounded.
package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/gateway/gatewaytest"
)

var (
	// hydraBin is the Hydra binary, "" when it was not found.
	hydraBin string
	// hydraMissing says where it was looked for, for the skip message.
	hydraMissing string
	// portcullisBin is the gateway binary built by TestMain (with -race
	// when the tests run with it, so that a data race inside the gateway
	// fails the test: see gatewaytest.BuildBinary).
	portcullisBin string
)

// requiredEnv makes a missing Hydra binary a failure rather than a skip.
const requiredEnv = "PORTCULLIS_E2E_REQUIRED"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	hydraBin, hydraMissing = findHydra()
	if hydraBin == "" {
		return m.Run() // every test skips, or fails when required
	}
	bin, remove, err := gatewaytest.BuildBinary("../cmd/portcullis", "portcullis")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer remove()
	portcullisBin = bin
	return m.Run()
}

// findHydra returns the Hydra binary to use: $PORTCULLIS_HYDRA_BIN, or the
// one .ci/hydra.sh caches at
// ${PORTCULLIS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis}/hydra-<first 16 hex of sha256(e2e/tools/go.sum)>.
// When there is none, it says where it looked.
func findHydra() (path, missing string) {
	if p := os.Getenv("PORTCULLIS_HYDRA_BIN"); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Sprintf("PORTCULLIS_HYDRA_BIN=%s: %v", p, err)
		}
		return p, ""
	}
	sum, err := os.ReadFile(filepath.Join("tools", "go.sum"))
	if err != nil {
		return "", fmt.Sprintf("e2e/tools/go.sum: %v", err)
	}
	h := sha256.Sum256(sum)
	p := filepath.Join(cacheDir(), "hydra-"+hex.EncodeToString(h[:])[:16])
	if err := executable(p); err != nil {
		return "", fmt.Sprintf("PORTCULLIS_HYDRA_BIN is unset and %s: %v", p, err)
	}
	return p, ""
}

func cacheDir() string {
	if d := os.Getenv("PORTCULLIS_CACHE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "portcullis")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "portcullis")
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return errors.Unwrap(err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// needHydra skips the test when Hydra is absent, or fails it when
// PORTCULLIS_E2E_REQUIRED=1.
func needHydra(t *testing.T) {
	t.Helper()
	if hydraBin != "" {
		return
	}
	msg := "Ory Hydra binary not found (" + hydraMissing + "). Build it once with .ci/hydra.sh " +
		"(5 to 9 minutes cold, cached after), or point PORTCULLIS_HYDRA_BIN at a Hydra v2 binary built " +
		"with -tags sqlite,sqlite_omit_load_extension"
	if os.Getenv(requiredEnv) == "1" {
		t.Fatal(msg + "; " + requiredEnv + "=1 makes this a failure")
	}
	t.Skip(msg)
}
