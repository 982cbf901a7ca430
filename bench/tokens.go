package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/portcullis/portcullis/token/tokentest"
)

// tokenTTL outlives any run of the harness, so that no token expires while
// it is being measured.
const tokenTTL = 3 * time.Hour

// benchKeys are the run's signing keys, one per algorithm, all published in
// one JWKS.
type benchKeys map[string]*tokentest.Key

func newKeys() benchKeys {
	return benchKeys{
		"RS256": tokentest.RSA("bench-rs256", 2048),
		"ES256": tokentest.EC("bench-es256", "ES256"),
		"EdDSA": tokentest.Ed25519("bench-eddsa"),
	}
}

func (k benchKeys) jwks() []byte {
	return tokentest.JWKS(k["RS256"], k["ES256"], k["EdDSA"])
}

// benchClaims are the claims of token n: a subject of its own (so that
// tokens differ), the scopes the routes require, and a nested tenant for
// the X-Tenant header.
func benchClaims(n int, now time.Time) tokentest.Claims {
	return tokentest.Claims{
		"iss":   benchIssuer,
		"aud":   benchAudience,
		"sub":   fmt.Sprintf("user-%d", n),
		"jti":   fmt.Sprintf("bench-%d-%d", now.UnixNano(), n),
		"scope": benchScope,
		"iat":   now.Add(-time.Minute).Unix(),
		"nbf":   now.Add(-time.Minute).Unix(),
		"exp":   now.Add(tokenTTL).Unix(),
		"org":   map[string]any{"tenant_id": "acme"},
	}
}

// mintFile signs n distinct tokens with key, on every CPU, and writes them
// one per line to path. RS256 signing costs about a millisecond per token,
// so large fresh-token files take a while; they are minted once per run
// and shared by every scenario and round (each round starts new processes
// with empty caches).
func mintFile(path string, key *tokentest.Key, n int) error {
	now := time.Now()
	toks := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				toks[i] = key.Sign(benchClaims(i, now))
			}
		}()
	}
	wg.Wait()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	for _, t := range toks {
		bw.WriteString(t)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// freshRate is the request rate fresh-token files are sized for: more
// than a proxy that verifies a signature per request reaches on one of
// this machine's CPUs (about 5,000/s at best for ES256 and EdDSA).
const freshRate = 8000

// freshTokenCount is how many tokens a fresh-token run needs at perSecond
// for the measured load (the warm-up uses the reused tokens), bounded so
// that minting stays under a minute even for RS256 (about a millisecond
// per token). Only portcullis has a cache for a token sent twice to hit;
// when its slice runs out anyway, the wrap is reported with the results.
func freshTokenCount(duration time.Duration, perSecond int) int {
	n := int(duration.Seconds() * float64(perSecond))
	return min(max(n, 20_000), 100_000)
}
