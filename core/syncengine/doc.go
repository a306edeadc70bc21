// Package syncengine is the client half of sync. Per loaded space an Engine
// (one goroutine) registers the space with the node, follows its ACL log,
// applies pushed and fetched changes, pushes local changes and records the
// node's acknowledgements, and runs head sync on connect and periodically.
// The account's Syncer owns the node connection: it dials with backoff and
// jitter (capped at 10 s), keeps one push stream for the account, and routes
// pushes to the engines.
//
// It does network I/O only: every read and write of a space's data goes
// through the space's actor (the Local interface), so no object or space lock
// is ever held during a network call. It never decides a space's mode: it
// reports what it learns (ACL changes, space status) through callbacks.
package syncengine
