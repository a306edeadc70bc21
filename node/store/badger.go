package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Badger is the embedded node's Store: one badger database opened with synced writes, so
// every method that writes returns only after the write is durable. Compare-and-swaps use
// badger's optimistic transactions (a lost race is ErrStale); no Go lock is held across I/O.
type Badger struct {
	// db is open only while used (an idle node reads nothing: head-sync sets, ACL views
	// and statuses are cached, and an open badger database alone costs more CPU than an
	// idle node's whole budget), and guarded against a full disk: a write there fails
	// with ErrNoSpace, a database opened then is read-only until there is room again.
	db        *badgerdb.Dormant
	log       *slog.Logger
	usage     ownerUsage // owners' byte counters (usage_badger.go)
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*Badger)(nil)

// OpenBadger opens (creating if needed) the store in dir, with the phone-sized options
// of an embedded node (a node inside `hearth serve`).
func OpenBadger(dir string, log *slog.Logger) (*Badger, error) {
	return OpenBadgerOn(nil, dir, log, false)
}

// OpenBadgerServer opens the store in dir with server-sized options (the standalone
// `hearth node`).
func OpenBadgerServer(dir string, log *slog.Logger) (*Badger, error) {
	return OpenBadgerOn(nil, dir, log, true)
}

// IdleClose is how long a Badger store's database stays open after its last use.
var IdleClose = badgerdb.DefaultIdleClose

// OpenBadgerOn opens the store with the free space disk reports (nil: the operating
// system's; issue 16.7): while the disk has less room than badger needs to write without
// faulting, every write fails with ErrNoSpace, and a store opened then opens read-only
// (until there is room again). server picks OpenBadgerServer's options.
func OpenBadgerOn(disk *badgerdb.Disk, dir string, log *slog.Logger, server bool) (*Badger, error) {
	opts := badgerdb.Options(dir, true, log)
	if server {
		opts = badgerdb.ServerOptions(dir, log)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := badgerdb.NewDormantWith(disk, opts, log, IdleClose)
	if _, release, err := db.Acquire(); err != nil { // a store that cannot open fails here
		db.Close()
		if errkind.Is(err, errkind.NoSpace) {
			return nil, errkind.E("store.open", errkind.NoSpace, err)
		}
		return nil, errkind.E("store.open", errkind.Other, err)
	} else {
		release()
	}
	b := &Badger{db: db, log: log}
	b.usage.init()
	if err := b.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

func (b *Badger) checkSchema() error {
	// Read first: a store opened read-only on a full disk has its schema and needs
	// no write.
	var v []byte
	err := b.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(keySchema)
		if err != nil {
			return err
		}
		v, err = it.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		v = []byte{schemaVersion}
		err = b.db.Update(func(txn *badger.Txn) error { return txn.Set(keySchema, v) })
	}
	if err != nil {
		return err
	}
	if len(v) == 1 && v[0] == 1 {
		return b.migrate1to2()
	}
	if len(v) != 1 || v[0] != schemaVersion {
		return errkind.Errorf("store.open", errkind.Corrupt, "node store schema %v, this node reads %d: use a matching hearth version", v, schemaVersion)
	}
	return nil
}

// migrate1to2 records schema 2: a schema 1 store has no owners and no counters, which is
// what schema 2 says of spaces stored before quotas (SetOwner charges them later).
func (b *Badger) migrate1to2() error {
	return b.update(context.Background(), func(txn *badger.Txn) error { return txn.Set(keySchema, []byte{2}) })
}

// Close closes the database. It is idempotent.
func (b *Badger) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.db.Close() })
	return b.closeErr
}

// update runs fn in a read-write transaction; a badger conflict is ErrStale, a
// transaction over badger's cap ErrBatchTooBig.
func (b *Badger) update(ctx context.Context, fn func(*badger.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := b.db.Update(fn) // on a full disk: ErrNoSpace (the guard of badgerdb.Dormant)
	switch {
	case errors.Is(err, badger.ErrConflict):
		return ErrStale
	case errors.Is(err, badger.ErrTxnTooBig):
		return ErrBatchTooBig
	}
	return err
}

func (b *Badger) view(ctx context.Context, fn func(*badger.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.db.View(fn)
}

// get returns the value of key, nil and ErrNotFound when absent.
func get(txn *badger.Txn, key []byte) ([]byte, error) {
	it, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return it.ValueCopy(nil)
}

func statusBytes(s Status) []byte {
	b := []byte{byte(s.Code)}
	b = binary.BigEndian.AppendUint64(b, uint64(s.DeletionAt))
	b = binary.BigEndian.AppendUint64(b, uint64(s.LastRequest))
	if s.Purged {
		return append(b, 1)
	}
	return append(b, 0)
}

func parseStatus(b []byte) (Status, error) {
	if len(b) != 18 {
		return Status{}, errkind.Errorf("store", errkind.Corrupt, "status record is %d bytes", len(b))
	}
	return Status{Code: syncpb.SpaceStatusCode(b[0]), DeletionAt: int64(binary.BigEndian.Uint64(b[1:9])),
		LastRequest: int64(binary.BigEndian.Uint64(b[9:17])), Purged: b[17] == 1}, nil
}

func seqBytes(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func parseSeq(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, errkind.Errorf("store", errkind.Corrupt, "counter is %d bytes", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// counterLocked reads a non-negative counter (0 when absent).
func counterLocked(txn *badger.Txn, key []byte) (int64, error) {
	v, err := get(txn, key)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := parseSeq(v)
	if err == nil && int64(n) < 0 {
		return 0, errkind.Errorf("store", errkind.Corrupt, "counter %s is %d", key, n)
	}
	return int64(n), err
}

// addLocked adds delta to a counter; it never goes below zero, even over a store damaged
// by hand.
func addLocked(txn *badger.Txn, key []byte, delta int64) error {
	if delta == 0 {
		return nil
	}
	n, err := counterLocked(txn, key)
	if err != nil {
		return err
	}
	return txn.Set(key, seqBytes(uint64(max(n+delta, 0))))
}

// ownerLocked returns the identity a space is charged to; "" for a space stored without
// an owner (its usage counts against nobody until SetOwner).
func ownerLocked(txn *badger.Txn, id crypto.SpaceID) (string, error) {
	v, err := get(txn, keyOwner(id))
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return string(v), err
}

func indexLocked(txn *badger.Txn, id crypto.SpaceID, members []crypto.PubKey) error {
	for _, k := range members {
		if err := txn.Set(keyIndex(k, id), nil); err != nil {
			return err
		}
	}
	return nil
}

// CreateSpace implements Spaces.
func (b *Badger) CreateSpace(ctx context.Context, id crypto.SpaceID, header, root []byte, members []crypto.PubKey, owner crypto.PubKey, lim Limits) error {
	who := string(owner.Identity())
	return b.updateRetry(ctx, func(txn *badger.Txn) error {
		if _, err := get(txn, keyStatus(id)); err == nil {
			return ErrExists
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		n, err := counterLocked(txn, keyOwnerSpaces(who))
		if err != nil {
			return err
		}
		if err := checkQuota(QuotaSpaces, n, 1, lim.Spaces); err != nil {
			return err
		}
		for _, kv := range [][2][]byte{
			{keyHeader(id), header},
			{keyStatus(id), statusBytes(Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK})},
			{keyACL(id, 1), root},
			{keyACLSeq(id), seqBytes(1)},
			{keyOwner(id), []byte(who)},
			{keyOwnerSpaces(who), seqBytes(uint64(n + 1))},
		} {
			if err := txn.Set(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return indexLocked(txn, id, members)
	})
}

// Usage implements Quotas.
func (b *Badger) Usage(ctx context.Context, owner crypto.PubKey) (u Usage, err error) {
	who := string(owner.Identity())
	err = b.view(ctx, func(txn *badger.Txn) error {
		if u.Spaces, err = counterLocked(txn, keyOwnerSpaces(who)); err != nil {
			return err
		}
		if u.ChangeBytes, _, err = sumLocked(txn, who, usageChanges); err != nil {
			return err
		}
		u.BlobBytes, _, err = sumLocked(txn, who, usageBlobs)
		return err
	})
	return u, err
}

// SetOwner implements Quotas: it counts the space's changes in its transaction (a write
// of an unowned space touches uo/<space>, which this reads, so none is missed).
func (b *Badger) SetOwner(ctx context.Context, id crypto.SpaceID, owner crypto.PubKey) error {
	who := string(owner.Identity())
	var cur string
	err := b.view(ctx, func(txn *badger.Txn) (err error) {
		if _, err := statusLocked(txn, id); err != nil {
			return err
		}
		cur, err = ownerLocked(txn, id)
		return err
	})
	if err != nil || cur != "" {
		return err // owned already: a read, no write
	}
	t, err := b.totals(ctx, who)
	if err != nil {
		return err
	}
	var changes, blobs int64
	err = b.updateRetry(ctx, func(txn *badger.Txn) error {
		changes, blobs = 0, 0
		if _, err := statusLocked(txn, id); err != nil {
			return err
		}
		if cur, err := ownerLocked(txn, id); err != nil || cur != "" {
			return err
		}
		if _, err := get(txn, keyUnowned(id)); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := txn.Set(keyOwner(id), []byte(who)); err != nil {
			return err
		}
		if _, err := get(txn, keyHeader(id)); err == nil {
			if err := addLocked(txn, keyOwnerSpaces(who), 1); err != nil {
				return err
			}
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		var err error
		if changes, err = changeBytesLocked(txn, id); err != nil {
			return err
		}
		if blobs, err = counterLocked(txn, keyBlobUsage(id)); err != nil {
			return err
		}
		if err := b.addDeltaLocked(txn, who, usageChanges, changes); err != nil {
			return err
		}
		return b.addDeltaLocked(txn, who, usageBlobs, blobs)
	})
	if err != nil {
		return err
	}
	b.settle(t, usageChanges, 0, changes, true)
	b.settle(t, usageBlobs, 0, blobs, true)
	return nil
}

// changeBytesLocked sums the raw bytes of a space's stored changes: what they were
// charged (each change once, as it was stored).
func changeBytesLocked(txn *badger.Txn, id crypto.SpaceID) (int64, error) {
	var n int64
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixChanges(id)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		err := it.Item().Value(func(v []byte) error {
			c, err := changeOf(v)
			n += int64(len(c.Raw))
			return err
		})
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Header implements Spaces.
func (b *Badger) Header(ctx context.Context, id crypto.SpaceID) (h []byte, err error) {
	err = b.view(ctx, func(txn *badger.Txn) error {
		h, err = get(txn, keyHeader(id))
		return err
	})
	return h, err
}

// statusLocked reads a space's status in txn; ErrNotFound for an unknown space.
func statusLocked(txn *badger.Txn, id crypto.SpaceID) (Status, error) {
	v, err := get(txn, keyStatus(id))
	if err != nil {
		return Status{}, err
	}
	return parseStatus(v)
}

// Status implements Spaces.
func (b *Badger) Status(ctx context.Context, id crypto.SpaceID) (st Status, err error) {
	err = b.view(ctx, func(txn *badger.Txn) error {
		st, err = statusLocked(txn, id)
		return err
	})
	return st, err
}

// SwapStatus implements Spaces.
func (b *Badger) SwapStatus(ctx context.Context, id crypto.SpaceID, old, new Status) error {
	return b.update(ctx, func(txn *badger.Txn) error {
		cur, err := statusLocked(txn, id)
		if err != nil {
			return err
		}
		if cur != old {
			return ErrStale
		}
		return txn.Set(keyStatus(id), statusBytes(new))
	})
}

// Statuses implements Spaces.
func (b *Badger) Statuses(ctx context.Context, fn func(crypto.SpaceID, Status) bool) error {
	return b.view(ctx, func(txn *badger.Txn) error {
		p := []byte("st/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			st, err := parseStatus(v)
			if err != nil {
				return err
			}
			if !fn(crypto.SpaceID(bytes.TrimPrefix(it.Item().Key(), p)), st) {
				return nil
			}
		}
		return nil
	})
}

// Purge implements Spaces: it deletes in bounded transactions (a small memtable caps
// one transaction), so a crash half-way leaves a space the caller purges again. What the
// space's changes were charged is noted first (pu/<space>), since they are deleted before
// the counters move; the counters move last, in one transaction, and only while the
// header is there, so a purge run again takes nothing off twice.
func (b *Badger) Purge(ctx context.Context, id crypto.SpaceID) error {
	err := b.update(ctx, func(txn *badger.Txn) error {
		if _, err := get(txn, keyHeader(id)); errors.Is(err, ErrNotFound) {
			return nil // purged (or unknown): nothing to count
		} else if err != nil {
			return err
		}
		if _, err := get(txn, keyPurgeUsage(id)); err == nil {
			return nil // counted by a purge cut short
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		n, err := changeBytesLocked(txn, id)
		if err != nil {
			return err
		}
		return txn.Set(keyPurgeUsage(id), seqBytes(uint64(n)))
	})
	if err != nil {
		return err
	}
	for _, p := range [][]byte{prefixChanges(id), prefixChangeIDs(id), prefixObjects(id), prefixACL(id), prefixBlobs(id)} {
		if err := b.deletePrefix(ctx, p); err != nil {
			return err
		}
	}
	return b.charge(ctx, id, Limits{}, func(txn *badger.Txn, owner string, add addFunc) error {
		if _, err := get(txn, keyHeader(id)); err == nil {
			changes, err := counterLocked(txn, keyPurgeUsage(id))
			if err != nil {
				return err
			}
			blobs, err := counterLocked(txn, keyBlobUsage(id)) // a delete since is in it
			if err != nil {
				return err
			}
			if owner != "" {
				if err := addLocked(txn, keyOwnerSpaces(owner), -1); err != nil {
					return err
				}
			}
			if err := add(usageChanges, -changes); err != nil {
				return err
			}
			if err := add(usageBlobs, -blobs); err != nil {
				return err
			}
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		for _, k := range [][]byte{keyBlobUsage(id), keyPurgeUsage(id), keyUnowned(id), keyACLSeq(id)} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Delete(keyHeader(id))
	})
}

func (b *Badger) deletePrefix(ctx context.Context, p []byte) error {
	const batch = 500
	for {
		var keys [][]byte
		err := b.view(ctx, func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < batch; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return err
		}
		if err := b.update(ctx, func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
}

// AppendACL implements ACL.
func (b *Badger) AppendACL(ctx context.Context, id crypto.SpaceID, seq uint64, accepted []byte, members []crypto.PubKey) error {
	return b.update(ctx, func(txn *badger.Txn) error {
		v, err := get(txn, keyACLSeq(id))
		if err != nil {
			return err
		}
		last, err := parseSeq(v)
		if err != nil {
			return err
		}
		if seq == 0 || last != seq-1 {
			return ErrStale
		}
		if err := txn.Set(keyACL(id, seq), accepted); err != nil {
			return err
		}
		if err := txn.Set(keyACLSeq(id), seqBytes(seq)); err != nil {
			return err
		}
		return indexLocked(txn, id, members)
	})
}

// ACL implements ACL.
func (b *Badger) ACL(ctx context.Context, id crypto.SpaceID, after uint64, fn func(uint64, []byte) bool) error {
	return b.view(ctx, func(txn *badger.Txn) error {
		if _, err := get(txn, keyStatus(id)); err != nil {
			return err
		}
		p := prefixACL(id)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Seek(keyACL(id, after+1)); it.Valid(); it.Next() {
			seq, err := parseSeq(it.Item().Key()[len(p):])
			if err != nil {
				return err
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if !fn(seq, v) {
				return nil
			}
		}
		return nil
	})
}

func encodeObject(n uint64, heads []crypto.ChangeID) []byte {
	s := make([]string, len(heads))
	for i, h := range heads {
		s[i] = string(h)
	}
	return append(seqBytes(n), strings.Join(s, ",")...)
}

func decodeObject(v []byte) (uint64, []crypto.ChangeID, error) {
	if len(v) < 8 {
		return 0, nil, errkind.Errorf("store", errkind.Corrupt, "object record is %d bytes", len(v))
	}
	n := binary.BigEndian.Uint64(v[:8])
	if len(v) == 8 {
		return n, nil, nil
	}
	parts := strings.Split(string(v[8:]), ",")
	heads := make([]crypto.ChangeID, len(parts))
	for i, p := range parts {
		heads[i] = crypto.ChangeID(p)
	}
	return n, heads, nil
}

// errHeadsMoved: PutChanges found other heads than old (a lost compare-and-swap, as
// opposed to a conflict on a counter, which is retried).
var errHeadsMoved = errors.New("heads moved")

// PutChanges implements Changes. The bytes it stores count against the space's owner
// through charge (usage_badger.go), so writes to an owner's many objects never conflict
// on a counter; a lost heads swap is ErrStale.
func (b *Badger) PutChanges(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, old, heads []crypto.ChangeID, cs []Change, lim Limits) error {
	err := b.charge(ctx, id, lim, func(txn *badger.Txn, _ string, add addFunc) error {
		st, err := statusLocked(txn, id)
		if err != nil {
			return err
		}
		if st.Code != syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK {
			return ErrNotLive
		}
		var n uint64
		var cur []crypto.ChangeID
		v, err := get(txn, keyObject(id, obj))
		switch {
		case err == nil:
			if n, cur, err = decodeObject(v); err != nil {
				return err
			}
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if !equalHeads(cur, old) {
			return errHeadsMoved
		}
		var size int64
		for _, c := range cs {
			k := keyChangeID(id, obj, c.ID)
			if _, err := get(txn, k); err == nil {
				continue
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
			n++
			if len(c.ID) > 255 {
				return errkind.Errorf("store", errkind.Invalid, "change id of %d bytes", len(c.ID))
			}
			v := append(append([]byte{byte(len(c.ID))}, c.ID...), c.Raw...)
			if err := txn.Set(keyChange(id, obj, n), v); err != nil {
				return err
			}
			if err := txn.Set(k, nil); err != nil {
				return err
			}
			size += int64(len(c.Raw))
		}
		if err := add(usageChanges, size); err != nil {
			return err
		}
		return txn.Set(keyObject(id, obj), encodeObject(n, heads))
	})
	if errors.Is(err, errHeadsMoved) {
		return ErrStale
	}
	return err
}

// Heads implements Changes.
func (b *Badger) Heads(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID) (heads []crypto.ChangeID, err error) {
	err = b.view(ctx, func(txn *badger.Txn) error {
		if _, err := get(txn, keyStatus(id)); err != nil {
			return err
		}
		v, err := get(txn, keyObject(id, obj))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		_, heads, err = decodeObject(v)
		return err
	})
	return heads, err
}

// HasChanges implements Changes.
func (b *Badger) HasChanges(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, ids []crypto.ChangeID) ([]bool, error) {
	out := make([]bool, len(ids))
	err := b.view(ctx, func(txn *badger.Txn) error {
		if _, err := get(txn, keyStatus(id)); err != nil {
			return err
		}
		for i, c := range ids {
			_, err := txn.Get(keyChangeID(id, obj, c))
			switch {
			case err == nil:
				out[i] = true
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
		}
		return nil
	})
	return out, err
}

// Changes implements Changes.
func (b *Badger) Changes(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, fn func(Change) bool) error {
	return b.ChangesAfter(ctx, id, obj, 0, fn)
}

// ChangesAfter implements Changes: the keys hold the arrival number, so it seeks.
func (b *Badger) ChangesAfter(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, after uint64, fn func(Change) bool) error {
	return b.view(ctx, func(txn *badger.Txn) error {
		if _, err := get(txn, keyStatus(id)); err != nil {
			return err
		}
		prefix := prefixObjChanges(id, obj)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Seek(keyChange(id, obj, after+1)); it.Valid(); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			c, err := changeOf(v)
			if err != nil {
				return err
			}
			if k := item.Key(); len(k) == len(prefix)+8 {
				c.Seq = binary.BigEndian.Uint64(k[len(prefix):])
			}
			if !fn(c) {
				return nil
			}
		}
		return nil
	})
}

// changeOf decodes a stored change: len(id) (1 byte) | id | raw.
func changeOf(v []byte) (Change, error) {
	if len(v) < 1 || len(v) < 1+int(v[0]) {
		return Change{}, errkind.E("store", errkind.Corrupt, fmt.Errorf("stored change of %d bytes", len(v)))
	}
	n := int(v[0])
	return Change{ID: crypto.ChangeID(v[1 : 1+n]), Raw: v[1+n:]}, nil
}

// Objects implements Changes.
func (b *Badger) Objects(ctx context.Context, id crypto.SpaceID, fn func(crypto.ObjectID, []crypto.ChangeID) bool) error {
	return b.view(ctx, func(txn *badger.Txn) error {
		if _, err := get(txn, keyStatus(id)); err != nil {
			return err
		}
		p := prefixObjects(id)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			_, heads, err := decodeObject(v)
			if err != nil {
				return err
			}
			if !fn(crypto.ObjectID(it.Item().Key()[len(p):]), heads) {
				return nil
			}
		}
		return nil
	})
}

// SpacesOf implements Index.
func (b *Badger) SpacesOf(ctx context.Context, who crypto.PubKey) ([]crypto.SpaceID, error) {
	var out []crypto.SpaceID
	err := b.view(ctx, func(txn *badger.Txn) error {
		p := prefixIndex(who)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out = append(out, crypto.SpaceID(it.Item().Key()[len(p):]))
		}
		return nil
	})
	return out, err
}
