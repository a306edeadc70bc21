package spacestore

import (
	"errors"

	"github.com/dgraph-io/badger/v4"
)

// File bookkeeping (core/files documents the values; this store keeps them
// as opaque bytes):
//
//	'r' fileId 0x00 object → reference of object to file fileId
//	'b' object             → fileId: the reverse of the object's reference
//	'u' fileId 0x00 keyId  → queued upload of the file sealed under keyId
//	'x' fileId 0x00 keyId  → queued remote delete of the file sealed under keyId
const (
	prefixFileRef     = 'r'
	prefixFileOfObj   = 'b'
	prefixFileUpload  = 'u'
	prefixFileDeletes = 'x'
)

// Write is one extra set (or delete) made in a WriteChanges transaction.
type Write struct {
	Key    []byte
	Value  []byte
	Delete bool
}

func applyWrites(txn *badger.Txn, ws []Write) error {
	for _, w := range ws {
		var err error
		if w.Delete {
			err = txn.Delete(w.Key)
		} else {
			err = txn.Set(w.Key, w.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func pair(prefix byte, a, b string) []byte {
	k := append([]byte{prefix}, a...)
	k = append(k, 0)
	return append(k, b...)
}

// FileRefKey is the key of the reference (fileID, object).
func FileRefKey(fileID, object string) []byte { return pair(prefixFileRef, fileID, object) }

// FileOfObjectKey is the key of an object's reverse reference.
func FileOfObjectKey(object string) []byte { return append([]byte{prefixFileOfObj}, object...) }

// FileUploadKey is the key of a queued upload.
func FileUploadKey(fileID, keyID string) []byte { return pair(prefixFileUpload, fileID, keyID) }

// FileDeleteKey is the key of a queued remote delete.
func FileDeleteKey(fileID, keyID string) []byte { return pair(prefixFileDeletes, fileID, keyID) }

// FileEntry is a (fileId, second part) keyed entry: an object for a
// reference, a key id for a queue entry.
type FileEntry struct {
	FileID, Second string
	Value          []byte
}

func (s *Store) fileEntries(prefix []byte) ([]FileEntry, error) {
	var out []FileEntry
	err := s.scan(prefix, func(k, v []byte) error {
		rest := k[1:]
		for i, c := range rest {
			if c == 0 {
				out = append(out, FileEntry{FileID: string(rest[:i]), Second: string(rest[i+1:]), Value: v})
				return nil
			}
		}
		return errors.New("spacestore: file entry key without separator")
	})
	return out, err
}

// FileRefs returns the references to fileID ("" for every reference).
func (s *Store) FileRefs(fileID string) ([]FileEntry, error) {
	p := []byte{prefixFileRef}
	if fileID != "" {
		p = append(append(p, fileID...), 0)
	}
	return s.fileEntries(p)
}

// FileOfObject returns the fileId an object references ("" when none).
func (s *Store) FileOfObject(object string) (string, error) {
	b, err := s.get(FileOfObjectKey(object))
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// FileUploads returns the queued uploads.
func (s *Store) FileUploads() ([]FileEntry, error) { return s.fileEntries([]byte{prefixFileUpload}) }

// FileDeletes returns the queued remote deletes.
func (s *Store) FileDeletes() ([]FileEntry, error) { return s.fileEntries([]byte{prefixFileDeletes}) }

// FileGet returns one file entry's value (ErrNotFound when absent).
func (s *Store) FileGet(key []byte) ([]byte, error) { return s.get(key) }

// FileWrite applies writes in one transaction (queue bookkeeping outside a
// change).
func (s *Store) FileWrite(ws ...Write) error {
	return s.update(func(txn *badger.Txn) error { return applyWrites(txn, ws) })
}
