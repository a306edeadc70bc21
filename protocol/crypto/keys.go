package crypto

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
)

// Sizes of raw key and signature encodings.
const (
	PubKeySize    = ed25519.PublicKeySize // 32
	PrivKeySize   = ed25519.SeedSize      // 32: a private key is marshaled as its ed25519 seed
	SignatureSize = ed25519.SignatureSize // 64
)

// PubKey is an ed25519 public key. It is a comparable value and can be used as a map key.
type PubKey [PubKeySize]byte

// UnmarshalPubKey parses a raw 32-byte ed25519 public key.
func UnmarshalPubKey(b []byte) (PubKey, error) {
	var p PubKey
	if len(b) != PubKeySize {
		return p, fmt.Errorf("%w: public key is %d bytes, want %d", ErrInvalid, len(b), PubKeySize)
	}
	copy(p[:], b)
	return p, nil
}

// Bytes returns a copy of the raw key.
func (p PubKey) Bytes() []byte { return append([]byte(nil), p[:]...) }

// IsZero reports whether p is the zero value (no key).
func (p PubKey) IsZero() bool { return p == PubKey{} }

// Verify reports whether sig is p's valid signature of msg. It never panics.
func (p PubKey) Verify(msg, sig []byte) bool {
	if len(sig) != SignatureSize || p.IsZero() {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(p[:]), msg, sig)
}

// Identity returns the printable id of the key (account id, device id).
func (p PubKey) Identity() Identity { return Identity(encode(p[:])) }

// String returns the identity: public keys are not secret.
func (p PubKey) String() string { return string(p.Identity()) }

// PrivKey is an ed25519 private key. Its bytes never print through fmt: String, GoString
// and Format all return a redacted form that names only the public identity.
// The zero value is not a usable key.
type PrivKey struct {
	k ed25519.PrivateKey
}

// GenerateKey returns a new random ed25519 key (device keys).
func GenerateKey() (PrivKey, error) { return GenerateKeyFrom(rand.Reader) }

// GenerateKeyFrom reads a 32-byte seed from r. Use crypto/rand in production; a fixed
// reader makes deterministic keys for tests and golden vectors.
func GenerateKeyFrom(r io.Reader) (PrivKey, error) {
	seed := make([]byte, PrivKeySize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return PrivKey{}, fmt.Errorf("crypto: generate key: %w", err)
	}
	return UnmarshalPrivKey(seed)
}

// UnmarshalPrivKey parses a raw 32-byte ed25519 seed.
func UnmarshalPrivKey(seed []byte) (PrivKey, error) {
	if len(seed) != PrivKeySize {
		return PrivKey{}, fmt.Errorf("%w: private key is %d bytes, want %d", ErrInvalid, len(seed), PrivKeySize)
	}
	return PrivKey{k: ed25519.NewKeyFromSeed(seed)}, nil
}

// Marshal returns the raw 32-byte seed. Handle with care: this is the secret.
func (k PrivKey) Marshal() []byte {
	if k.k == nil {
		return nil
	}
	return append([]byte(nil), k.k.Seed()...)
}

// IsZero reports whether k holds no key.
func (k PrivKey) IsZero() bool { return k.k == nil }

// Public returns the public half.
func (k PrivKey) Public() PubKey {
	var p PubKey
	if k.k != nil {
		copy(p[:], k.k[32:])
	}
	return p
}

// Sign signs msg. Signing with the zero key panics (a programming error, not an input error).
func (k PrivKey) Sign(msg []byte) []byte {
	if k.k == nil {
		panic("crypto: Sign with zero PrivKey")
	}
	return ed25519.Sign(k.k, msg)
}

// String returns a redacted form naming only the public identity.
func (k PrivKey) String() string {
	if k.k == nil {
		return "PrivKey(none)"
	}
	return "PrivKey(" + string(k.Public().Identity()) + ", redacted)"
}

// GoString is like String, so %#v redacts too.
func (k PrivKey) GoString() string { return k.String() }

// Format makes every fmt verb print the redacted form.
func (k PrivKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }
