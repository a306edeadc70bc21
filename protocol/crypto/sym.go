package crypto

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// SymKeySize is the size of a symmetric key.
const SymKeySize = 32

// NonceSize is the XChaCha20-Poly1305 nonce size; Encrypt prefixes the nonce to its output.
const NonceSize = chacha20poly1305.NonceSizeX

// EncryptOverhead is the number of bytes Encrypt adds (nonce + tag).
const EncryptOverhead = NonceSize + chacha20poly1305.Overhead

const objectKeyLabel = "hearth/object-key/v1"

// KeyID is the printable id of a symmetric key: blake3 of "hearth/key-id/v1" and the key,
// truncated to 16 bytes.
type KeyID string

// SymKey is a 32-byte symmetric key (a space read key or a derived object key).
// Like PrivKey, it never prints its bytes.
type SymKey struct {
	k  [SymKeySize]byte
	ok bool
}

// NewSymKey returns a random key.
func NewSymKey() (SymKey, error) { return NewSymKeyFrom(rand.Reader) }

// NewSymKeyFrom reads a key from r (fixed readers only in tests).
func NewSymKeyFrom(r io.Reader) (SymKey, error) {
	var b [SymKeySize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return SymKey{}, fmt.Errorf("crypto: new sym key: %w", err)
	}
	return SymKey{k: b, ok: true}, nil
}

// UnmarshalSymKey parses 32 raw bytes.
func UnmarshalSymKey(b []byte) (SymKey, error) {
	if len(b) != SymKeySize {
		return SymKey{}, fmt.Errorf("%w: symmetric key is %d bytes, want %d", ErrInvalid, len(b), SymKeySize)
	}
	var k SymKey
	copy(k.k[:], b)
	k.ok = true
	return k, nil
}

// SymKeyFromSecret wraps 32 bytes derived elsewhere (e.g. PrivKey.DeriveSecret).
func SymKeyFromSecret(b []byte) (SymKey, error) { return UnmarshalSymKey(b) }

// Marshal returns the raw key. Handle with care.
func (k SymKey) Marshal() []byte {
	if !k.ok {
		return nil
	}
	return append([]byte(nil), k.k[:]...)
}

// IsZero reports whether k holds no key.
func (k SymKey) IsZero() bool { return !k.ok }

// ID returns the key id.
func (k SymKey) ID() KeyID {
	h := blake3.New()
	_, _ = h.Write([]byte("hearth/key-id/v1\x00"))
	_, _ = h.Write(k.k[:])
	return KeyID(encode(h.Sum(nil)[:KeyIDSize]))
}

// String is redacted: only the key id prints.
func (k SymKey) String() string {
	if !k.ok {
		return "SymKey(none)"
	}
	return "SymKey(" + string(k.ID()) + ", redacted)"
}

// GoString is redacted.
func (k SymKey) GoString() string { return k.String() }

// Format makes every fmt verb print the redacted form.
func (k SymKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// ObjectKey derives the per-object key: HKDF-SHA256(ikm = read key, info = label | object id).
func (k SymKey) ObjectKey(object ObjectID) SymKey {
	var out SymKey
	info := append([]byte(objectKeyLabel+"\x00"), object...)
	if _, err := io.ReadFull(hkdf.New(sha256.New, k.k[:], nil, info), out.k[:]); err != nil {
		panic("crypto: hkdf: " + err.Error())
	}
	out.ok = true
	return out
}

// AAD names what a ciphertext is bound to. Decrypting with a different space, object or
// key id fails.
type AAD struct {
	Space  SpaceID
	Object ObjectID
	Key    KeyID
}

// Bytes is the canonical encoding: "hearth/aad/v1\x00" then each field as a 4-byte
// big-endian length and its bytes.
func (a AAD) Bytes() []byte {
	b := []byte("hearth/aad/v1\x00")
	for _, s := range []string{string(a.Space), string(a.Object), string(a.Key)} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// Encrypt seals plaintext with XChaCha20-Poly1305 under k with a random nonce.
// Output: nonce(24) | ciphertext | tag(16).
func (k SymKey) Encrypt(aad AAD, plaintext []byte) ([]byte, error) {
	return k.EncryptWithRand(rand.Reader, aad, plaintext)
}

// EncryptWithRand is Encrypt with an explicit nonce source, for golden vectors only.
func (k SymKey) EncryptWithRand(r io.Reader, aad AAD, plaintext []byte) ([]byte, error) {
	if !k.ok {
		return nil, fmt.Errorf("%w: encrypt with no key", ErrInvalid)
	}
	a, err := chacha20poly1305.NewX(k.k[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, NonceSize, NonceSize+len(plaintext)+a.Overhead())
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, fmt.Errorf("crypto: nonce: %w", err)
	}
	return a.Seal(out, out[:NonceSize], plaintext, aad.Bytes()), nil
}

// Decrypt opens a ciphertext made by Encrypt with the same key and AAD.
func (k SymKey) Decrypt(aad AAD, ciphertext []byte) ([]byte, error) {
	if !k.ok {
		return nil, fmt.Errorf("%w: decrypt with no key", ErrInvalid)
	}
	if len(ciphertext) < EncryptOverhead {
		return nil, fmt.Errorf("%w: ciphertext too short", ErrInvalid)
	}
	a, err := chacha20poly1305.NewX(k.k[:])
	if err != nil {
		return nil, err
	}
	pt, err := a.Open(nil, ciphertext[:NonceSize], ciphertext[NonceSize:], aad.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext does not authenticate (wrong key, space, object or key id)", ErrInvalid)
	}
	return pt, nil
}
