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
	// holds already succeeds without counting it twice. It fails with a *QuotaError
	// (errors.Is ErrQuota) when used+len(data) > quota, ErrNotFound for an unknown space
	// and ErrNotLive for a space pending deletion or deleted.
	PutBlob(ctx context.Context, space crypto.SpaceID, id string, data []byte, quota int64) error
	// GetBlob returns the blob's bytes; ErrNotFound when absent.
	GetBlob(ctx context.Context, space crypto.SpaceID, id string) ([]byte, error)
	// DeleteBlob deletes the blob and subtracts its size from the usage; ErrNotFound when
	// absent.
	DeleteBlob(ctx context.Context, space crypto.SpaceID, id string) error
	// BlobUsage returns the bytes the space's blobs use; ErrNotFound for an unknown space.
	BlobUsage(ctx context.Context, space crypto.SpaceID) (used int64, err error)
}

// ErrQuota: the put would take the space over its quota. The error returned is a
// *QuotaError, which carries the numbers.
var ErrQuota = errkind.E("store", errkind.Quota, errors.New("space storage quota exceeded"))

// ErrNotLive: the space is pending deletion or deleted, so it takes no new blobs.
var ErrNotLive = errkind.E("store", errkind.Precondition, errors.New("space is being deleted: it takes no new blobs"))

// QuotaError is the refusal of a put over quota.
type QuotaError struct {
	Used  int64 // bytes the space uses now
	Limit int64 // its quota
	Size  int64 // the refused blob's size
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("space storage quota exceeded (used %d of %d bytes; a blob of %d bytes does not fit)", e.Used, e.Limit, e.Size)
}

// Unwrap makes errors.Is(err, ErrQuota) and errkind.Is(err, errkind.Quota) hold.
func (e *QuotaError) Unwrap() error { return ErrQuota }

// checkQuota returns a *QuotaError when size more bytes do not fit.
func checkQuota(used, size, quota int64) error {
	if used+size > quota {
		return &QuotaError{Used: used, Limit: quota, Size: size}
	}
	return nil
}

var errBlobID = errkind.E("store", errkind.Invalid, errors.New("empty blob id"))
