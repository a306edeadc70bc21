package spaceindex

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// The watermark: the sequence number of the space store's log (core's
// spacestore) up to which the index has applied every change. Writers that
// know the store sequence number of what they index pass it (PutAt, DeleteAt,
// SetSyncStatusAt) and the watermark is written in the same transaction as
// the last record of the write. A rebuild sets it to the snapshot it read.
// An index without a watermark (written before it existed, or never caught
// up) has none: Watermark reports ok=false, and no checkpoint is taken of it.
//
// The watermark may lag the truth (a write that failed after its store
// commit; heal catches up on load) but never lead it: every writer of the
// index runs in store order on the space's actor.

type watermarkCtxKey struct{}

// withWatermark marks ctx's write as applying the store through seq.
func withWatermark(ctx context.Context, seq uint64) context.Context {
	return context.WithValue(ctx, watermarkCtxKey{}, seq)
}

// addWatermark adds the watermark ctx carries, if any, to the write.
func (b *writeBatch) addWatermark(ctx context.Context) error {
	seq, ok := ctx.Value(watermarkCtxKey{}).(uint64)
	if !ok {
		return nil
	}
	return b.add(&recordOps{sets: []kv{{watermarkKey(), binary.BigEndian.AppendUint64(nil, seq)}}})
}

// PutAt is Put for records that reflect the space store through sequence
// number seq: the index's watermark moves to seq with them.
func (h *Handle) PutAt(ctx context.Context, seq uint64, recs ...Record) error {
	return h.Put(withWatermark(ctx, seq), recs...)
}

// DeleteAt is Delete at store sequence number seq (see PutAt).
func (h *Handle) DeleteAt(ctx context.Context, seq uint64, ids ...string) error {
	return h.Delete(withWatermark(ctx, seq), ids...)
}

// SetSyncStatusAt is SetSyncStatus at store sequence number seq (see PutAt).
func (h *Handle) SetSyncStatusAt(ctx context.Context, seq uint64, id string, st SyncStatus) error {
	return h.SetSyncStatus(withWatermark(ctx, seq), id, st)
}

// Watermark returns the store sequence number the index has applied every
// change up to; ok is false when the index has none.
func (h *Handle) Watermark(ctx context.Context) (seq uint64, ok bool, err error) {
	idx, err := h.acquire()
	if err != nil {
		return 0, false, err
	}
	defer h.release()
	txn := idx.db.NewTransaction(false)
	defer txn.Discard()
	return readWatermark(txn)
}

// SetWatermark records that the index reflects the store through seq (after
// a catch-up that wrote nothing, such as heal finding the index current).
func (h *Handle) SetWatermark(ctx context.Context, seq uint64) error {
	return h.Put(withWatermark(ctx, seq))
}

func readWatermark(txn *badger.Txn) (uint64, bool, error) {
	item, err := txn.Get(watermarkKey())
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("spaceindex: watermark: %w", err)
	}
	var seq uint64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("spaceindex: watermark of %d bytes: %w", len(v), ErrCorrupt)
		}
		seq = binary.BigEndian.Uint64(v)
		return nil
	})
	return seq, err == nil, err
}
