// Package bindings is the gRPC + gRPC-Web bridge to the command API, for
// Electron apps and the CLI: one ClientCommands service on 127.0.0.1, token
// authentication on every call (session creation takes the root token),
// an origin allowlist for gRPC-Web, reflection, and one event stream per
// session with exactly one writer.
//
// It owns transport concerns only: listeners, auth, codecs, streams. It never
// implements a command (every call forwards to clientlibrary) and never binds
// a non-loopback address unless told to.
package bindings
