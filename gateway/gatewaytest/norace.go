//go:build !race

package gatewaytest

// RaceEnabled: see race.go.
const RaceEnabled = false
