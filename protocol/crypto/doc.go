// Package crypto owns Hearth's keys, ids, signatures, sealing and content encryption.
// It is pure: no disk, no network, no clock, no goroutines, and it never logs or prints
// key material (PrivKey and SymKey format as a redacted string under every fmt verb).
//
// # API summary
//
// Mnemonic and account key:
//
//	NewMnemonic() (string, error)                       // 12 BIP-39 English words
//	ValidateMnemonic(m string) error                     // names a bad word; checksum errors
//	AccountKeyFromMnemonic(m string) (PrivKey, error)    // HKDF-SHA256(BIP-39 seed, "hearth/account-key/v1")
//
// Keys (ed25519):
//
//	GenerateKey() (PrivKey, error); GenerateKeyFrom(io.Reader) (PrivKey, error)
//	UnmarshalPrivKey(seed32 []byte) (PrivKey, error); PrivKey.Marshal() []byte (32-byte seed)
//	PrivKey.Public() PubKey; PrivKey.Sign(msg) []byte; PrivKey.DeriveSecret(label, n) []byte
//	PubKey is [32]byte (comparable); UnmarshalPubKey(b) (PubKey, error); PubKey.Bytes()
//	PubKey.Verify(msg, sig) bool; PubKey.Identity() Identity; ParseIdentity(s) (PubKey, error)
//
// Ids: one printable encoding for every id, lower-case RFC 4648 base32 without padding
// (safe as a directory name on case-insensitive filesystems). Hash ids are blake3-256 of
// exact bytes (52 characters); key ids are 16 bytes (26 characters). Distinct string types:
//
//	Identity (a public key), SpaceID, ObjectID, ChangeID, RecordID, ContentID, KeyID
//	Sum(b []byte) ContentID; ParseSpaceID / ParseObjectID / ParseChangeID / ParseRecordID /
//	ParseContentID / ParseKeyID(s) (T, error) — validate length, alphabet and canonical form.
//
// Device certificate (fixed binary format, account-signed):
//
//	NewDeviceCert(account PrivKey, device PubKey, issuedAt int64) ([]byte, error)
//	VerifyDeviceCert(raw []byte) (DeviceCert{Account, Device PubKey; IssuedAt int64}, error)
//	format: "hearth/device-cert/v1\x00" | account(32) | device(32) | issuedAt(8, BE) | sig(64)
//
// Sealing to a member (anonymous sealed boxes over X25519 derived from ed25519; the public
// key via filippo.io/edwards25519, the private key as the clamped SHA-512 of the seed):
//
//	Seal(to PubKey, msg) ([]byte, error); Open(priv PrivKey, box) ([]byte, error)
//
// Content encryption (XChaCha20-Poly1305; output nonce(24) | ciphertext | tag(16)):
//
//	NewSymKey() (SymKey, error); UnmarshalSymKey(b) (SymKey, error); SymKey.ID() KeyID
//	SymKey.ObjectKey(ObjectID) SymKey                   // HKDF-SHA256(read key, "hearth/object-key/v1\x00"|object id)
//	SymKey.Encrypt(AAD{Space, Object, Key}, pt) ([]byte, error); SymKey.Decrypt(aad, ct)
//
// The functions named ...WithRand / ...From take an explicit randomness source; they exist
// for golden vectors and deterministic tests only. Every decoder and parser returns an
// error wrapping ErrInvalid on bad input and never panics.
package crypto
