// Package browser tests portcullis from where its CORS support matters: a
// real browser. It holds no code, only this comment and tests:
// cors_test.go serves a page from one loopback origin and has headless
// Chromium run it; the page's script calls a gateway on another origin
// (another port) with fetch() and an Authorization header, so that every
// call is preceded by a real preflight, and writes what it could read (a
// 200's body, a 401's WWW-Authenticate, a 403, and the network error of a
// route that does not allow its origin) into the DOM, which Chromium dumps
// and the test reads.
//
// It is a package of its own, not tests in cors/, because it needs what a
// unit test must not: a browser binary, a whole gateway (gatewaytest) and
// seconds of wall time; cors/ keeps the Fetch rules as fast table tests.
//
// Chromium comes from the distribution (`apt-get install chromium` on
// Debian), or from PORTCULLIS_CHROMIUM (a path). Without it the test
// skips, so that `go test ./...` stays self-contained; with
// PORTCULLIS_CHROMIUM_REQUIRED=1 (as in .ci/run) its absence is a failure.
// The browser runs under a deadline, in a process group of its own that
// the test ends by its id, with a profile in the test's temporary
// directory, and everything listens on loopback only.
package browser
