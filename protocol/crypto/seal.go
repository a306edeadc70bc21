package crypto

import (
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"io"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// SealOverhead is the number of bytes Seal adds to a message.
const SealOverhead = box.AnonymousOverhead

// X25519Public converts an ed25519 public key to its X25519 (Montgomery) form.
func (p PubKey) X25519Public() ([32]byte, error) {
	var out [32]byte
	pt, err := new(edwards25519.Point).SetBytes(p[:])
	if err != nil {
		return out, fmt.Errorf("%w: public key is not a curve point", ErrInvalid)
	}
	copy(out[:], pt.BytesMontgomery())
	return out, nil
}

// x25519Private converts the ed25519 key to X25519: the clamped first half of SHA-512(seed).
func (k PrivKey) x25519Private() [32]byte {
	h := sha512.Sum512(k.k.Seed())
	var out [32]byte
	copy(out[:], h[:32])
	out[0] &= 248
	out[31] &= 127
	out[31] |= 64
	return out
}

// Seal encrypts msg to the holder of to's private key with an anonymous sealed box
// (ephemeral X25519 key, XSalsa20-Poly1305). The sender is not identified.
func Seal(to PubKey, msg []byte) ([]byte, error) { return SealWithRand(rand.Reader, to, msg) }

// SealWithRand is Seal with an explicit randomness source, for golden vectors only.
func SealWithRand(r io.Reader, to PubKey, msg []byte) ([]byte, error) {
	x, err := to.X25519Public()
	if err != nil {
		return nil, err
	}
	out, err := box.SealAnonymous(nil, msg, &x, r)
	if err != nil {
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	return out, nil
}

// Open decrypts a sealed box addressed to priv.
func Open(priv PrivKey, sealed []byte) ([]byte, error) {
	if priv.IsZero() {
		return nil, fmt.Errorf("%w: open with no key", ErrInvalid)
	}
	xpriv := priv.x25519Private()
	var xpub [32]byte
	pub, err := curve25519.X25519(xpriv[:], curve25519.Basepoint)
	if err != nil {
		return nil, fmt.Errorf("crypto: open: %w", err)
	}
	copy(xpub[:], pub)
	msg, ok := box.OpenAnonymous(nil, sealed, &xpub, &xpriv)
	if !ok {
		return nil, fmt.Errorf("%w: sealed box does not open with this key", ErrInvalid)
	}
	return msg, nil
}
