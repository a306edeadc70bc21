package spacestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

// ErrNotFound is returned for a missing header or object.
var ErrNotFound = errors.New("spacestore: not found")

// Store is one space's durable store. Its database is dormant while unused
// (badgerdb.Dormant): it opens on use and closes after IdleClose.
type Store struct {
	db    *badgerdb.Dormant
	dirty atomic.Bool // written since the last Sync

	digestMu sync.Mutex  // guards digest
	digest   diff.Digest // of every object's (id, heads hash): the head-sync summary
}

// update runs fn in a read-write transaction and notes the write for Sync.
func (s *Store) update(fn func(*badger.Txn) error) error {
	err := s.db.Update(fn)
	if err == nil {
		s.dirty.Store(true)
	}
	return err
}

// IdleClose is how long a store's database stays open after its last use.
var IdleClose = badgerdb.DefaultIdleClose

// Open opens (creating if needed) the store at dir. Writes are synced:
// this is the source of truth.
func Open(dir string, log *slog.Logger) (*Store, error) { return openStore(nil, dir, true, log) }

// OpenOn is Open with the free space disk reports (badgerdb.Disk; nil: the
// operating system's): with too little room writes fail with NoSpace and a
// store opened then opens read-only.
func OpenOn(disk *badgerdb.Disk, dir string, log *slog.Logger) (*Store, error) {
	return openStore(disk, dir, true, log)
}

// OpenGrouped opens the store for one owner that commits in groups: writes
// are not synced one by one, and the owner calls Sync before it
// acknowledges any of them (a space's actor syncs once per batch of
// requests, so concurrent writers share one fsync).
func OpenGrouped(dir string, log *slog.Logger) (*Store, error) {
	return openStore(nil, dir, false, log)
}

// OpenGroupedOn is OpenGrouped with the free space disk reports.
func OpenGroupedOn(disk *badgerdb.Disk, dir string, log *slog.Logger) (*Store, error) {
	return openStore(disk, dir, false, log)
}

// Sync makes every write so far durable; with nothing written since the
// last Sync it does nothing (the actor calls it after every batch, reads
// included).
func (s *Store) Sync() error {
	if !s.dirty.Swap(false) {
		return nil
	}
	db, release, err := s.db.Acquire()
	if err == nil {
		err = db.Sync()
		release()
	}
	if err != nil {
		s.dirty.Store(true)
		return err
	}
	return nil
}

func openStore(disk *badgerdb.Disk, dir string, sync bool, log *slog.Logger) (*Store, error) {
	s := &Store{db: badgerdb.NewDormantOn(disk, dir, sync, log, IdleClose)}
	if err := s.checkSchema(); err != nil {
		s.db.Close()
		return nil, err
	}
	if err := s.loadDigest(); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// Sleep closes the store's database now if nothing uses it (it reopens on
// the next use); tests and owners that know they are done for a while call
// it.
func (s *Store) Sleep() bool { return s.db.Sleep() }

// Awake reports whether the store's database is open right now.
func (s *Store) Awake() bool { return s.db.Open() }

// checkSchema reads the schema version, and writes it into a new store only
// (a store opens on a full disk, read-only: badgerdb.Disk).
func (s *Store) checkSchema() error {
	v, err := s.get(schemaKey())
	if errors.Is(err, ErrNotFound) {
		return s.update(func(txn *badger.Txn) error { return txn.Set(schemaKey(), []byte(schemaVersion)) })
	}
	if err != nil {
		return err
	}
	if string(v) != schemaVersion {
		return fmt.Errorf("spacestore: schema %q, this build reads %q", v, schemaVersion)
	}
	return nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Element is an object's head-sync summary: its id and the hash of its heads.
func Element(object string, heads []string) diff.Element {
	ids := make([]crypto.ChangeID, len(heads))
	for i, h := range heads {
		ids[i] = crypto.ChangeID(h)
	}
	return diff.Element{ID: object, HeadsHash: objtree.HeadsHash(ids)}
}

// Digest is the head-sync digest of every object in the store (deleted ones
// included, as in Objects): kept up to date by WriteChanges, so an idle head
// sync reads nothing.
func (s *Store) Digest() diff.Digest {
	s.digestMu.Lock()
	defer s.digestMu.Unlock()
	return s.digest
}

// loadDigest reads the persisted digest, computing (and storing) it from
// the objects when the store has none yet.
func (s *Store) loadDigest() error {
	b, err := s.get(digestKey())
	if err == nil {
		d, err := decodeDigest(b)
		if err != nil {
			return err
		}
		s.digest = d
		return nil
	}
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	var d diff.Digest
	if err := s.Objects(func(id string, m Meta) error { d.Add(Element(id, m.Heads)); return nil }); err != nil {
		return err
	}
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(digestKey(), encodeDigest(d)) }); err != nil {
		return err
	}
	s.digest = d
	return nil
}

// encodeDigest: count uint64 BE | hash (32).
func encodeDigest(d diff.Digest) []byte {
	return append(binary.BigEndian.AppendUint64(nil, d.Count), d.Hash[:]...)
}

func decodeDigest(b []byte) (diff.Digest, error) {
	if len(b) != 8+32 {
		return diff.Digest{}, fmt.Errorf("spacestore: head-sync digest of %d bytes", len(b))
	}
	d := diff.Digest{Count: binary.BigEndian.Uint64(b)}
	copy(d.Hash[:], b[8:])
	return d, nil
}

// SetHeader stores the signed header.
func (s *Store) SetHeader(raw []byte) error {
	return s.update(func(txn *badger.Txn) error { return txn.Set(headerKey(), raw) })
}

// Header returns the signed header, or ErrNotFound.
func (s *Store) Header() ([]byte, error) { return s.get(headerKey()) }

// AddAcl stores accepted ACL records starting at seq first (seq, seq+1, …).
// provisional marks the space's root as accepted only locally; storing a
// node-accepted record clears the mark.
func (s *Store) AddAcl(first uint64, records [][]byte, provisional bool) error {
	return s.update(func(txn *badger.Txn) error {
		for i, raw := range records {
			if err := txn.Set(aclKey(first+uint64(i)), raw); err != nil {
				return err
			}
		}
		if provisional {
			return txn.Set(provisionalKey(), nil)
		}
		return txn.Delete(provisionalKey())
	})
}

// AclRecords returns the accepted ACL records in sequence order.
func (s *Store) AclRecords() ([][]byte, error) {
	var out [][]byte
	err := s.scan([]byte{prefixAcl}, func(_, v []byte) error {
		out = append(out, v)
		return nil
	})
	return out, err
}

// Provisional reports whether the ACL root is accepted only locally.
func (s *Store) Provisional() (bool, error) {
	_, err := s.get(provisionalKey())
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Meta is what the store keeps about one object besides its changes.
type Meta struct {
	Type    string
	Heads   []string // sorted
	Deleted bool
}

// WriteChanges stores new changes of object and its new meta, with the
// object's next sequence number (log.go) and the store's new head-sync
// digest, in one transaction; when the changes are too many for one, they
// go first, in as many as they need, and the rest follows in one (see
// below). local marks the object as having changes to
// push; newlyPending reports that it had none before. extra are more
// writes (file references, queues: files.go) made in the same transaction.
// Calls must not overlap (one writer: the actor).
func (s *Store) WriteChanges(object string, ids []string, raws [][]byte, meta Meta, local bool, extra ...Write) (newlyPending bool, err error) {
	if len(ids) != len(raws) {
		return false, fmt.Errorf("spacestore: %d ids for %d changes", len(ids), len(raws))
	}
	base := s.Digest()
	var digest diff.Digest // base with this write, once fn ran (fn may run twice)
	// The changes are keyed by their ids (content addresses): a batch too big
	// for one transaction stores them ahead of the rest (badgerdb.UpdateSplit),
	// and until the meta below names them they are only unread bytes; a
	// restore that finds them (after a crash between the two) repairs the meta
	// (Space.object).
	entries := make([]badgerdb.Entry, len(ids))
	for i := range ids {
		entries[i] = badgerdb.Entry{Key: changeKey(object, ids[i]), Value: raws[i]}
	}
	err = s.db.UpdateSplit(entries, func(txn *badger.Txn) error {
		d := base
		old, err := getIn(txn, objectKey(object))
		switch {
		case err == nil:
			m, err := decodeMeta(old)
			if err != nil {
				return fmt.Errorf("object %s: %w", object, err)
			}
			d.Remove(Element(object, m.Heads))
		case !errors.Is(err, ErrNotFound):
			return err
		}
		d.Add(Element(object, meta.Heads))
		if err := txn.Set(objectKey(object), encodeMeta(meta)); err != nil {
			return err
		}
		if err := txn.Set(digestKey(), encodeDigest(d)); err != nil {
			return err
		}
		digest = d
		if _, err := logChange(txn, object); err != nil {
			return err
		}
		if err := applyWrites(txn, extra); err != nil {
			return err
		}
		if !local {
			return nil
		}
		switch _, err := txn.Get(pendingKey(object)); {
		case errors.Is(err, badger.ErrKeyNotFound):
			newlyPending = true
		case err != nil:
			return err
		default:
			newlyPending = false // fn may run again
		}
		return txn.Set(pendingKey(object), nil)
	})
	s.dirty.Store(true) // a split write may have committed part of it
	if err != nil {
		return false, err
	}
	s.digestMu.Lock()
	s.digest = digest
	s.digestMu.Unlock()
	return newlyPending, nil
}

// Changes returns every stored change of object (in key order).
func (s *Store) Changes(object string) ([][]byte, error) {
	var out [][]byte
	err := s.scan(changePrefix(object), func(_, v []byte) error {
		out = append(out, v)
		return nil
	})
	return out, err
}

// Change returns one stored change, or ErrNotFound.
func (s *Store) Change(object, change string) ([]byte, error) {
	return s.get(changeKey(object, change))
}

// Meta returns an object's meta, or ErrNotFound.
func (s *Store) Meta(object string) (Meta, error) {
	b, err := s.get(objectKey(object))
	if err != nil {
		return Meta{}, err
	}
	return decodeMeta(b)
}

// Objects calls fn for every object, in id order.
func (s *Store) Objects(fn func(id string, m Meta) error) error {
	return s.scan([]byte{prefixObject}, func(k, v []byte) error {
		m, err := decodeMeta(v)
		if err != nil {
			return fmt.Errorf("object %s: %w", k[1:], err)
		}
		return fn(string(k[1:]), m)
	})
}

// SetAcked records heads the node acknowledged as durably stored. When they
// cover every local head, the object leaves the push queue; left reports
// that it was in the queue until this call.
func (s *Store) SetAcked(object string, acked []string) (left bool, err error) {
	err = s.update(func(txn *badger.Txn) error {
		left = false // fn may run again
		if err := txn.Set(ackedKey(object), encodeHeads(acked)); err != nil {
			return err
		}
		if _, err := logChange(txn, object); err != nil { // the sync status derives from it
			return err
		}
		item, err := txn.Get(objectKey(object))
		if err != nil {
			return err
		}
		var meta Meta
		if err := item.Value(func(v []byte) (err error) { meta, err = decodeMeta(v); return err }); err != nil {
			return err
		}
		if !Covers(acked, meta.Heads) {
			return nil
		}
		switch _, err := txn.Get(pendingKey(object)); {
		case errors.Is(err, badger.ErrKeyNotFound):
			return nil
		case err != nil:
			return err
		}
		left = true
		return txn.Delete(pendingKey(object))
	})
	return left && err == nil, err
}

// AckWrites are the writes of SetAcked(object, acked) for a WriteChanges of
// object (which carries them as extra, so that a downloaded object costs one
// transaction, not two; its log entry covers the acknowledgement too).
// leaves drops the object's pending mark: the caller found it pending and
// acked covering the heads of the write's meta.
func AckWrites(object string, acked []string, leaves bool) []Write {
	w := []Write{{Key: ackedKey(object), Value: encodeHeads(acked)}}
	if leaves {
		w = append(w, Write{Key: pendingKey(object), Delete: true})
	}
	return w
}

// Acked returns the heads the node acknowledged for object (nil if none).
func (s *Store) Acked(object string) ([]string, error) {
	b, err := s.get(ackedKey(object))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeHeads(b), nil
}

// Pending returns the objects with local changes the node has not acknowledged.
func (s *Store) Pending() ([]string, error) {
	var out []string
	err := s.scan([]byte{prefixPending}, func(k, _ []byte) error {
		out = append(out, string(k[1:]))
		return nil
	})
	return out, err
}

// IsPending reports whether object has changes the node has not
// acknowledged.
func (s *Store) IsPending(object string) (bool, error) {
	_, err := s.get(pendingKey(object))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// PendingCount counts the objects with changes the node has not
// acknowledged (keys only: cheap enough to run after every write).
func (s *Store) PendingCount() (int, error) {
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := []byte{prefixPending}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// Covers reports whether every head of want is in have (acknowledged heads
// cover an object's heads: nothing is left to push).
func Covers(have, want []string) bool {
	set := make(map[string]bool, len(have))
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

func (s *Store) get(key []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) (err error) { out, err = getIn(txn, key); return err })
	return out, err
}

func getIn(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func (s *Store) scan(prefix []byte, fn func(k, v []byte) error) error {
	return s.db.View(func(txn *badger.Txn) error { return scanIn(txn, prefix, fn) })
}

func scanIn(txn *badger.Txn, prefix []byte, fn func(k, v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if err := fn(item.KeyCopy(nil), v); err != nil {
			return err
		}
	}
	return nil
}

// encodeMeta: flags(1) | len(type) uvarint | type | heads (encodeHeads).
func encodeMeta(m Meta) []byte {
	var flags byte
	if m.Deleted {
		flags |= 1
	}
	b := []byte{flags}
	b = binary.AppendUvarint(b, uint64(len(m.Type)))
	b = append(b, m.Type...)
	return append(b, encodeHeads(m.Heads)...)
}

func decodeMeta(b []byte) (Meta, error) {
	if len(b) < 2 {
		return Meta{}, fmt.Errorf("spacestore: object meta too short")
	}
	m := Meta{Deleted: b[0]&1 != 0}
	n, used := binary.Uvarint(b[1:])
	if used <= 0 || uint64(len(b)-1-used) < n {
		return Meta{}, fmt.Errorf("spacestore: object meta: bad type length")
	}
	rest := b[1+used:]
	m.Type = string(rest[:n])
	m.Heads = decodeHeads(rest[n:])
	return m, nil
}

// encodeHeads joins ids with '\n' (ids never contain it).
func encodeHeads(heads []string) []byte { return []byte(strings.Join(heads, "\n")) }

func decodeHeads(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(bytes.Clone(b)), "\n")
}
