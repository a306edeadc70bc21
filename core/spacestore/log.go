package spacestore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// The sequence log. Every write that changes an object's indexable state
// (its changes and meta, or the heads the node acknowledged, which decide its
// sync status) takes the next sequence number in the same transaction and
// records the object under it, so "objects changed after S" is a prefix scan
// and an index can say how far it has caught up (its watermark). An object
// keeps only its latest log entry. The counter is persisted: it never
// restarts at zero. A store written before the log existed has a counter of
// 0 and objects that are in no log entry; an index of such a store has no
// watermark, so it is rebuilt by a full scan.

// logChange gives object the next sequence number within txn and returns it.
func logChange(txn *badger.Txn, object string) (uint64, error) {
	seq, err := readSeq(txn)
	if err != nil {
		return 0, err
	}
	seq++
	latest := logLatestKey(object)
	item, err := txn.Get(latest)
	switch {
	case err == nil:
		var prev uint64
		if err := item.Value(func(v []byte) (err error) { prev, err = decodeSeq(v); return err }); err != nil {
			return 0, fmt.Errorf("spacestore: log entry of %s: %w", object, err)
		}
		if err := txn.Delete(logKey(prev)); err != nil {
			return 0, err
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return 0, err
	}
	enc := binary.BigEndian.AppendUint64(nil, seq)
	if err := txn.Set(logKey(seq), []byte(object)); err != nil {
		return 0, err
	}
	if err := txn.Set(latest, enc); err != nil {
		return 0, err
	}
	return seq, txn.Set(seqKey(), enc)
}

func readSeq(txn *badger.Txn) (uint64, error) {
	item, err := txn.Get(seqKey())
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var seq uint64
	err = item.Value(func(v []byte) (err error) { seq, err = decodeSeq(v); return err })
	if err != nil {
		return 0, fmt.Errorf("spacestore: sequence counter: %w", err)
	}
	return seq, nil
}

func decodeSeq(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("spacestore: a sequence number of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Seq returns the last sequence number given (0 for a store without log).
func (s *Store) Seq() (uint64, error) {
	var seq uint64
	err := s.db.View(func(txn *badger.Txn) (err error) { seq, err = readSeq(txn); return err })
	return seq, err
}

// ChangedSince calls fn, in sequence order, for every object whose latest
// change has a sequence number above after.
func (s *Store) ChangedSince(after uint64, fn func(seq uint64, object string) error) error {
	return s.db.View(func(txn *badger.Txn) error { return changedSince(txn, after, fn) })
}

func changedSince(txn *badger.Txn, after uint64, fn func(seq uint64, object string) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixLog}, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Seek(logKey(after + 1)); it.ValidForPrefix([]byte{prefixLog}); it.Next() {
		item := it.Item()
		k := item.Key()
		if len(k) != 9 {
			return fmt.Errorf("spacestore: a log key of %d bytes", len(k))
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if err := fn(binary.BigEndian.Uint64(k[1:]), string(v)); err != nil {
			return err
		}
	}
	return nil
}

// Object is everything the store holds that an index record derives from.
type Object struct {
	ID      string
	Meta    Meta
	Changes [][]byte // in key order; only valid during the callback that got them
	Acked   []string
}

// Snapshot is a consistent read-only view of the store at one sequence
// number, for work that runs beside the writer (an index rebuild). Close it
// when done; it pins old versions while open. Not safe for concurrent use.
type Snapshot struct {
	txn     *badger.Txn
	seq     uint64
	release func() // keeps the database open until Close
}

// Snapshot opens a snapshot of the store as it is now.
func (s *Store) Snapshot() (*Snapshot, error) {
	db, release, err := s.db.Acquire()
	if err != nil {
		return nil, err
	}
	txn := db.NewTransaction(false)
	seq, err := readSeq(txn)
	if err != nil {
		txn.Discard()
		release()
		return nil, err
	}
	return &Snapshot{txn: txn, seq: seq, release: release}, nil
}

// Seq is the sequence number the snapshot reflects: every log entry up to it
// and none after.
func (sn *Snapshot) Seq() uint64 { return sn.seq }

// Close releases the snapshot. Idempotent.
func (sn *Snapshot) Close() {
	sn.txn.Discard()
	sn.release()
}

// Count returns the number of objects (live or deleted) in the snapshot.
func (sn *Snapshot) Count() (int64, error) {
	it := sn.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixObject}})
	defer it.Close()
	var n int64
	for it.Rewind(); it.ValidForPrefix([]byte{prefixObject}); it.Next() {
		n++
	}
	return n, nil
}

// ChangedSince is Store.ChangedSince within the snapshot.
func (sn *Snapshot) ChangedSince(after uint64, fn func(seq uint64, object string) error) error {
	return changedSince(sn.txn, after, fn)
}

// Object reads one object; ok is false when the store has no meta for it.
func (sn *Snapshot) Object(id string) (o Object, ok bool, err error) {
	return readObject(sn.txn, id)
}

// Object reads one object from the store as it is now; ok is false when the
// store has no meta for it.
func (s *Store) Object(id string) (o Object, ok bool, err error) {
	err = s.db.View(func(txn *badger.Txn) (err error) { o, ok, err = readObject(txn, id); return err })
	return o, ok, err
}

func readObject(txn *badger.Txn, id string) (Object, bool, error) {
	o := Object{ID: id}
	mb, err := getIn(txn, objectKey(id))
	if errors.Is(err, ErrNotFound) {
		return Object{}, false, nil
	}
	if err != nil {
		return Object{}, false, err
	}
	if o.Meta, err = decodeMeta(mb); err != nil {
		return Object{}, false, fmt.Errorf("object %s: %w", id, err)
	}
	err = scanIn(txn, changePrefix(id), func(_, v []byte) error {
		o.Changes = append(o.Changes, v)
		return nil
	})
	if err != nil {
		return Object{}, false, err
	}
	ab, err := getIn(txn, ackedKey(id))
	switch {
	case err == nil:
		o.Acked = decodeHeads(ab)
	case !errors.Is(err, ErrNotFound):
		return Object{}, false, err
	}
	return o, true, nil
}

// Scan calls fn for every object of the snapshot in id order, reading the
// metas, changes and acknowledged heads in three merged key-order scans (no
// seek per object). o.Changes is only valid during the call.
func (sn *Snapshot) Scan(fn func(o Object) error) error {
	metas := sn.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixObject}})
	defer metas.Close()
	changes := sn.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChange}})
	defer changes.Close()
	acked := sn.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixAcked}})
	defer acked.Close()
	changes.Rewind()
	acked.Rewind()
	var buf [][]byte
	for metas.Rewind(); metas.ValidForPrefix([]byte{prefixObject}); metas.Next() {
		item := metas.Item()
		id := string(item.Key()[1:])
		o := Object{ID: id}
		mb, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if o.Meta, err = decodeMeta(mb); err != nil {
			return fmt.Errorf("object %s: %w", id, err)
		}
		// Changes: skip those of objects without meta (none are written so),
		// then take this object's.
		prefix := changePrefix(id)
		buf = buf[:0]
		for ; changes.ValidForPrefix([]byte{prefixChange}); changes.Next() {
			k := changes.Item().Key()
			if string(k[:min(len(k), len(prefix))]) == string(prefix) {
				v, err := changes.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				buf = append(buf, v)
				continue
			}
			if string(k) > string(prefix) {
				break
			}
		}
		o.Changes = buf
		ak := ackedKey(id)
		for ; acked.ValidForPrefix([]byte{prefixAcked}); acked.Next() {
			k := acked.Item().Key()
			if string(k) == string(ak) {
				v, err := acked.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				o.Acked = decodeHeads(v)
				acked.Next()
				break
			}
			if string(k) > string(ak) {
				break
			}
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}
