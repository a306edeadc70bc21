//go:build !race

package tests

// raceEnabled: this test binary runs without the race detector (benchmarks:
// `make bench`), and so do the hearth binaries it builds, whose CPU they measure.
const raceEnabled = false
