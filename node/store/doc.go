// Package store owns the sync node's storage: the Store interface (DESIGN §5), a badger
// implementation for the embedded node (synced writes: a method returns only once its
// write is durable; phone-sized options inside `hearth serve`, server-sized for the
// standalone node) and an in-memory implementation that is the test double. storetest
// holds the one conformance suite every implementation must pass; node/store/postgres is
// the shared backend that puts many stateless nodes on one database. shared.go defines
// the optional capabilities of a shared store (ACLHead, Feed and its Event,
// Leaser), which the embedded stores do not have.
//
// Per space it stores the signed header, the accepted (node-countersigned) ACL records by
// sequence number, the raw signed changes of each object in arrival order, the heads of
// each object, and the space status (ok, pending deletion with its time, deleted); beside
// them an index from identity to the spaces it ever belonged to, and the space's blobs
// (encrypted file chunks, opaque to the store) with a usage counter kept in the same
// transaction as every blob put and delete. Every space has an owner (its creator), and
// per owner the store counts the spaces, the bytes of their changes and of their blobs in
// the transaction of each write, refusing one past the caller's Limits (Quotas, blobs.go).
//
// Concurrency contract: every write that depends on what is stored is a compare-and-swap
// (AppendACL on the last sequence number, PutChanges on the heads, SwapStatus on the
// status) and fails with ErrStale when another writer got there first, so callers never
// hold a lock across a write. Implementations hold no lock across I/O either.
//
// A store must never interpret payloads (it does not verify, decrypt or order changes),
// never log content, and never treat a transient failure as "not found".
package store
