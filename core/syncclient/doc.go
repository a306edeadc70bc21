// Package syncclient is a device's connection to a sync node (pb/syncpb/node.proto): Dial
// performs the Hello/Auth handshake, pins or checks the node's key, and returns a Client
// with one typed method per unary rpc plus Subscribe for the push stream. A call that
// fails Unauthenticated (the node restarted and forgot sessions) authenticates again once,
// transparently, and is retried. Reconnect keeps a connection up with exponential backoff
// and jitter capped at 10 s (CLI.md), with an injectable sleep for tests.
//
// Node key pinning: with Config.NodeKey set, a node showing another key fails with
// ErrNodeKeyMismatch, never silently re-pinned. With it nil, the key the node shows first
// is pinned for the life of the Client (and of a Reconnect loop) and reported
// (Client.NodeKey, Reconnect.OnPin) for the caller to persist.
//
// It owns only the transport and the handshake. It must never interpret or store what it
// carries (the sync engine above it verifies ACL records against the pinned key, changes
// and heads), never log key material, and never start a goroutine that outlives Close or
// the context it was given.
package syncclient
