// Package space owns space headers and space ids, and the deterministic account space.
// It is pure: no I/O, no clock (timestamps are inputs), no goroutines.
//
// A space header (syncpb.SpaceHeader: version, type, creator, timestamp, seed) is signed
// by its creator in a syncpb.Signed envelope under the "space-header" domain. The space id
// is the content id (blake3, lower-case base32) of the exact header payload bytes, so it
// commits to the creator and the seed; receivers always recompute it with Verify.
//
// The account space of an account is derived from the account key alone: type ACCOUNT,
// timestamp 0 and a seed HKDF'd from the private key (so the id cannot be guessed from the
// public identity). ed25519 signatures are deterministic, so every device holding the
// account key builds byte-identical header bytes and finds the same id. Its read key is
// derived from the account key too (AccountSpaceReadKey).
package space
