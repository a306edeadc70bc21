package spaceindex

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
)

// SyncState is an object's sync state as written by the sync status
// service (DESIGN §9). The zero value means "not known yet".
type SyncState uint8

// Sync states.
const (
	SyncUnknown SyncState = iota
	SyncSynced
	SyncSyncing
	SyncQueued
	SyncError
)

// String returns the state's name.
func (s SyncState) String() string {
	switch s {
	case SyncUnknown:
		return "unknown"
	case SyncSynced:
		return "synced"
	case SyncSyncing:
		return "syncing"
	case SyncQueued:
		return "queued"
	case SyncError:
		return "error"
	}
	return "syncstate(" + strconv.Itoa(int(s)) + ")"
}

// SyncErrorReason qualifies SyncError.
type SyncErrorReason uint8

// Sync error reasons.
const (
	SyncErrorNone SyncErrorReason = iota
	SyncErrorRejected
	SyncErrorTooLarge
	SyncErrorNoPermission
	SyncErrorSpaceDeleted
)

// SyncStatus is an object's sync state plus, for SyncError, a reason.
type SyncStatus struct {
	State  SyncState
	Reason SyncErrorReason
}

// Details maps detail keys to values.
type Details map[string]Value

// Pseudo keys resolved by queries from a record's fields rather than its
// details. They can be filtered and sorted on like any other key; a Details
// entry with the same name is ignored by queries.
const (
	// KeyID resolves to String(record.ID).
	KeyID = "id"
	// KeySyncStatus resolves to Number(record.SyncStatus.State).
	KeySyncStatus = "syncStatus"
)

// Common detail keys, indexed in every space.
const (
	KeyType     = "type"
	KeyName     = "name"
	KeyCreated  = "created"
	KeyModified = "modified"
)

// Record is one object's entry in the index.
type Record struct {
	// ID is the object id; non-empty, at most MaxIDLen bytes.
	ID string
	// Details are the object's detail values.
	Details Details
	// HeadsHash is the hash of the object's sorted heads, used by range diff
	// and to detect an index that missed changes.
	HeadsHash []byte
	// SyncStatus is written by the sync status service.
	SyncStatus SyncStatus
}

// MaxIDLen is the longest accepted object id, in bytes.
const MaxIDLen = 512

// Field returns the value a query sees for key: the pseudo keys KeyID and
// KeySyncStatus, else the detail. ok is false when the key is missing.
func (r *Record) Field(key string) (v Value, ok bool) {
	switch key {
	case KeyID:
		return String(r.ID), true
	case KeySyncStatus:
		return Number(float64(r.SyncStatus.State)), true
	}
	v, ok = r.Details[key]
	return v, ok
}

// recordFormat is the first byte of an encoded record.
const recordFormat = 1

// appendRecord appends the storage encoding of r (without its id, which is in
// the key):
//
//	format byte (1)
//	uvarint len + heads hash       (first, so ForEachHead decodes only this)
//	sync state byte, reason byte
//	uvarint number of details, then per detail in key order:
//	  uvarint len + key, AppendValue(value)
func appendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, recordFormat)
	dst = binary.AppendUvarint(dst, uint64(len(r.HeadsHash)))
	dst = append(dst, r.HeadsHash...)
	dst = append(dst, byte(r.SyncStatus.State), byte(r.SyncStatus.Reason))
	dst = binary.AppendUvarint(dst, uint64(len(r.Details)))
	keys := make([]string, 0, len(r.Details))
	for k := range r.Details {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
		dst = AppendValue(dst, r.Details[k])
	}
	return dst
}

// decodeHeads returns the heads hash of an encoded record (aliasing b).
func decodeHeads(b []byte) ([]byte, int, error) {
	if len(b) == 0 || b[0] != recordFormat {
		return nil, 0, fmt.Errorf("%w: unknown record format", errBadEncoding)
	}
	n, w := readUvarint(b[1:])
	if w <= 0 || n > uint64(len(b)-1-w) {
		return nil, 0, fmt.Errorf("%w: bad heads length", errBadEncoding)
	}
	start := 1 + w
	return b[start : start+int(n)], start + int(n), nil
}

// DecodeRecord decodes a record encoded for storage and sets its ID to id.
// keys, when non-nil, selects which details to keep. It never panics:
// malformed input yields an error.
func DecodeRecord(id string, b []byte, keys []string) (Record, error) {
	var r Record
	if err := decodeRecordInto(&r, id, b, keys, false, nil); err != nil {
		return Record{}, err
	}
	return r, nil
}

// decodeRecordInto decodes into r, reusing its Details map (cleared) when
// it has one. scratch skips the heads hash: a record decoded only to be
// matched or compared needs no copy of it. a, when not nil, holds the
// heads hash and string copies of a query's records (arena.go).
func decodeRecordInto(r *Record, id string, b []byte, keys []string, scratch bool, a *arena) error {
	heads, pos, err := decodeHeads(b)
	if err != nil {
		return err
	}
	r.ID, r.HeadsHash = id, nil
	if len(heads) > 0 && !scratch {
		r.HeadsHash = a.bytes(heads)
	}
	if len(b) < pos+2 {
		return fmt.Errorf("%w: short record", errBadEncoding)
	}
	r.SyncStatus = SyncStatus{State: SyncState(b[pos]), Reason: SyncErrorReason(b[pos+1])}
	pos += 2
	n, w := readUvarint(b[pos:])
	if w <= 0 || n > uint64(len(b)-pos) {
		return fmt.Errorf("%w: bad detail count", errBadEncoding)
	}
	pos += w
	switch {
	case r.Details != nil:
		clear(r.Details)
	case keys != nil:
		r.Details = make(Details, min(int(n), len(keys)))
	default:
		r.Details = make(Details, min(int(n), 64))
	}
	var prev []byte
	for i := uint64(0); i < n; i++ {
		kl, w := readUvarint(b[pos:])
		if w <= 0 || kl > uint64(len(b)-pos-w) {
			return fmt.Errorf("%w: bad key length", errBadEncoding)
		}
		pos += w
		kb := b[pos : pos+int(kl)]
		pos += int(kl)
		if i > 0 && bytes.Compare(kb, prev) <= 0 {
			return fmt.Errorf("%w: detail keys out of order", errBadEncoding)
		}
		prev = kb
		key, wanted := "", true
		if keys != nil {
			key, wanted = lookupKey(keys, kb)
		}
		if !wanted {
			if pos < len(b) && b[pos] == tagMissing {
				return fmt.Errorf("%w: missing marker in record", errBadEncoding)
			}
			sk, err := skipValue(b[pos:])
			if err != nil {
				return err
			}
			pos += sk
			continue
		}
		v, vl, err := decodeValue(b[pos:], 0, a)
		if err != nil {
			return err
		}
		pos += vl
		if key == "" {
			key = string(kb)
		}
		r.Details[key] = v
	}
	if pos != len(b) {
		return fmt.Errorf("%w: trailing bytes in record", errBadEncoding)
	}
	return nil
}

// readUvarint reads a minimally encoded uvarint (w <= 0 on error), so that
// every accepted record has exactly one encoding.
func readUvarint(b []byte) (uint64, int) {
	n, w := binary.Uvarint(b)
	if w > 0 && w != max(1, (bits.Len64(n)+6)/7) {
		return 0, -1
	}
	return n, w
}

// lookupKey returns the element of keys equal to k (so a decoded detail
// reuses the caller's key string instead of allocating one).
func lookupKey(keys []string, k []byte) (string, bool) {
	for _, s := range keys {
		if s == string(k) { // no allocation
			return s, true
		}
	}
	return "", false
}
