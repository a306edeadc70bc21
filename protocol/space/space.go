package space

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/signed"
)

// HeaderVersion is the only header version this code writes and accepts.
const HeaderVersion = 1

// SeedSize is the size of a header seed.
const SeedSize = 16

const (
	accountSeedLabel    = "hearth/account-space/seed/v1"
	accountReadKeyLabel = "hearth/account-space/read-key/v1"
)

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("space: invalid header")

// Header is a verified space header.
type Header struct {
	ID        crypto.SpaceID
	Type      syncpb.SpaceType
	Creator   crypto.PubKey
	Timestamp int64
	Seed      []byte
	Raw       []byte // the signed envelope, exact bytes (what to store and send)
}

// NewHeader builds and signs the header of a new regular space with a random seed.
func NewHeader(creator crypto.PrivKey, timestamp int64) (Header, error) {
	return NewHeaderWithRand(rand.Reader, creator, timestamp)
}

// NewHeaderWithRand is NewHeader with an explicit seed source (golden vectors).
func NewHeaderWithRand(r io.Reader, creator crypto.PrivKey, timestamp int64) (Header, error) {
	seed := make([]byte, SeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		return Header{}, fmt.Errorf("space: seed: %w", err)
	}
	return build(creator, syncpb.SpaceType_SPACE_TYPE_REGULAR, timestamp, seed)
}

// AccountSpace builds the deterministic account space header of an account.
func AccountSpace(account crypto.PrivKey) (Header, error) {
	return build(account, syncpb.SpaceType_SPACE_TYPE_ACCOUNT, 0, account.DeriveSecret(accountSeedLabel, SeedSize))
}

// AccountSpaceReadKey is the read key of the account space: every device of the account
// derives the same one.
func AccountSpaceReadKey(account crypto.PrivKey) crypto.SymKey {
	k, err := crypto.SymKeyFromSecret(account.DeriveSecret(accountReadKeyLabel, crypto.SymKeySize))
	if err != nil {
		panic(err) // sizes are constants
	}
	return k
}

func build(creator crypto.PrivKey, typ syncpb.SpaceType, ts int64, seed []byte) (Header, error) {
	h := &syncpb.SpaceHeader{Version: HeaderVersion, Type: typ, Creator: creator.Public().Bytes(), Timestamp: ts, Seed: seed}
	payload, err := h.Marshal()
	if err != nil {
		return Header{}, err
	}
	raw, err := signed.Sign(creator, signed.DomainSpaceHeader, payload)
	if err != nil {
		return Header{}, err
	}
	return Verify(raw)
}

// Verify checks a signed header envelope and recomputes its id.
func Verify(raw []byte) (Header, error) {
	env, err := signed.Verify(raw, signed.DomainSpaceHeader, protocol.MaxHeaderSize)
	if err != nil {
		return Header{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var h syncpb.SpaceHeader
	if err := h.Unmarshal(env.Payload); err != nil {
		return Header{}, fmt.Errorf("%w: decode: %v", ErrInvalid, err)
	}
	if h.Version != HeaderVersion {
		return Header{}, fmt.Errorf("%w: version %d, want %d", ErrInvalid, h.Version, HeaderVersion)
	}
	creator, err := crypto.UnmarshalPubKey(h.Creator)
	if err != nil {
		return Header{}, fmt.Errorf("%w: creator: %v", ErrInvalid, err)
	}
	if creator != env.Signer {
		return Header{}, fmt.Errorf("%w: signed by %s, creator is %s", ErrInvalid, env.Signer, creator)
	}
	if len(h.Seed) != SeedSize {
		return Header{}, fmt.Errorf("%w: seed is %d bytes, want %d", ErrInvalid, len(h.Seed), SeedSize)
	}
	if h.Type != syncpb.SpaceType_SPACE_TYPE_REGULAR && h.Type != syncpb.SpaceType_SPACE_TYPE_ACCOUNT {
		return Header{}, fmt.Errorf("%w: unknown space type %d", ErrInvalid, h.Type)
	}
	return Header{
		ID: crypto.SpaceID(env.ID), Type: h.Type, Creator: creator, Timestamp: h.Timestamp,
		Seed: h.Seed, Raw: raw,
	}, nil
}

// NewDeleteRequest builds the owner-signed request to delete (or, with cancel, to keep)
// a space: the bytes of a syncpb.SpaceDelete.Request.
func NewDeleteRequest(owner crypto.PrivKey, id crypto.SpaceID, timestamp int64, cancel bool) ([]byte, error) {
	p, err := (&syncpb.SpaceDeleteRequest{SpaceId: string(id), Author: owner.Public().Bytes(), Timestamp: timestamp, Cancel: cancel}).Marshal()
	if err != nil {
		return nil, err
	}
	return signed.Sign(owner, signed.DomainSpaceDelete, p)
}

// DeleteRequest is a verified delete request. Whether the author is the owner is the
// caller's check against the ACL.
type DeleteRequest struct {
	Space     crypto.SpaceID
	Author    crypto.PubKey
	Timestamp int64
	Cancel    bool
}

// VerifyDeleteRequest checks the signature and decodes the request.
func VerifyDeleteRequest(raw []byte) (DeleteRequest, error) {
	env, err := signed.Verify(raw, signed.DomainSpaceDelete, protocol.MaxHeaderSize)
	if err != nil {
		return DeleteRequest{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var r syncpb.SpaceDeleteRequest
	if err := r.Unmarshal(env.Payload); err != nil {
		return DeleteRequest{}, fmt.Errorf("%w: decode delete request: %v", ErrInvalid, err)
	}
	author, err := crypto.UnmarshalPubKey(r.Author)
	if err != nil || author != env.Signer {
		return DeleteRequest{}, fmt.Errorf("%w: delete request author does not match signer", ErrInvalid)
	}
	id, err := crypto.ParseSpaceID(r.SpaceId)
	if err != nil {
		return DeleteRequest{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return DeleteRequest{Space: id, Author: author, Timestamp: r.Timestamp, Cancel: r.Cancel}, nil
}
