package spaceindex

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

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
//
// Delivery happens outside the index's write lock, so the next write's
// commit overlaps this one's delivery: under the write lock a write only
// takes a ticket (the order of commits); after releasing it, it waits until
// the batches of earlier tickets are delivered, delivers its own and wakes
// the next. So batches reach watchers one at a time, in commit order, each
// exactly once, and a write call returns only after its batch was
// delivered. A snapshot (QueryAt) may be taken while batches at or below
// its number are still on their way: a watcher drops those.

// Change is one record's state after a committed write.
type Change struct {
	ID string
	// Record is the record as written; nil when the write removed it. It is
	// shared by every watcher: never modify it.
	Record *Record
	// Prev is the record as it was before this write; nil when the write
	// created it (or when a bulk load into an empty generation wrote it
	// without reading). Shared, never modify it.
	Prev *Record
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

// feed is a registry entry's change feed. Lock order: an index's writeMu,
// then mu, then whatever a watcher takes.
type feed struct {
	mu        sync.Mutex
	cond      *sync.Cond             // on mu: broadcast when a ticket is delivered
	watchers  map[uint64]func(Batch) // guarded by mu
	next      uint64                 // guarded by mu: the last watcher id
	lastSeq   uint64                 // guarded by mu: the highest Seq queued
	issued    uint64                 // guarded by mu: the last ticket handed out
	delivered uint64                 // guarded by mu: the last ticket delivered
	// delivering: a batch is being told to the watchers it listed (without
	// mu), so a cancel waits for it.
	delivering bool
}

// pendingBatch is a batch queued for delivery with its ticket.
type pendingBatch struct {
	f      *feed
	ticket uint64
	b      Batch
}

// queue hands out the next ticket for b. The caller holds the writing
// index's writeMu, so tickets follow commit order.
func (f *feed) queue(b Batch) *pendingBatch {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued++
	f.lastSeq = max(f.lastSeq, b.Seq)
	return &pendingBatch{f: f, ticket: f.issued, b: b}
}

// deliver waits for the batches queued before p, tells the watchers about
// p's batch and lets the next one go. Called without writeMu; a no-op on
// nil.
func (p *pendingBatch) deliver() {
	if p == nil {
		return
	}
	f := p.f
	f.mu.Lock()
	for f.delivered != p.ticket-1 {
		f.cond.Wait()
	}
	fns := make([]func(Batch), 0, len(f.watchers))
	for _, fn := range f.watchers {
		fns = append(fns, fn)
	}
	f.delivering = true
	f.mu.Unlock()
	// Outside mu: writers queue their next batches meanwhile. Only this
	// ticket's holder delivers now.
	for _, fn := range fns {
		fn(p.b)
	}
	f.mu.Lock()
	f.delivering = false
	f.delivered = p.ticket
	f.cond.Broadcast()
	f.mu.Unlock()
}

// Watch calls fn with every committed write to the space's index, across
// closes and reopens of this incarnation, until cancel is called (cancel is
// idempotent; once it returns fn is not called again). fn runs one batch at
// a time in commit order, on the writing goroutine after the index's write
// lock is released: it must not block, must not call into the index and
// must not call Watch or a cancel.
func (h *Handle) Watch(fn func(Batch)) (cancel func()) {
	f := &h.sp.feed
	f.mu.Lock()
	if f.watchers == nil {
		f.watchers = map[uint64]func(Batch){}
	}
	f.next++
	id := f.next
	f.watchers[id] = fn
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.watchers, id)
		for f.delivering {
			f.cond.Wait()
		}
		f.mu.Unlock()
	}
}

// seqFloor is the least sequence number a newly opened generation of the
// entry may start from.
func (f *feed) seqFloor() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastSeq
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
	// Writers hold writeMu until their commits are done and their batches
	// queued, so a read transaction taken under it sees exactly the batches
	// up to seq (some of which may still be on their way to watchers).
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
