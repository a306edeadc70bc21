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
	db        *badger.DB
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*Badger)(nil)

// OpenBadger opens (creating if needed) the store in dir, with the phone-sized options
// of an embedded node (a node inside `hearth serve`).
func OpenBadger(dir string, log *slog.Logger) (*Badger, error) {
	return openBadger(badgerdb.Options(dir, true, log))
}

// OpenBadgerServer opens the store in dir with server-sized options (the standalone
// `hearth node`).
func OpenBadgerServer(dir string, log *slog.Logger) (*Badger, error) {
	return openBadger(badgerdb.ServerOptions(dir, log))
}

func openBadger(opts badger.Options) (*Badger, error) {
	db, err := badger.Open(opts)
	if err != nil {
		return nil, errkind.E("store.open", errkind.Other, fmt.Errorf("open database %s: %w", opts.Dir, err))
	}
	b := &Badger{db: db}
	if err := b.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

func (b *Badger) checkSchema() error {
	var v []byte
	err := b.db.Update(func(txn *badger.Txn) error {
		it, err := txn.Get(keySchema)
		if errors.Is(err, badger.ErrKeyNotFound) {
			v = []byte{schemaVersion}
			return txn.Set(keySchema, v)
		}
		if err != nil {
			return err
		}
		v, err = it.ValueCopy(nil)
		return err
	})
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

// migrate1to2 counts the bytes of every space's changes (cu/), one space per transaction
// (a set, not an add: a migration cut short runs again from the start), then records
// schema 2. Owners come later (SetOwner).
func (b *Badger) migrate1to2() error {
	ctx := context.Background()
	var ids []crypto.SpaceID
	if err := b.Statuses(ctx, func(id crypto.SpaceID, _ Status) bool { ids = append(ids, id); return true }); err != nil {
		return err
	}
	for _, id := range ids {
		var size int64
		err := b.view(ctx, func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixChanges(id)})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				err := it.Item().Value(func(v []byte) error {
					c, err := changeOf(v)
					size += int64(len(c.Raw))
					return err
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			err = b.update(ctx, func(txn *badger.Txn) error { return txn.Set(keyChangeUsage(id), seqBytes(uint64(size))) })
		}
		if err != nil {
			return fmt.Errorf("migrate the node store to schema 2: %w", err)
		}
	}
	return b.update(ctx, func(txn *badger.Txn) error { return txn.Set(keySchema, []byte{2}) })
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
	err := b.db.Update(fn)
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

// chargeLocked adds delta to the counter key(owner) unless the space has no owner.
func chargeLocked(txn *badger.Txn, owner string, key func(string) []byte, delta int64) error {
	if owner == "" {
		return nil
	}
	return addLocked(txn, key(owner), delta)
}

// checkOwnerQuota is checkQuota for an owner's limit: a space without an owner counts
// against nobody.
func checkOwnerQuota(owner string, k QuotaKind, used, size, limit int64) error {
	if owner == "" {
		return nil
	}
	return checkQuota(k, used, size, limit)
}

// ownerCounterLocked reads the counter key(owner); 0 for no owner.
func ownerCounterLocked(txn *badger.Txn, owner string, key func(string) []byte) (int64, error) {
	if owner == "" {
		return 0, nil
	}
	return counterLocked(txn, key(owner))
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
		for _, c := range []struct {
			key func(string) []byte
			to  *int64
		}{{keyOwnerSpaces, &u.Spaces}, {keyOwnerChanges, &u.ChangeBytes}, {keyOwnerBlobs, &u.BlobBytes}} {
			if *c.to, err = counterLocked(txn, c.key(who)); err != nil {
				return err
			}
		}
		return nil
	})
	return u, err
}

// SetOwner implements Quotas.
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
	return b.updateRetry(ctx, func(txn *badger.Txn) error {
		if _, err := statusLocked(txn, id); err != nil {
			return err
		}
		if cur, err := ownerLocked(txn, id); err != nil || cur != "" {
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
		for _, c := range []struct{ from, to []byte }{{keyChangeUsage(id), keyOwnerChanges(who)}, {keyBlobUsage(id), keyOwnerBlobs(who)}} {
			n, err := counterLocked(txn, c.from)
			if err == nil {
				err = addLocked(txn, c.to, n)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
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
// one transaction), so a crash half-way leaves a space the caller purges again.
func (b *Badger) Purge(ctx context.Context, id crypto.SpaceID) error {
	for _, p := range [][]byte{prefixChanges(id), prefixChangeIDs(id), prefixObjects(id), prefixACL(id), prefixBlobs(id)} {
		if err := b.deletePrefix(ctx, p); err != nil {
			return err
		}
	}
	// Last, in one transaction: the counters. The owner is charged off only while the
	// header is there, so a purge run again takes nothing off twice.
	return b.updateRetry(ctx, func(txn *badger.Txn) error {
		if _, err := get(txn, keyHeader(id)); err == nil {
			owner, err := ownerLocked(txn, id)
			if err != nil {
				return err
			}
			if err := chargeLocked(txn, owner, keyOwnerSpaces, -1); err != nil {
				return err
			}
			for _, c := range []struct {
				from []byte
				to   func(string) []byte
			}{{keyChangeUsage(id), keyOwnerChanges}, {keyBlobUsage(id), keyOwnerBlobs}} {
				n, err := counterLocked(txn, c.from)
				if err == nil {
					err = chargeLocked(txn, owner, c.to, -n)
				}
				if err != nil {
					return err
				}
			}
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		for _, k := range [][]byte{keyBlobUsage(id), keyChangeUsage(id), keyACLSeq(id)} {
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

// PutChanges implements Changes. The owner's counter is shared by every object of the
// owner's spaces: a transaction that conflicts is run again (it re-reads the heads, so a
// lost compare-and-swap is still ErrStale).
func (b *Badger) PutChanges(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, old, heads []crypto.ChangeID, cs []Change, lim Limits) error {
	err := b.updateRetry(ctx, func(txn *badger.Txn) error {
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
		if size > 0 {
			owner, err := ownerLocked(txn, id)
			if err != nil {
				return err
			}
			used, err := ownerCounterLocked(txn, owner, keyOwnerChanges)
			if err != nil {
				return err
			}
			if err := checkOwnerQuota(owner, QuotaChanges, used, size, lim.ChangeBytes); err != nil {
				return err
			}
			if err := chargeLocked(txn, owner, keyOwnerChanges, size); err != nil {
				return err
			}
			if err := addLocked(txn, keyChangeUsage(id), size); err != nil {
				return err
			}
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
	return b.view(ctx, func(txn *badger.Txn) error {
		if _, err := get(txn, keyStatus(id)); err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixObjChanges(id, obj), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			c, err := changeOf(v)
			if err != nil {
				return err
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
