package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// An owner's bytes of changes and of blobs in badger. Every write of an owner's spaces
// changes them, so one counter key read and written in each transaction would be the hot
// key of all of them: badger's optimistic transactions then conflict on it, and under
// load one writer keeps losing to another (measured: two writers on two objects, a
// PutChanges lost 16 times in a row within 200 writes). Instead each write adds a delta
// key of its own (ud/<owner>/<kind>/<instance><n>: nobody else reads or writes it, so it
// never conflicts) in its transaction, and the counter is the base (uc/ or ub/<owner>)
// plus the deltas; a compaction folds deltas into the base now and then.
//
// The limit is checked in memory, exactly: this process is the store's only writer (the
// embedded node), so it keeps each owner's committed total, loaded once from the base and
// deltas, and the bytes reserved by writes in flight. A write reserves what it adds
// before it commits (refused when committed + reserved + its bytes pass the limit), then
// settles the reservation into the total once it committed or drops it when it did not.
// ownerUsage.mu is held only over those memory operations, never across I/O.

// usageKind indexes an owner's two byte counters.
type usageKind byte

const (
	usageChanges usageKind = 'c'
	usageBlobs   usageKind = 'b'
)

func (k usageKind) base(owner string) []byte {
	if k == usageChanges {
		return keyOwnerChanges(owner)
	}
	return keyOwnerBlobs(owner)
}

func prefixDeltas(owner string, k usageKind) []byte {
	return append([]byte("ud/"+owner+"/"), byte(k), '/')
}

// compactAfter is how many deltas of one owner's counter a write leaves before it folds
// them into the base (each delta is a key: ~80 bytes; a compaction deletes them in one
// transaction, well within a phone-sized one).
const compactAfter = 256

// ownerUsage is the in-memory side.
type ownerUsage struct {
	instance [8]byte // keeps this process's delta keys apart from an earlier one's
	next     atomic.Uint64

	mu sync.Mutex // guards owners and every ownerTotals in it
	// owners holds one entry per owner written since the store opened (a few dozen bytes
	// each; the node bounds the identities it serves).
	owners map[string]*ownerTotals
}

type ownerTotals struct {
	used       [2]int64 // committed: changes, blobs
	held       [2]int64 // reserved by writes in flight
	deltas     [2]int   // delta keys since the last compaction (at least)
	compacting [2]bool
}

func slot(k usageKind) int {
	if k == usageChanges {
		return 0
	}
	return 1
}

func (u *ownerUsage) init() {
	_, _ = rand.Read(u.instance[:])
	u.owners = map[string]*ownerTotals{}
}

// deltaKey is a fresh delta key of owner's counter k.
func (u *ownerUsage) deltaKey(owner string, k usageKind) []byte {
	key := append(prefixDeltas(owner, k), u.instance[:]...)
	return binary.BigEndian.AppendUint64(key, u.next.Add(1))
}

// eachDeltaLocked calls fn with every delta of owner's counter k in txn until fn returns
// false.
func eachDeltaLocked(txn *badger.Txn, owner string, k usageKind, fn func(key []byte, delta int64) bool) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixDeltas(owner, k), PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var d int64
		err := it.Item().Value(func(v []byte) error {
			if len(v) != 8 {
				return errkind.Errorf("store", errkind.Corrupt, "usage delta of %d bytes", len(v))
			}
			d = int64(binary.BigEndian.Uint64(v))
			return nil
		})
		if err != nil {
			return err
		}
		if !fn(it.Item().Key(), d) {
			return nil
		}
	}
	return nil
}

// sumLocked reads counter k of owner in txn: the base plus every delta.
func sumLocked(txn *badger.Txn, owner string, k usageKind) (n int64, deltas int, err error) {
	if n, err = counterLocked(txn, k.base(owner)); err != nil {
		return 0, 0, err
	}
	err = eachDeltaLocked(txn, owner, k, func(_ []byte, d int64) bool { n += d; deltas++; return true })
	return max(n, 0), deltas, err
}

// totals returns owner's entry, loading it from the store on first use. Nothing of the
// owner's is reserved or settled before its entry exists, so what was committed before the
// load is in what the load reads.
func (b *Badger) totals(ctx context.Context, owner string) (*ownerTotals, error) {
	b.usage.mu.Lock()
	t := b.usage.owners[owner]
	b.usage.mu.Unlock()
	if t != nil {
		return t, nil
	}
	fresh := &ownerTotals{}
	err := b.view(ctx, func(txn *badger.Txn) error {
		for _, k := range []usageKind{usageChanges, usageBlobs} {
			n, d, err := sumLocked(txn, owner, k)
			if err != nil {
				return err
			}
			fresh.used[slot(k)], fresh.deltas[slot(k)] = n, d
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.usage.mu.Lock()
	defer b.usage.mu.Unlock()
	if t := b.usage.owners[owner]; t != nil {
		return t, nil // loaded meanwhile by another writer
	}
	b.usage.owners[owner] = fresh
	return fresh, nil
}

// reserve holds size more bytes of owner's counter k for a write about to commit, or
// refuses them over limit (0: no limit) with a *QuotaError of kind q.
func (b *Badger) reserve(t *ownerTotals, k usageKind, q QuotaKind, size, limit int64) error {
	b.usage.mu.Lock()
	defer b.usage.mu.Unlock()
	i := slot(k)
	if err := checkQuota(q, t.used[i]+t.held[i], size, limit); err != nil {
		return err
	}
	t.held[i] += size
	return nil
}

// settle ends a reservation (held: what reserve held, 0 for a write that only takes bytes
// off): delta is what the committed write changed the counter by, 0 when it did not
// commit. It reports whether the counter should be compacted now.
func (b *Badger) settle(t *ownerTotals, k usageKind, held, delta int64, committed bool) bool {
	b.usage.mu.Lock()
	defer b.usage.mu.Unlock()
	i := slot(k)
	t.held[i] -= held
	if !committed {
		return false
	}
	t.used[i] = max(t.used[i]+delta, 0)
	t.deltas[i]++
	if t.deltas[i] < compactAfter || t.compacting[i] {
		return false
	}
	t.compacting[i] = true
	return true
}

// addDeltaLocked records in txn that owner's counter k changed by delta.
func (b *Badger) addDeltaLocked(txn *badger.Txn, owner string, k usageKind, delta int64) error {
	if owner == "" || delta == 0 {
		return nil
	}
	return txn.Set(b.usage.deltaKey(owner, k), binary.BigEndian.AppendUint64(nil, uint64(delta)))
}

// compact folds owner's deltas of counter k into its base. Only one compaction of a
// counter runs at a time (settle hands it out), and nobody else writes the base or reads
// the deltas in a write, so it does not conflict with the writes going on.
func (b *Badger) compact(owner string, k usageKind) error {
	var folded int
	err := b.updateRetry(context.Background(), func(txn *badger.Txn) error {
		folded = 0
		n, err := counterLocked(txn, k.base(owner))
		if err != nil {
			return err
		}
		var keys [][]byte
		err = eachDeltaLocked(txn, owner, k, func(key []byte, d int64) bool {
			n += d
			keys = append(keys, bytes.Clone(key))
			return len(keys) < 4*compactAfter
		})
		if err != nil {
			return err
		}
		for _, key := range keys {
			if err := txn.Delete(key); err != nil {
				return err
			}
		}
		folded = len(keys)
		return txn.Set(k.base(owner), seqBytes(uint64(max(n, 0))))
	})
	b.usage.mu.Lock()
	defer b.usage.mu.Unlock()
	if t := b.usage.owners[owner]; t != nil {
		t.compacting[slot(k)] = false
		if err == nil {
			t.deltas[slot(k)] = max(t.deltas[slot(k)]-folded, 0)
		}
	}
	return err
}

// errOwnerMoved: the space got an owner (SetOwner) between charge's read of it and its
// transaction.
var errOwnerMoved = errors.New("the space's owner changed")

// addFunc records in a charge's transaction that the owner's counter k changes by size
// (reserving size > 0 against the limit first).
type addFunc func(k usageKind, size int64) error

// charge runs write in a transaction, handing it the space's owner ("" for a space stored
// without one, which counts against nobody) and add, which reserves what the write adds
// against lim (a *QuotaError refuses the write) and records the delta in the transaction.
// Once the transaction committed the reservations become the owner's totals; otherwise
// they are dropped. write may run more than once (a conflict reruns it).
func (b *Badger) charge(ctx context.Context, id crypto.SpaceID, lim Limits, write func(txn *badger.Txn, owner string, add addFunc) error) error {
	limits := [2]struct {
		q     QuotaKind
		limit int64
	}{{QuotaChanges, lim.ChangeBytes}, {QuotaBlobs, lim.BlobBytes}}
	for range maxBlobAttempts {
		var owner string
		if err := b.view(ctx, func(txn *badger.Txn) (err error) { owner, err = ownerLocked(txn, id); return err }); err != nil {
			return err
		}
		var t *ownerTotals
		if owner != "" {
			var err error
			if t, err = b.totals(ctx, owner); err != nil {
				return err
			}
		}
		var held, delta [2]int64
		drop := func() {
			for _, k := range []usageKind{usageChanges, usageBlobs} {
				if t != nil && held[slot(k)] != 0 {
					b.settle(t, k, held[slot(k)], 0, false)
				}
			}
			held, delta = [2]int64{}, [2]int64{}
		}
		err := b.updateRetry(ctx, func(txn *badger.Txn) error {
			drop() // a rerun after a conflict reserves again
			cur, err := ownerLocked(txn, id)
			if err != nil {
				return err
			}
			if cur != owner {
				return errOwnerMoved
			}
			if owner == "" {
				// SetOwner counts this space's changes in its transaction: make a write of
				// an unowned space conflict with it, so none is left out.
				if err := txn.Set(keyUnowned(id), nil); err != nil {
					return err
				}
			}
			return write(txn, owner, func(k usageKind, size int64) error {
				if t == nil || size == 0 {
					return nil
				}
				i := slot(k)
				if size > 0 {
					if err := b.reserve(t, k, limits[i].q, size, limits[i].limit); err != nil {
						return err
					}
					held[i] += size
				}
				delta[i] += size
				return b.addDeltaLocked(txn, owner, k, size)
			})
		})
		if errors.Is(err, errOwnerMoved) {
			drop()
			continue
		}
		if err != nil || t == nil {
			drop()
			return err
		}
		for _, k := range []usageKind{usageChanges, usageBlobs} {
			i := slot(k)
			if delta[i] == 0 && held[i] == 0 {
				continue
			}
			if b.settle(t, k, held[i], delta[i], true) {
				if cerr := b.compact(owner, k); cerr != nil {
					b.log.Warn("node store: folding usage deltas", "err", cerr) // they stay, and count the same
				}
			}
		}
		return nil
	}
	return ErrStale
}
