// Package node is the Hearth sync node (DESIGN §5): a gRPC server implementing the Node
// service of pb/syncpb/node.proto over a store.Store.
//
// It owns: the handshake (auth.go: stateless challenges and session tokens MACed with keys
// derived from the node key, so any node of a cluster checks what another issued; a
// bounded replay cache; tokens carried as metadata "session"), the per-address rate limit
// of unauthenticated calls (ratelimit.go, a bounded table), the ACL acceptor (validate with protocol/acl, assign the next
// sequence number, countersign with the node key, store, fan out), membership checks on
// every read and write of a space, change intake (objtree.Verify, write permission at the
// change's ACL head and at the current head, parents present, heads = stored heads + new
// changes - their parents), Fetch and HeadSync answers, the push hub (one bounded queue
// per Subscribe stream, drained by that stream's handler; a subscriber that falls behind
// is disconnected, never waited for), owner-signed space deletion with a grace period and
// the janitor that purges deleted spaces, and the blob calls (blobs.go: per-space encrypted
// file chunks; the id of every put is checked against its bytes, members read, writers put
// and delete, each space has a quota, Config.BlobQuota), and the quotas of quota.go (per
// identity: the spaces it created, the bytes of their changes and blobs, counted by the
// store in each write's transaction; per account and session: devices with a live session
// and open streams, counted in memory), refused as RESOURCE_EXHAUSTED with the reason
// QUOTA_EXCEEDED. A batch too big for one store transaction is stored as a run of
// prefixes, each a compare-and-swap of its own.
//
// Concurrency: no lock is held across disk or network I/O. Every write that depends on
// stored state is a compare-and-swap in the store (the ACL's last sequence number, an
// object's heads, a space's status); a lost swap re-reads and decides again. In-memory
// caches (the folded ACL per space) only move forward by sequence number.
//
// On a store shared by several nodes (cluster.go: capabilities of node/store found by type
// assertion) it re-checks the cached ACL against the stored sequence number before every
// membership decision, pushes the writes other nodes made (read from the store after the
// store's feed names them) to its own subscribers, disconnects its subscribers when the
// feed may have missed writes (they resubscribe and head-sync), and runs the janitor only
// while it holds the store's janitor lease.
//
// Every goroutine has an owner: the gRPC server's, the janitor and the feed watcher (all
// stopped by Close). Time is an input (Config.Clock).
//
// The node must never decrypt payloads (it holds no read keys), never log key material
// or payloads, never serve a space to a non-member or a space pending deletion for sync,
// and never acknowledge a write before it is durable.
package node
