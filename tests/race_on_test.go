//go:build race

package tests

// raceEnabled: this test binary runs under the race detector, and so do the
// hearth binaries it builds.
const raceEnabled = true
