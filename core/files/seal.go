package files

import (
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"io"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// sealMagic starts every sealed blob.
const sealMagic = "HFS1"

// SealOverhead is what sealing adds to a plaintext.
const SealOverhead = len(sealMagic) + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// Sealer seals and opens one space's remote blobs under one read key (see
// the package doc for the nonce construction).
type Sealer struct {
	aead  cipher.AEAD
	nonce []byte // the keyed-blake3 key that derives nonces
	keyID crypto.KeyID
}

// NewSealer derives the file keys from a space read key.
func NewSealer(readKey crypto.SymKey) (*Sealer, error) {
	if readKey.IsZero() {
		return nil, errkind.Errorf("files.seal", errkind.Invalid, "no read key")
	}
	ikm := readKey.Marshal()
	encKey := make([]byte, chacha20poly1305.KeySize)
	nonceKey := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, ikm, nil, []byte("hearth/files/v1/enc")), encKey); err != nil {
		return nil, errkind.E("files.seal", errkind.Other, err)
	}
	if _, err := io.ReadFull(hkdf.New(sha256.New, ikm, nil, []byte("hearth/files/v1/nonce")), nonceKey); err != nil {
		return nil, errkind.E("files.seal", errkind.Other, err)
	}
	aead, err := chacha20poly1305.NewX(encKey)
	if err != nil {
		return nil, errkind.E("files.seal", errkind.Other, err)
	}
	return &Sealer{aead: aead, nonce: nonceKey, keyID: readKey.ID()}, nil
}

// KeyID names the read key the sealer uses.
func (s *Sealer) KeyID() crypto.KeyID { return s.keyID }

func (s *Sealer) nonceFor(ad, plain []byte) []byte {
	h, err := blake3.NewKeyed(s.nonce)
	if err != nil {
		panic("files: blake3 keyed hash: " + err.Error()) // the key is always 32 bytes
	}
	_, _ = h.Write(ad)
	_, _ = h.Write(plain)
	return h.Sum(nil)[:chacha20poly1305.NonceSizeX]
}

// Seal encrypts a plaintext of file fileID: "HFS1" | nonce | ciphertext.
func (s *Sealer) Seal(fileID string, plain []byte) []byte {
	ad := fileAD(fileID)
	nonce := s.nonceFor(ad, plain)
	out := make([]byte, 0, len(plain)+SealOverhead)
	out = append(append(out, sealMagic...), nonce...)
	return s.aead.Seal(out, nonce, plain, ad)
}

// Open decrypts a sealed blob of file fileID and checks that its nonce is
// the one its plaintext derives (so a blob cannot be replayed under another
// id). Every failure is Corrupt.
func (s *Sealer) Open(fileID string, sealed []byte) ([]byte, error) {
	if len(sealed) < SealOverhead || !bytes.HasPrefix(sealed, []byte(sealMagic)) {
		return nil, errkind.Errorf("files.open", errkind.Corrupt, "not a sealed file blob")
	}
	ad := fileAD(fileID)
	nonce := sealed[len(sealMagic) : len(sealMagic)+chacha20poly1305.NonceSizeX]
	plain, err := s.aead.Open(nil, nonce, sealed[len(sealMagic)+len(nonce):], ad)
	if err != nil {
		return nil, errkind.Errorf("files.open", errkind.Corrupt, "sealed blob does not open with key %s: %v", s.keyID, err)
	}
	if !bytes.Equal(s.nonceFor(ad, plain), nonce) {
		return nil, errkind.Errorf("files.open", errkind.Corrupt, "sealed blob's nonce does not match its content")
	}
	return plain, nil
}

// fileAD is the associated data binding a sealed blob to its file.
func fileAD(fileID string) []byte {
	raw, err := hex.DecodeString(fileID)
	if err != nil {
		return []byte(fileID)
	}
	return raw
}

// Unit is what the node stores of one file for one space: the sealed remote
// manifest and sealed chunks, under one read key.
type Unit struct {
	FileID string
	KeyID  crypto.KeyID
}

// RemoteLayout computes a file's remote chunk ids and its sealed remote
// manifest from the local chunks (read through get).
func (s *Sealer) RemoteLayout(fileID string, m Manifest, get func(id string) ([]byte, error)) (Manifest, []byte, error) {
	out := Manifest{Chunks: make([]Chunk, len(m.Chunks))}
	for i, c := range m.Chunks {
		data, err := get(c.ID)
		if err != nil {
			return Manifest{}, nil, err
		}
		out.Chunks[i] = Chunk{ID: c.ID, Size: c.Size, Remote: BlobID(s.Seal(fileID, data))}
	}
	return out, s.Seal(fileID, encodeRemote(fileID, out)), nil
}
