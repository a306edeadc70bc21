package crypto

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strings"

	"github.com/tyler-smith/go-bip39"
	"golang.org/x/crypto/hkdf"
)

// accountKeyLabel is the HKDF info that turns a BIP-39 seed into the account key seed.
// Changing it changes every account: it is pinned by a golden vector.
const accountKeyLabel = "hearth/account-key/v1"

// NewMnemonic returns a new random 12-word BIP-39 (English) mnemonic.
func NewMnemonic() (string, error) {
	ent, err := bip39.NewEntropy(128)
	if err != nil {
		return "", fmt.Errorf("crypto: mnemonic entropy: %w", err)
	}
	return bip39.NewMnemonic(ent)
}

// NormalizeMnemonic lower-cases and collapses whitespace.
func NormalizeMnemonic(m string) string { return strings.Join(strings.Fields(strings.ToLower(m)), " ") }

// ValidateMnemonic checks words and checksum, naming the first unknown word.
func ValidateMnemonic(m string) error {
	words := strings.Fields(NormalizeMnemonic(m))
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return fmt.Errorf("%w: mnemonic has %d words, want 12 (or 15, 18, 21, 24)", ErrInvalid, len(words))
	}
	for i, w := range words {
		if _, ok := bip39.GetWordIndex(w); !ok {
			return fmt.Errorf("%w: mnemonic word %d (%q) is not in the BIP-39 English list", ErrInvalid, i+1, w)
		}
	}
	if _, err := bip39.EntropyFromMnemonic(strings.Join(words, " ")); err != nil {
		return fmt.Errorf("%w: mnemonic checksum does not match (a word is wrong or out of order)", ErrInvalid)
	}
	return nil
}

// AccountKeyFromMnemonic validates the mnemonic and derives the account key:
// HKDF-SHA256(ikm = BIP-39 seed with empty passphrase, info = "hearth/account-key/v1")
// gives the 32-byte ed25519 seed. Same mnemonic, same key.
func AccountKeyFromMnemonic(mnemonic string) (PrivKey, error) {
	if err := ValidateMnemonic(mnemonic); err != nil {
		return PrivKey{}, err
	}
	seed := bip39.NewSeed(NormalizeMnemonic(mnemonic), "")
	out := make([]byte, PrivKeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, seed, nil, []byte(accountKeyLabel)), out); err != nil {
		return PrivKey{}, fmt.Errorf("crypto: derive account key: %w", err)
	}
	return UnmarshalPrivKey(out)
}

// DeriveSecret derives n bytes bound to k and label (HKDF-SHA256 over the key's seed).
// It is used for deterministic per-account values (e.g. the account space); distinct labels
// give independent outputs and reveal nothing about the key.
func (k PrivKey) DeriveSecret(label string, n int) []byte {
	if k.k == nil {
		panic("crypto: DeriveSecret with zero PrivKey")
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(hkdf.New(sha256.New, k.k.Seed(), nil, []byte(label)), out); err != nil {
		panic("crypto: hkdf: " + err.Error()) // only for absurd n
	}
	return out
}
