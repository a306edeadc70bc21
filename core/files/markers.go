package files

import (
	"errors"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/internal/badgerdb"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Marker key prefixes in the account database (see doc.go).
const (
	markerPrefix  = "blobspace/"
	reversePrefix = "spaceblob/"
)

func markerKey(fileID string, sp crypto.SpaceID) []byte {
	return []byte(markerPrefix + fileID + "/" + string(sp))
}

func reverseKey(sp crypto.SpaceID, fileID string) []byte {
	return []byte(reversePrefix + string(sp) + "/" + fileID)
}

// parseMarkerKey splits a marker key (either direction) into fileId and space.
func parseMarkerKey(k []byte) (fileID string, sp crypto.SpaceID, err error) {
	s := string(k)
	switch {
	case strings.HasPrefix(s, markerPrefix):
		f, space, ok := strings.Cut(s[len(markerPrefix):], "/")
		if !ok {
			break
		}
		fileID, sp = f, crypto.SpaceID(space)
	case strings.HasPrefix(s, reversePrefix):
		space, f, ok := strings.Cut(s[len(reversePrefix):], "/")
		if !ok {
			break
		}
		fileID, sp = f, crypto.SpaceID(space)
	}
	if fileID == "" || CheckID(fileID) != nil || sp == "" || strings.Contains(string(sp), "/") {
		return "", "", errkind.Errorf("files.marker", errkind.Corrupt, "bad marker key %q", trunc(s))
	}
	return fileID, sp, nil
}

// Markers are the (blob, space) markers in the account database. Every
// method is one transaction and safe for concurrent use.
type Markers struct{ db badgerdb.KV }

// NewMarkers returns the markers of an account database.
func NewMarkers(db badgerdb.KV) *Markers { return &Markers{db: db} }

// Mark records that space references fileID (idempotent).
func (m *Markers) Mark(sp crypto.SpaceID, fileID string) error {
	if err := CheckID(fileID); err != nil {
		return err
	}
	err := m.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(markerKey(fileID, sp), nil); err != nil {
			return err
		}
		return txn.Set(reverseKey(sp, fileID), nil)
	})
	if err != nil {
		return errkind.E("files.mark", errkind.Other, err)
	}
	return nil
}

// Unmark drops the marker (fileID, space) (idempotent).
func (m *Markers) Unmark(sp crypto.SpaceID, fileID string) error {
	err := m.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(markerKey(fileID, sp)); err != nil {
			return err
		}
		return txn.Delete(reverseKey(sp, fileID))
	})
	if err != nil {
		return errkind.E("files.unmark", errkind.Other, err)
	}
	return nil
}

// Marked reports whether any space marks fileID.
func (m *Markers) Marked(fileID string) (bool, error) {
	found := false
	err := m.db.View(func(txn *badger.Txn) error {
		prefix := []byte(markerPrefix + fileID + "/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		it.Rewind()
		found = it.ValidForPrefix(prefix)
		return nil
	})
	return found, err
}

// All returns every marker: fileId → the spaces marking it.
func (m *Markers) All() (map[string][]crypto.SpaceID, error) {
	out := map[string][]crypto.SpaceID{}
	err := m.scan(markerPrefix, func(fileID string, sp crypto.SpaceID) { out[fileID] = append(out[fileID], sp) })
	return out, err
}

// OfSpace returns the fileIds a space marks.
func (m *Markers) OfSpace(sp crypto.SpaceID) ([]string, error) {
	var out []string
	err := m.scan(reversePrefix+string(sp)+"/", func(fileID string, _ crypto.SpaceID) { out = append(out, fileID) })
	return out, err
}

// Spaces returns every space that marks something.
func (m *Markers) Spaces() (map[crypto.SpaceID]bool, error) {
	out := map[crypto.SpaceID]bool{}
	err := m.scan(reversePrefix, func(_ string, sp crypto.SpaceID) { out[sp] = true })
	return out, err
}

func (m *Markers) scan(prefix string, fn func(string, crypto.SpaceID)) error {
	return m.db.View(func(txn *badger.Txn) error {
		p := []byte(prefix)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(p); it.Next() {
			fileID, sp, err := parseMarkerKey(it.Item().Key())
			if err != nil {
				return err
			}
			fn(fileID, sp)
		}
		return nil
	})
}

// Release drops every marker of a space (offload: local only). Idempotent.
func (m *Markers) Release(sp crypto.SpaceID) error {
	return m.Rewrite(sp, nil)
}

// Rewrite makes a space's markers exactly fileIDs: missing ones are added
// first, then extra ones dropped. The caller holds the space still (no
// reference of it changes meanwhile).
func (m *Markers) Rewrite(sp crypto.SpaceID, fileIDs []string) error {
	have, err := m.OfSpace(sp)
	if err != nil {
		return errkind.E("files.markers", errkind.Other, err)
	}
	want := map[string]bool{}
	for _, f := range fileIDs {
		if err := m.Mark(sp, f); err != nil {
			return err
		}
		want[f] = true
	}
	var errs []error
	for _, f := range have {
		if !want[f] {
			errs = append(errs, m.Unmark(sp, f))
		}
	}
	return errors.Join(errs...)
}
