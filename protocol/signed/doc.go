// Package signed owns the Signed envelope of pb/syncpb: signing a payload under a domain
// and verifying raw envelope bytes. It never re-marshals a payload to verify it: the
// signature and the content id are over the exact payload bytes carried.
//
// The signature is ed25519 over "hearth/" | domain | "/v1\x00" | payload, so a signature
// made for one kind of payload (a change) can never be replayed as another (an ACL record).
// The content id of a signed thing is crypto.Sum(payload). Pure code: no I/O, no clock,
// no goroutines; Verify returns errors wrapping ErrInvalid and never panics.
package signed
