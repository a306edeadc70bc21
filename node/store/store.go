package store

import (
	"context"
	"errors"

	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Errors every implementation returns (wrapped or as is); test with errors.Is.
var (
	ErrNotFound = errkind.E("store", errkind.NotFound, errors.New("not found"))
	ErrExists   = errkind.E("store", errkind.Exists, errors.New("already exists"))
	// ErrStale: a compare-and-swap lost; re-read and decide again.
	ErrStale = errkind.E("store", errkind.Transient, errors.New("stored value changed"))
	// ErrNoSpace: the store's disk is full; nothing was written.
	ErrNoSpace = badgerdb.ErrNoSpace
	// ErrBatchTooBig: the write does not fit in one of the store's transactions (badger
	// caps them); nothing was stored. Split the batch.
	ErrBatchTooBig = errkind.E("store", errkind.Invalid, errors.New("batch too big for one transaction: split it"))
)

// Status is the lifecycle state of a space on the node.
type Status struct {
	Code syncpb.SpaceStatusCode // OK, PENDING_DELETION or DELETED
	// DeletionAt is when a pending deletion takes effect (unix ms); 0 otherwise.
	DeletionAt int64
	// LastRequest is the timestamp of the last applied owner-signed delete or cancel
	// request; older requests are refused (replay guard).
	LastRequest int64
	// Purged is set once a deleted space's data is gone.
	Purged bool
}

// Change is one raw signed change and its id (recomputed by the caller on receipt).
type Change struct {
	ID  crypto.ChangeID
	Raw []byte
	// Seq is the change's arrival number in its object (1, 2, …), set by reads;
	// PutChanges ignores it.
	Seq uint64
}

// Spaces stores headers and statuses.
type Spaces interface {
	// CreateSpace stores a new space: its header, its accepted root record (seq 1) with
	// status OK, index entries for members, and its owner (the identity its usage counts
	// against, see Quotas), whose count of spaces goes up by one. ErrExists when the space
	// is known (whatever the quota); a *QuotaError (QuotaSpaces) when the owner has
	// lim.Spaces spaces already.
	CreateSpace(ctx context.Context, id crypto.SpaceID, header, root []byte, members []crypto.PubKey, owner crypto.PubKey, lim Limits) error
	// Header returns the signed header; ErrNotFound for an unknown or purged space.
	Header(ctx context.Context, id crypto.SpaceID) ([]byte, error)
	// Status returns the space status; ErrNotFound for an unknown space.
	Status(ctx context.Context, id crypto.SpaceID) (Status, error)
	// SwapStatus replaces old by new; ErrStale when the stored status is not old.
	SwapStatus(ctx context.Context, id crypto.SpaceID, old, new Status) error
	// Statuses calls fn for every space until fn returns false.
	Statuses(ctx context.Context, fn func(crypto.SpaceID, Status) bool) error
	// Purge deletes the header, ACL records, objects and blobs of a space, keeping its
	// status, owner and index entries; the space and what it held stop counting against
	// its owner, exactly once. Purging a purged or unknown space is not an error.
	Purge(ctx context.Context, id crypto.SpaceID) error
}

// ACL stores accepted ACL records.
type ACL interface {
	// AppendACL stores the accepted record with sequence number seq, and index entries for
	// members, if and only if the last stored sequence number is seq-1; else ErrStale.
	// ErrNotFound for an unknown space.
	AppendACL(ctx context.Context, id crypto.SpaceID, seq uint64, accepted []byte, members []crypto.PubKey) error
	// ACL calls fn with the records after seq after, in order, until fn returns false.
	ACL(ctx context.Context, id crypto.SpaceID, after uint64, fn func(seq uint64, accepted []byte) bool) error
}

// Changes stores objects' changes and heads.
type Changes interface {
	// PutChanges appends cs (in the given order, which is the order Changes returns) to
	// the object and sets its heads, if and only if the stored heads equal old (nil for a
	// new object); else ErrStale. A store whose transactions are bounded refuses a batch
	// that does not fit in one with ErrBatchTooBig, storing nothing: the caller stores
	// prefixes of it (each holding its changes' parents) one by one. The bytes of the
	// changes it stores (raw bytes of those it did not hold) count against the space's
	// owner in the same transaction: a *QuotaError (QuotaChanges), storing nothing, when
	// they would take the owner over lim.ChangeBytes. A space pending deletion or deleted
	// takes no changes: ErrNotLive.
	PutChanges(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, old, heads []crypto.ChangeID, cs []Change, lim Limits) error
	// Heads returns the object's sorted heads; nil for an unknown object.
	Heads(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID) ([]crypto.ChangeID, error)
	// HasChanges reports for each id whether the object holds that change.
	HasChanges(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, ids []crypto.ChangeID) ([]bool, error)
	// Changes calls fn with the object's changes in arrival order until fn returns false.
	Changes(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, fn func(Change) bool) error
	// ChangesAfter is Changes from the change after arrival number after on (0: all),
	// so a reader that stopped goes on where it stopped without reading the object
	// again.
	ChangesAfter(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, after uint64, fn func(Change) bool) error
	// Objects calls fn with every object of the space and its heads until fn returns false.
	Objects(ctx context.Context, id crypto.SpaceID, fn func(crypto.ObjectID, []crypto.ChangeID) bool) error
}

// Index maps identities to the spaces they were ever a member of.
type Index interface {
	SpacesOf(ctx context.Context, who crypto.PubKey) ([]crypto.SpaceID, error)
}

// Store is everything the node needs.
type Store interface {
	Spaces
	ACL
	Changes
	Index
	Blobs
	Quotas
	Close() error
}

func equalHeads(a, b []crypto.ChangeID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// errClosed is returned by a closed store.
var errClosed = errkind.E("store", errkind.Precondition, errors.New("store is closed"))
