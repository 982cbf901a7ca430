//go:build race

package gatewaytest

// RaceEnabled reports whether the tests run under the race detector
// (`go test -race`): BuildBinary then builds with -race too, and tests that
// count requests or measure the heap scale down, since the detector makes
// each request several times slower and blurs heap figures with its shadow
// memory.
const RaceEnabled = true
