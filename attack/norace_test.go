//go:build !race

package attack_test

// raceEnabled: see race_test.go.
const raceEnabled = false
