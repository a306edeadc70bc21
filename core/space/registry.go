package space

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/internal/badgerdb"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// AccountStatus is the user's intent for a space (DESIGN §7).
type AccountStatus uint8

// Account statuses.
const (
	AccountActive AccountStatus = iota
	AccountJoining
	AccountDeleted // left or deleted
	AccountRemoved // kicked
)

// LocalStatus is the state of the space's data on this device.
type LocalStatus uint8

// Local statuses.
const (
	LocalUnknown LocalStatus = iota
	LocalLoading
	LocalOK
	LocalMissing
	LocalError
)

// RemoteStatus is the space's state on the node.
type RemoteStatus uint8

// Remote statuses.
const (
	RemoteUnknown RemoteStatus = iota
	RemoteOK
	RemotePendingDeletion
	RemoteDeleted
)

// Info is what the account database keeps about one known space.
type Info struct {
	ID            crypto.SpaceID `json:"-"`
	Name          string         `json:"name"`
	Incarnation   string         `json:"incarnation"`
	AccountStatus AccountStatus  `json:"accountStatus"`
	LocalStatus   LocalStatus    `json:"localStatus"`
	RemoteStatus  RemoteStatus   `json:"remoteStatus"`
	CreatedAt     int64          `json:"createdAt"`
	// StatusAt is when AccountStatus last changed (unix ms): references in
	// the account space are followed only when newer.
	StatusAt int64 `json:"statusAt,omitempty"`
	// Account marks the account space: internal, never listed to users.
	Account bool `json:"account,omitempty"`
	// Digest is the space's head-sync digest when it last unloaded (hex of
	// count | hash; "" unknown), and Pending whether it then had changes
	// the node had not acknowledged: a space kept on disk is loaded at
	// start only when Pending, and when the node's digest differs.
	Digest  string `json:"digest,omitempty"`
	Pending bool   `json:"pending,omitempty"`
}

const spaceKeyPrefix = "space/"

func spaceKey(id crypto.SpaceID) []byte { return []byte(spaceKeyPrefix + string(id)) }

func encodeInfo(in Info) ([]byte, error) { return json.Marshal(in) }

// decodeInfo parses a registry entry and checks its enums are in range.
func decodeInfo(id crypto.SpaceID, b []byte) (Info, error) {
	var in Info
	if err := json.Unmarshal(b, &in); err != nil {
		return Info{}, fmt.Errorf("space %s: registry entry: %w", id, err)
	}
	if in.AccountStatus > AccountRemoved || in.LocalStatus > LocalError || in.RemoteStatus > RemoteDeleted {
		return Info{}, fmt.Errorf("space %s: registry entry: status out of range", id)
	}
	if in.Incarnation == "" {
		return Info{}, fmt.Errorf("space %s: registry entry: no incarnation", id)
	}
	in.ID = id
	return in, nil
}

// putInfo writes one registry entry.
func putInfo(db badgerdb.KV, in Info) error {
	b, err := encodeInfo(in)
	if err != nil {
		return err
	}
	return db.Update(func(txn *badger.Txn) error { return txn.Set(spaceKey(in.ID), b) })
}

// updateInfo changes a known space's registry entry with fn in one
// transaction: the read and the write are one atomic step, and a
// transaction that raced another update of the entry (badger's conflict
// check) runs again on the fresh value. So two goroutines changing different
// status dimensions of a space never lose one another's update (a lost
// update could resurrect an offloaded space's data as "ok"). fn returns
// false to leave the entry as it is.
func updateInfo(db badgerdb.KV, id crypto.SpaceID, fn func(*Info) bool) (Info, bool, error) {
	var out Info
	var changed bool
	for range maxInfoRetries {
		err := db.Update(func(txn *badger.Txn) error {
			item, err := txn.Get(spaceKey(id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return errNoSpace
			}
			if err != nil {
				return err
			}
			var in Info
			if err := item.Value(func(v []byte) (err error) { in, err = decodeInfo(id, v); return err }); err != nil {
				return err
			}
			out, changed = in, fn(&in)
			if !changed {
				return nil
			}
			b, err := encodeInfo(in)
			if err != nil {
				return err
			}
			out = in
			return txn.Set(spaceKey(id), b)
		})
		if errors.Is(err, badger.ErrConflict) {
			continue
		}
		return out, changed, err
	}
	return Info{}, false, fmt.Errorf("space %s: registry entry: too many concurrent updates", id)
}

// maxInfoRetries bounds updateInfo's retries of a conflicting transaction.
const maxInfoRetries = 16

// errNoSpace is updateInfo's answer for an unknown space.
var errNoSpace = errors.New("unknown space")

// getInfo reads one registry entry; ok is false when the space is unknown.
func getInfo(db badgerdb.KV, id crypto.SpaceID) (in Info, ok bool, err error) {
	err = db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(spaceKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			in, err = decodeInfo(id, v)
			ok = err == nil
			return err
		})
	})
	return in, ok, err
}

// listInfos returns every known space, in id order.
func listInfos(db badgerdb.KV) ([]Info, error) {
	var out []Info
	err := db.View(func(txn *badger.Txn) error {
		prefix := []byte(spaceKeyPrefix)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			id := crypto.SpaceID(it.Item().Key()[len(prefix):])
			err := it.Item().Value(func(v []byte) error {
				in, err := decodeInfo(id, v)
				if err != nil {
					return err
				}
				out = append(out, in)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
