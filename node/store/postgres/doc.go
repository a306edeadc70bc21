// Package postgres is the sync node's store.Store on PostgreSQL (DESIGN §5): the backend
// for several stateless nodes sharing one database. It passes the same conformance suite
// (node/store/storetest) as the embedded badger store, and adds the shared-store
// capabilities of node/store (ACLHead, Feed, Leaser).
//
// It owns: the schema and its forward migrations (migrate.go: a version table, one Go
// function per version, run under an advisory lock so nodes starting together migrate
// once), the compare-and-swaps (an ACL record is an INSERT on the (space_id, seq) primary
// key guarded by the existence of seq-1, so two nodes racing for one sequence number can
// never both win; an object's heads are compared under SELECT … FOR UPDATE; both are SQL
// functions of schema 4, one round trip each; a status is a conditional UPDATE), the blob table with the usage counter updated in the blob's
// transaction, the cross-node feed (every write that others must hear of sends a NOTIFY
// in its own transaction, so it is told if and only if it committed; Watch listens on a
// dedicated connection and reconnects), leases, and the cluster's node key guard.
//
// Every method returns once its transaction committed (synchronous_commit stays on), so
// the node acknowledges only durable writes. No Go lock is held across a query.
//
// It must never interpret payloads, never log content or keys, and never hide a
// transient error (a lost connection) as "not found".
package postgres
