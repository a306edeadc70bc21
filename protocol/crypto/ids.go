package crypto

import (
	"encoding/base32"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// ErrInvalid is wrapped by every decoding and validation error of this package.
var ErrInvalid = errors.New("crypto: invalid input")

// enc is the one printable encoding of every id: lower-case RFC 4648 base32, no padding.
// Lower case only, so ids are safe as directory names on case-insensitive filesystems.
var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// HashSize is the size of a content hash (blake3-256).
const HashSize = 32

// KeyIDSize is the size of a symmetric key id (truncated blake3).
const KeyIDSize = 16

// Printed lengths.
var (
	IDLen    = enc.EncodedLen(HashSize)  // 52
	KeyIDLen = enc.EncodedLen(KeyIDSize) // 26
)

func encode(b []byte) string { return enc.EncodeToString(b) }

// maxDecoded bounds the ids decode handles without allocating beyond its
// result (every id of the protocol: hashes, keys, signatures' holders).
const maxDecoded = 64

// decode parses s as the canonical encoding of exactly n bytes: it decodes
// s and encodes the bytes back, and only the same string is canonical (the
// last character's unused bits must be zero). Ids are parsed on every read
// of a change, so the round trip runs in stack buffers.
func decode(s string, n int) ([]byte, error) {
	if len(s) != enc.EncodedLen(n) {
		return nil, fmt.Errorf("%w: id %q has length %d, want %d", ErrInvalid, trunc(s), len(s), enc.EncodedLen(n))
	}
	if n > maxDecoded {
		b, err := enc.DecodeString(s)
		if err != nil || len(b) != n || enc.EncodeToString(b) != s {
			return nil, notCanonical(s)
		}
		return b, nil
	}
	var src, back [(maxDecoded*8 + 4) / 5]byte
	var out [maxDecoded]byte
	copy(src[:], s)
	m, err := enc.Decode(out[:], src[:len(s)])
	if err != nil || m != n {
		return nil, notCanonical(s)
	}
	enc.Encode(back[:], out[:n])
	if string(back[:len(s)]) != s {
		return nil, notCanonical(s)
	}
	return append([]byte(nil), out[:n]...), nil
}

func notCanonical(s string) error {
	return fmt.Errorf("%w: id %q is not lower-case base32", ErrInvalid, trunc(s))
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Identity is the printable id of an ed25519 public key: an account id or a device id.
type Identity string

// ParseIdentity validates s and returns its public key.
func ParseIdentity(s string) (PubKey, error) {
	b, err := decode(s, PubKeySize)
	if err != nil {
		return PubKey{}, err
	}
	return UnmarshalPubKey(b)
}

// PubKey returns the key the identity names.
func (id Identity) PubKey() (PubKey, error) { return ParseIdentity(string(id)) }

// ContentID is the printable blake3-256 hash of exact bytes (file chunks and other content).
type ContentID string

// Sum returns the content id of b.
func Sum(b []byte) ContentID {
	h := blake3.Sum256(b)
	return ContentID(encode(h[:]))
}

// ContentIDOfHash is the printable content id of a blake3-256 hash computed elsewhere
// (a blob store that names blobs by the raw hash). It is "" unless h has HashSize bytes.
func ContentIDOfHash(h []byte) ContentID {
	if len(h) != HashSize {
		return ""
	}
	return ContentID(encode(h))
}

// ParseContentID validates the length and alphabet of s.
func ParseContentID(s string) (ContentID, error) {
	if _, err := decode(s, HashSize); err != nil {
		return "", err
	}
	return ContentID(s), nil
}

// Bytes returns the raw hash; it is nil for a malformed id.
func (c ContentID) Bytes() []byte {
	b, _ := decode(string(c), HashSize)
	return b
}

// SpaceID identifies a space: the content id of its signed header payload.
type SpaceID string

// ObjectID identifies an object: the change id of its root change.
type ObjectID string

// ChangeID identifies an object change: the content id of its signed payload.
type ChangeID string

// RecordID identifies an ACL record: the content id of its author-signed payload.
type RecordID string

// ParseSpaceID validates a space id.
func ParseSpaceID(s string) (SpaceID, error) {
	if _, err := decode(s, HashSize); err != nil {
		return "", err
	}
	return SpaceID(s), nil
}

// ParseObjectID validates an object id.
func ParseObjectID(s string) (ObjectID, error) {
	if _, err := decode(s, HashSize); err != nil {
		return "", err
	}
	return ObjectID(s), nil
}

// ParseChangeID validates a change id.
func ParseChangeID(s string) (ChangeID, error) {
	if _, err := decode(s, HashSize); err != nil {
		return "", err
	}
	return ChangeID(s), nil
}

// ParseRecordID validates an ACL record id.
func ParseRecordID(s string) (RecordID, error) {
	if _, err := decode(s, HashSize); err != nil {
		return "", err
	}
	return RecordID(s), nil
}

// ParseKeyID validates a symmetric key id.
func ParseKeyID(s string) (KeyID, error) {
	if _, err := decode(s, KeyIDSize); err != nil {
		return "", err
	}
	return KeyID(s), nil
}
