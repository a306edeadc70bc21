// Package files owns the account's file blobs (DESIGN §6, §10): the
// content-addressed chunk store under <account>/blobs/, file manifests, the
// per-space sealing of what goes to the node, the (blob, space) markers in
// the account database, the garbage collector, refcount repair, the lazy
// fetch of missing chunks, and the per-space workers that upload files and
// send remote deletes.
//
// # Layout and ids
//
// A file is cut into fixed-size chunks (ChunkSize, 1 MiB; the last one may be
// shorter). Each chunk is a plain file blobs/<id[:2]>/<id>, named by the
// lowercase hex blake3-256 of its plaintext, written tmp + fsync + rename. The
// file's manifest (encodeManifest: the ordered chunk ids and sizes) is itself
// a blob, and the file's id (fileId) is the manifest's id. The same file added
// in two spaces, or twice in one, is stored once.
//
// # What the space store holds (core/space computes it, this package encodes it)
//
// A file is an ordinary object of type "file" whose details are fileId, name,
// size, keyId (the read key its remote copy is sealed with) and remoteId (the
// node-side id of its sealed remote manifest): a pure function of its changes.
// In the space's store, in the same transaction as the change that creates the
// object or deletes it:
//
//	'r' fileId 0x00 object → RefValue: the reference (blob, object)
//	'b' object             → fileId: the reverse of the reference
//	'u' fileId 0x00 keyId  → UploadEntry: the upload queue (local adds only)
//	'x' fileId 0x00 keyId  → DeleteEntry: the remote delete outbox (local deletes only)
//
// The unit of what the node stores is (fileId, keyId): its sealed chunks and
// sealed remote manifest. An upload is queued when a space's first local
// reference to a unit is created; a remote delete when the space's last
// reference to a unit is deleted locally (deletes that arrive from other
// devices queue nothing). A reference arriving for a unit cancels a queued
// delete of it.
//
// # Markers (account database)
//
//	"blobspace/" fileId "/" spaceId → empty: the marker (blob, space)
//	"spaceblob/" spaceId "/" fileId → empty: its reverse, to find a space's markers
//
// Badger has no transaction across the account and space databases, so a
// marker is written before the space's first reference to the file commits,
// and removed after its last one is gone: a crash leaves an extra marker (a
// leak Repair fixes), never a missing one. Offload (kick, leave, user's
// choice) drops a space's markers locally and sends nothing to the node.
//
// # Sealing
//
// What goes to the node is sealed per space with XChaCha20-Poly1305 under a
// key derived (HKDF-SHA256) from the space read key named by keyId. The nonce
// is deterministic: a keyed blake3 (a second derived key) of the fileId and the
// plaintext, as in SIV. Equal ciphertexts therefore mean equal (fileId,
// plaintext) under the same key, and the only thing a deterministic nonce
// reveals is that equality, to whoever sees the ciphertexts. Determinism is
// what lets a device compute the remote ids at add time (they go into the
// remoteId detail) and lets an upload be retried or resumed without storing
// ciphertext. The fileId in the nonce and as associated data keeps each
// unit's remote chunks its own, so deleting one file's remote copy never
// removes a chunk another file of the space shares.
//
// The remote manifest is sealed like a chunk and lists, for every chunk, its
// plaintext id, size and remote id; it is uploaded first (so a delete can
// always find what was uploaded) and its plaintext is checked against fileId
// by the downloader, who also checks every chunk's plaintext hash.
//
// # Garbage collection
//
// A blob is garbage only when no marker references it — directly (a manifest
// blob) or through the manifest of a marked file (a chunk) — and its mtime is
// older than the grace period. The collector re-reads the markers right
// before deleting each blob, under a per-blob claim that adds and fetches
// wait for, and keeps a blob whenever something is in doubt (a marked
// manifest it cannot decode, a read error).
//
// This package never deletes a blob that a marker reaches, never sends
// anything to the node during an offload, and never imports core/space (the
// space side talks to it through small interfaces).
package files
