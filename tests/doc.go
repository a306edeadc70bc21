// Package tests holds Hearth's end-to-end tests: they build the real
// `hearth` binary, run its daemons on loopback with free ports, and drive
// them the way users and scripts do (the CLI, gRPC clients). Helpers for
// starting daemons live in harness_test.go.
//
// These tests never reach beyond 127.0.0.1 and always stop what they start.
package tests
