package signed

import (
	"errors"
	"fmt"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Domains of the signed payload kinds.
const (
	DomainSpaceHeader = "space-header"
	DomainAclRecord   = "acl-record"
	DomainAclAccepted = "acl-accepted"
	DomainChange      = "change"
	DomainSpaceDelete = "space-delete"
	DomainJoinInvite  = "join-invite"
)

// ErrInvalid is wrapped by every error of this package.
var ErrInvalid = errors.New("signed: invalid envelope")

// Message returns the bytes actually signed for a payload of the given domain.
func Message(domain string, payload []byte) []byte {
	m := make([]byte, 0, len(domain)+12+len(payload))
	m = append(m, "hearth/"...)
	m = append(m, domain...)
	m = append(m, "/v1\x00"...)
	return append(m, payload...)
}

// Sign wraps payload in an envelope signed by key and returns the envelope bytes.
func Sign(key crypto.PrivKey, domain string, payload []byte) ([]byte, error) {
	env := &syncpb.Signed{
		Payload:   payload,
		Signer:    key.Public().Bytes(),
		Signature: key.Sign(Message(domain, payload)),
	}
	return env.Marshal()
}

// Envelope is a verified envelope.
type Envelope struct {
	Payload []byte
	Signer  crypto.PubKey
	ID      crypto.ContentID // crypto.Sum(Payload)
}

// Verify decodes raw (at most maxSize bytes), checks the signature under domain and
// returns the payload, signer and content id.
func Verify(raw []byte, domain string, maxSize int) (Envelope, error) {
	return decode(raw, domain, maxSize, true)
}

// DecodeTrusted decodes raw like Verify but does not check the signature:
// only for bytes this device verified when they arrived (or signed itself)
// and read back from its own store. Everything received goes through Verify.
func DecodeTrusted(raw []byte, domain string, maxSize int) (Envelope, error) {
	return decode(raw, domain, maxSize, false)
}

func decode(raw []byte, domain string, maxSize int, verify bool) (Envelope, error) {
	if len(raw) > maxSize {
		return Envelope{}, fmt.Errorf("%w: %s envelope is %d bytes, limit %d", ErrInvalid, domain, len(raw), maxSize)
	}
	var env syncpb.Signed
	if err := env.Unmarshal(raw); err != nil {
		return Envelope{}, fmt.Errorf("%w: %s: %v", ErrInvalid, domain, err)
	}
	signer, err := crypto.UnmarshalPubKey(env.Signer)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: %s signer: %v", ErrInvalid, domain, err)
	}
	if verify && !signer.Verify(Message(domain, env.Payload), env.Signature) {
		return Envelope{}, fmt.Errorf("%w: %s signature does not verify", ErrInvalid, domain)
	}
	return Envelope{Payload: env.Payload, Signer: signer, ID: crypto.Sum(env.Payload)}, nil
}
