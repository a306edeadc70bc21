package spaceindex

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// The change feed: every committed write to an index is told, in commit
// order, to the space's watchers, tagged with a sequence number. Live
// subscriptions (core) use it with QueryAt: a snapshot says which sequence
// number it reflects, and batches after it are applied on top, so no change
// is lost or applied twice however a write races the snapshot.
//
// The sequence number counts committed write calls. It is persisted with
// each write (meta key "feedseq"), so it never restarts at zero when the
// index reopens, and the registry entry keeps the highest value seen, so a
// rebuilt generation continues from it too.

// Change is one record's state after a committed write.
type Change struct {
	ID string
	// Record is the record as written; nil when the write removed it. It is
	// shared by every watcher: never modify it.
	Record *Record
}

// Batch is what one committed write call did.
type Batch struct {
	// Seq is the index's sequence number after the write.
	Seq uint64
	// Changes are the records the write changed, in the order written;
	// records it left as they were are not listed.
	Changes []Change
	// Reset says a write failed part-way (some of its transactions may have
	// committed): Changes is empty and a watcher must re-read what it
	// follows.
	Reset bool
}

// Watch calls fn with every committed write to the space's index, across
// closes and reopens of this incarnation, until cancel is called (cancel is
// idempotent and waits for no one). fn runs under the index's write lock, in
// commit order: it must not block and must not call into the index.
func (h *Handle) Watch(fn func(Batch)) (cancel func()) {
	sp := h.sp
	sp.feedMu.Lock()
	if sp.watchers == nil {
		sp.watchers = map[uint64]func(Batch){}
	}
	sp.nextWatcher++
	id := sp.nextWatcher
	sp.watchers[id] = fn
	sp.feedMu.Unlock()
	return func() {
		sp.feedMu.Lock()
		delete(sp.watchers, id)
		sp.feedMu.Unlock()
	}
}

// notify tells the watchers about one batch. The caller holds the index's
// writeMu, which orders batches.
func (sp *space) notify(b Batch) {
	sp.feedMu.Lock()
	defer sp.feedMu.Unlock()
	sp.lastSeq = max(sp.lastSeq, b.Seq)
	for _, fn := range sp.watchers {
		fn(b)
	}
}

// seqFloor is the least sequence number a newly opened generation of the
// entry may start from.
func (sp *space) seqFloor() uint64 {
	sp.feedMu.Lock()
	defer sp.feedMu.Unlock()
	return sp.lastSeq
}

// QueryAt runs q like Query and also returns the sequence number the result
// reflects: every batch with a Seq up to it is in the result, none after.
func (h *Handle) QueryAt(ctx context.Context, q Query) (Result, uint64, error) {
	idx, err := h.acquire()
	if err != nil {
		return Result{}, 0, err
	}
	defer h.release()
	c, err := Compile(q, idx.cfg)
	if err != nil {
		return Result{}, 0, err
	}
	// Writers hold writeMu until their commits are done and told, so a
	// read transaction taken under it sees exactly the batches up to seq.
	idx.writeMu.Lock()
	seq := idx.seq
	txn := idx.db.NewTransaction(false)
	idx.writeMu.Unlock()
	defer txn.Discard()
	res, err := idx.queryTxn(ctx, txn, c)
	return res, seq, err
}

// Seq returns the index's sequence number now.
func (h *Handle) Seq() (uint64, error) {
	idx, err := h.acquire()
	if err != nil {
		return 0, err
	}
	defer h.release()
	idx.writeMu.Lock()
	defer idx.writeMu.Unlock()
	return idx.seq, nil
}

func feedSeqKey() []byte { return append([]byte{prefixMeta}, feedSeqKeySuffix...) }

// readFeedSeq reads the persisted sequence number (0 when absent).
func readFeedSeq(db *badger.DB) (uint64, error) {
	var seq uint64
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(feedSeqKey())
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("feed sequence of %d bytes: %w", len(v), ErrCorrupt)
			}
			seq = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("spaceindex: reading the feed sequence: %w", err)
	}
	return seq, nil
}
