// Package objtree owns one object's change DAG: building, signing, encrypting, verifying
// and ordering changes, and replaying them into the object's state. Tree is a
// thread-unsafe core: it never does I/O, reads the clock or starts goroutines; Add returns
// what the caller must persist (added and waiting changes, missing parents, heads).
//
// # Changes
//
// A change (syncpb.Change) holds the space id, the object id ("" for the root), sorted
// unique parents, the ACL head it was made under, the read key id, the author, a timestamp
// (an input) and the encrypted ops. It is signed by its author in a syncpb.Signed envelope
// (domain "change"); the change id is the content id of the exact payload bytes, and the
// object id is the id of its root change. The root carries a random 16-byte seed and an
// optional plaintext object type, no parents and no ops. Verify recomputes the id and
// checks the signature; ids that came with data are never trusted.
//
// Ops (syncpb.ChangeOps) are encrypted with XChaCha20-Poly1305 under the per-object key
// HKDF(read key, object id), with AAD binding space id, object id and read key id.
//
// # Validity
//
// A change is accepted only if its author may write at the change's ACL head and its key
// id is the read key current at that head; a change whose ACL head is not known yet fails
// with ErrAclBehind (fetch the ACL, then retry). These failures make Add fail as a whole.
// The author must also still be a writer at the current ACL head, so a removed writer
// cannot back-date changes to a head where it could write. Applied literally, that rule
// would make replicas diverge (a device that got a change before the removal keeps it,
// one that got it after drops it, and then waits forever on every change built on it), so
// a change of a no-longer-writer is accepted exactly when a valid change (in the tree or
// in the same batch) builds on it: nobody valid can build on a back-dated change, while
// real history is vouched for by its descendants. Unvouched changes are reported in
// Update.Rejected, the rest of the batch is added, and Add returns an error wrapping
// ErrPartial (and ErrPermission) beside the Update. Restore rebuilds a tree from the
// device's own storage without ACL checks.
//
// # Order and state
//
// Changes whose parents are missing wait in the tree until the parents arrive. The
// deterministic order is topological with ties broken by the smaller change id; it depends
// only on the set of changes, so every replica replays the same sequence. The state
// replays ops in that order: Set/Unset a detail key (null, bool, number, string, list
// values), ListAdd/ListRemove list elements; the last writer in the order wins per key.
// HeadsHash (hash of the sorted heads) summarises a tree for the index and the range diff.
package objtree
