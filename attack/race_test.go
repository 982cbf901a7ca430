//go:build race

package attack_test

// raceEnabled scales down the request counts of the resource tests: the
// race detector makes each request ten times slower and its shadow memory
// would blur a heap measurement anyway.
const raceEnabled = true
