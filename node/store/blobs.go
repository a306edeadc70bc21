package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Blobs stores the encrypted file chunks of each space (DESIGN §5, §10) and the bytes they
// use. A blob is opaque to the store: the caller has checked that id is its content
// address. Usage is a counter written in the same transaction as every put and delete, so
// it is exact and survives a restart. Purge drops a space's blobs and its usage.
type Blobs interface {
	// PutBlob stores data under id in a live (status OK) space. Putting an id the space
	// holds already succeeds without counting it twice. The bytes count against the space
	// and against its owner. It fails with a *QuotaError (errors.Is ErrQuota) when
	// used+len(data) would pass lim.SpaceBlobBytes (QuotaSpaceBlobs) or the owner's
	// lim.BlobBytes (QuotaBlobs), ErrNotFound for an unknown space and ErrNotLive for a
	// space pending deletion or deleted.
	PutBlob(ctx context.Context, space crypto.SpaceID, id string, data []byte, lim Limits) error
	// GetBlob returns the blob's bytes; ErrNotFound when absent.
	GetBlob(ctx context.Context, space crypto.SpaceID, id string) ([]byte, error)
	// DeleteBlob deletes the blob and subtracts its size from the usage (the space's and
	// its owner's); ErrNotFound when absent.
	DeleteBlob(ctx context.Context, space crypto.SpaceID, id string) error
	// BlobUsage returns the bytes the space's blobs use; ErrNotFound for an unknown space.
	BlobUsage(ctx context.Context, space crypto.SpaceID) (used int64, err error)
}

// Quotas (DESIGN §5, issue 16.4): every space has an owner, the identity that created it,
// and what the space holds counts against its owner: one space, the bytes of its changes,
// the bytes of its blobs. The counters are written in the same transaction as the write
// they count, so they are exact and survive a restart; a purge takes the space off them.
// Limits are the caller's (passed to each write, as the node's configuration says).
type Quotas interface {
	// Usage returns what the spaces owner created hold (zero for an identity that owns
	// none).
	Usage(ctx context.Context, owner crypto.PubKey) (Usage, error)
	// SetOwner makes owner the owner of a space stored without one (by a store written
	// before quotas) and charges it what the space holds, once; a space that has an owner
	// keeps it. ErrNotFound for an unknown space.
	SetOwner(ctx context.Context, id crypto.SpaceID, owner crypto.PubKey) error
}

// Limits bound what one identity's spaces may hold, and what one space's blobs may. Zero
// means no limit.
type Limits struct {
	Spaces         int64 // spaces an identity created and the node has not purged
	ChangeBytes    int64 // bytes of changes in an identity's spaces
	BlobBytes      int64 // bytes of blobs in an identity's spaces
	SpaceBlobBytes int64 // bytes of blobs in one space
}

// Usage is what one identity's spaces hold.
type Usage struct {
	Spaces      int64
	ChangeBytes int64
	BlobBytes   int64
}

// ErrQuota: the write would take a space or its owner over a limit. The error returned is
// a *QuotaError, which carries the numbers.
var ErrQuota = errkind.E("store", errkind.Quota, errors.New("storage quota exceeded"))

// ErrNotLive: the space is pending deletion or deleted, so it takes no new changes or
// blobs.
var ErrNotLive = errkind.E("store", errkind.Precondition, errors.New("space is being deleted: it takes no new writes"))

// QuotaKind says which limit a QuotaError hit.
type QuotaKind uint8

// The limits.
const (
	QuotaSpaceBlobs QuotaKind = iota // Limits.SpaceBlobBytes (the zero value: the first quota there was)
	QuotaSpaces                      // Limits.Spaces
	QuotaChanges                     // Limits.ChangeBytes
	QuotaBlobs                       // Limits.BlobBytes
)

// String is the kind's word (in errors and on the wire).
func (k QuotaKind) String() string {
	switch k {
	case QuotaSpaceBlobs:
		return "spaceBlobs"
	case QuotaSpaces:
		return "spaces"
	case QuotaChanges:
		return "changes"
	case QuotaBlobs:
		return "blobs"
	}
	return fmt.Sprintf("quota(%d)", uint8(k))
}

// QuotaError is the refusal of a write over a limit.
type QuotaError struct {
	Kind  QuotaKind
	Used  int64 // what the space or owner uses now (spaces, or bytes)
	Limit int64 // the limit
	Size  int64 // what the refused write adds
}

func (e *QuotaError) Error() string {
	switch e.Kind {
	case QuotaSpaces:
		return fmt.Sprintf("quota exceeded: the creator owns %d spaces, the most one identity may own is %d", e.Used, e.Limit)
	case QuotaChanges:
		return fmt.Sprintf("quota exceeded: the spaces of this space's owner hold %d of %d bytes of changes; %d more do not fit", e.Used, e.Limit, e.Size)
	case QuotaBlobs:
		return fmt.Sprintf("quota exceeded: the spaces of this space's owner hold %d of %d bytes of files; a blob of %d bytes does not fit", e.Used, e.Limit, e.Size)
	}
	return fmt.Sprintf("space storage quota exceeded (used %d of %d bytes; a blob of %d bytes does not fit)", e.Used, e.Limit, e.Size)
}

// Unwrap makes errors.Is(err, ErrQuota) and errkind.Is(err, errkind.Quota) hold.
func (e *QuotaError) Unwrap() error { return ErrQuota }

// checkQuota returns a *QuotaError of kind k when size more do not fit under limit (0: no
// limit).
func checkQuota(k QuotaKind, used, size, limit int64) error {
	if limit > 0 && used+size > limit {
		return &QuotaError{Kind: k, Used: used, Limit: limit, Size: size}
	}
	return nil
}

var errBlobID = errkind.E("store", errkind.Invalid, errors.New("empty blob id"))
