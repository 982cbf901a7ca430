// Package ingress tests portcullis as the decision service of an ingress
// that proxies by itself: nginx (auth_request), Traefik (ForwardAuth),
// Envoy and what is built on it (ext_authz). It holds no code, only this
// comment and tests, and the tests hold the configurations that operators
// copy, examples/forward-auth/, to what they claim:
//
//   - nginx_test.go runs a real nginx with examples/forward-auth/nginx.conf
//     (only its addresses substituted) in front of a recording upstream,
//     with the built portcullis, configured by
//     examples/forward-auth/portcullis.yaml, as its decision service;
//   - shapes_test.go sends the built portcullis exactly the calls that
//     Traefik's and Envoy's documentation describe, and checks that each
//     answer holds what that proxy copies;
//   - examples_test.go parses every example, validates portcullis.yaml as
//     `portcullis validate` does and checks nginx.conf with `nginx -t`,
//     and checks that each ingress's file names every claim header of
//     portcullis.yaml, so that the two cannot drift apart.
//
// nginx comes from the distribution (`apt-get install nginx` on Debian).
// Without it the tests that need it skip, so that `go test ./...` stays
// self-contained; with PORTCULLIS_NGINX_REQUIRED=1 (as in .ci/run) its
// absence is a failure. Every process a test starts is ended by its PID
// when the test ends, every wait is bounded, and everything listens on
// loopback only.
package ingress
