package files

import (
	"encoding/binary"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// The values core/space writes in the space store for files (see doc.go).
// Each starts with a version byte; decoders are strict.

const entryVersion = 1

// maxKeyIDLen bounds a key id in an entry (they are short printable ids).
const maxKeyIDLen = 64

// RefValue is the value of a reference (fileId, object): what every device
// needs to fetch the file, copied from the object's details.
type RefValue struct {
	KeyID    crypto.KeyID
	RemoteID string // the sealed remote manifest's id on the node
}

// EncodeRef: version | uvarint len | keyId | remoteId 32.
func EncodeRef(v RefValue) []byte {
	b := []byte{entryVersion}
	b = binary.AppendUvarint(b, uint64(len(v.KeyID)))
	b = append(b, v.KeyID...)
	return appendID(b, v.RemoteID)
}

// DecodeRef parses a reference value.
func DecodeRef(b []byte) (RefValue, error) {
	r, err := entryReader(b)
	if err != nil {
		return RefValue{}, err
	}
	var v RefValue
	if v.KeyID, err = r.keyID(); err != nil {
		return RefValue{}, err
	}
	if v.RemoteID, err = r.id(); err != nil {
		return RefValue{}, err
	}
	return v, r.end()
}

// UploadEntry is a queued upload of a unit: Done counts the remote blobs the
// node acknowledged, in upload order (the remote manifest, then the chunks);
// they are never sent again.
type UploadEntry struct {
	RemoteID string
	Done     int
}

// EncodeUpload: version | remoteId 32 | uvarint done.
func EncodeUpload(e UploadEntry) []byte {
	b := appendID([]byte{entryVersion}, e.RemoteID)
	return binary.AppendUvarint(b, uint64(e.Done))
}

// DecodeUpload parses an upload queue entry.
func DecodeUpload(b []byte) (UploadEntry, error) {
	r, err := entryReader(b)
	if err != nil {
		return UploadEntry{}, err
	}
	var e UploadEntry
	if e.RemoteID, err = r.id(); err != nil {
		return UploadEntry{}, err
	}
	done, err := r.uvarint()
	if err != nil {
		return UploadEntry{}, err
	}
	if done > maxChunks+1 {
		return UploadEntry{}, corruptf("upload progress %d out of range", done)
	}
	e.Done = int(done)
	return e, r.end()
}

// DeleteEntry is a queued remote delete of a unit, with when it was queued
// (unix ms): the worker waits out a grace period before sending it, so a
// reference to the same remote copy made meanwhile on another device (which
// cancels the entry when it arrives) is not deleted under it.
type DeleteEntry struct {
	RemoteID string
	QueuedAt int64
}

// EncodeDelete: version | remoteId 32 | uvarint queuedAt.
func EncodeDelete(e DeleteEntry) []byte {
	return binary.AppendUvarint(appendID([]byte{entryVersion}, e.RemoteID), uint64(max(e.QueuedAt, 0)))
}

// DecodeDelete parses a delete outbox entry.
func DecodeDelete(b []byte) (DeleteEntry, error) {
	r, err := entryReader(b)
	if err != nil {
		return DeleteEntry{}, err
	}
	var e DeleteEntry
	if e.RemoteID, err = r.id(); err != nil {
		return DeleteEntry{}, err
	}
	at, err := r.uvarint()
	if err != nil {
		return DeleteEntry{}, err
	}
	if at > 1<<62 {
		return DeleteEntry{}, corruptf("delete queued at %d: out of range", at)
	}
	e.QueuedAt = int64(at)
	return e, r.end()
}

func entryReader(b []byte) (*reader, error) {
	if len(b) == 0 || b[0] != entryVersion {
		return nil, errkind.Errorf("files.entry", errkind.Corrupt, "unknown entry version")
	}
	return &reader{b: b[1:]}, nil
}

func (r *reader) keyID() (crypto.KeyID, error) {
	n, err := r.uvarint()
	if err != nil {
		return "", err
	}
	if n == 0 || n > maxKeyIDLen || uint64(len(r.b)) < n {
		return "", corruptf("bad key id length %d", n)
	}
	k := crypto.KeyID(r.b[:n])
	r.b = r.b[n:]
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return "", corruptf("key id is not printable")
		}
	}
	return k, nil
}
