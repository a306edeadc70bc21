package store

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Blobs in badger: a blob's bytes are one value (above the value threshold, so they live
// in the value log and the transaction stays small; a value may be up to the value log
// file size, 16 MiB), its space's usage counter sits beside it, and both change in one
// synced transaction. Two puts racing on one space conflict on the counter; the loser
// re-reads and decides again. The owner's counter is a delta of the put's own
// (usage_badger.go).

// maxBlobAttempts bounds the retries of a blob write that lost a race on the counter.
const maxBlobAttempts = 16

// updateRetry is update, run again while it loses a conflict (on a counter, usually).
func (b *Badger) updateRetry(ctx context.Context, fn func(*badger.Txn) error) error {
	var err error
	for range maxBlobAttempts {
		if err = b.update(ctx, fn); !errors.Is(err, ErrStale) {
			return err
		}
	}
	return err
}

// PutBlob implements Blobs. Reading the status in the transaction makes a concurrent
// status change (the start of a deletion) conflict with the put, so no blob lands in a
// space after its purge began.
func (b *Badger) PutBlob(ctx context.Context, id crypto.SpaceID, blob string, data []byte, lim Limits) error {
	if blob == "" {
		return errBlobID
	}
	return b.charge(ctx, id, lim, func(txn *badger.Txn, _ string, add addFunc) error {
		st, err := statusLocked(txn, id)
		if err != nil {
			return err
		}
		if st.Code != syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK {
			return ErrNotLive
		}
		if _, err := txn.Get(keyBlob(id, blob)); err == nil {
			return nil // stored already: counted once
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		size := int64(len(data))
		used, err := counterLocked(txn, keyBlobUsage(id))
		if err != nil {
			return err
		}
		if err := checkQuota(QuotaSpaceBlobs, used, size, lim.SpaceBlobBytes); err != nil {
			return err
		}
		if err := add(usageBlobs, size); err != nil {
			return err
		}
		if err := txn.Set(keyBlob(id, blob), data); err != nil {
			return err
		}
		return txn.Set(keyBlobUsage(id), seqBytes(uint64(used+size)))
	})
}

// GetBlob implements Blobs.
func (b *Badger) GetBlob(ctx context.Context, id crypto.SpaceID, blob string) (data []byte, err error) {
	err = b.view(ctx, func(txn *badger.Txn) error {
		data, err = get(txn, keyBlob(id, blob))
		return err
	})
	return data, err
}

// DeleteBlob implements Blobs. The size comes from the value itself (badger's ValueSize is
// an estimate for values in the value log), so the usage stays exact.
func (b *Badger) DeleteBlob(ctx context.Context, id crypto.SpaceID, blob string) error {
	return b.charge(ctx, id, Limits{}, func(txn *badger.Txn, _ string, add addFunc) error {
		it, err := txn.Get(keyBlob(id, blob))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var size int64
		if err := it.Value(func(v []byte) error { size = int64(len(v)); return nil }); err != nil {
			return err
		}
		if err := add(usageBlobs, -size); err != nil {
			return err
		}
		if err := addLocked(txn, keyBlobUsage(id), -size); err != nil {
			return err
		}
		return txn.Delete(keyBlob(id, blob))
	})
}

// BlobUsage implements Blobs.
func (b *Badger) BlobUsage(ctx context.Context, id crypto.SpaceID) (used int64, err error) {
	err = b.view(ctx, func(txn *badger.Txn) error {
		if _, err := get(txn, keyStatus(id)); err != nil {
			return err
		}
		used, err = counterLocked(txn, keyBlobUsage(id))
		return err
	})
	return used, err
}
