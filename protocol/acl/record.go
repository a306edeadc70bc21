package acl

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/signed"
)

// Errors. Every error returned by Verify and Apply wraps exactly one of them, so callers
// (the node's acceptor, the client's ACL store) can map them with errors.Is.
var (
	ErrInvalid    = errors.New("acl: invalid record")               // malformed, bad signature, wrong space
	ErrConflict   = errors.New("acl: prev is not the current head") // node answers Conflict
	ErrReplay     = errors.New("acl: record already applied")
	ErrPermission = errors.New("acl: not permitted")
	ErrSequence   = errors.New("acl: wrong acceptor sequence number")
)

// Role is a member's role. RoleNone means "not a member".
type Role int8

// Roles, ordered by power.
const (
	RoleNone   Role = Role(syncpb.AclRole_ACL_ROLE_NONE)
	RoleReader Role = Role(syncpb.AclRole_ACL_ROLE_READER)
	RoleWriter Role = Role(syncpb.AclRole_ACL_ROLE_WRITER)
	RoleAdmin  Role = Role(syncpb.AclRole_ACL_ROLE_ADMIN)
	RoleOwner  Role = Role(syncpb.AclRole_ACL_ROLE_OWNER)
)

func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleReader:
		return "reader"
	case RoleWriter:
		return "writer"
	case RoleAdmin:
		return "admin"
	case RoleOwner:
		return "owner"
	}
	return fmt.Sprintf("role(%d)", int8(r))
}

// CanRead reports whether r is a member's role.
func (r Role) CanRead() bool { return r >= RoleReader && r <= RoleOwner }

// CanWrite reports whether r may write objects.
func (r Role) CanWrite() bool { return r >= RoleWriter && r <= RoleOwner }

// CanAdmin reports whether r may manage members and invites.
func (r Role) CanAdmin() bool { return r >= RoleAdmin && r <= RoleOwner }

func (r Role) pb() syncpb.AclRole { return syncpb.AclRole(r) }

// Record is an author-signed ACL record that passed signature and shape checks.
type Record struct {
	ID        crypto.RecordID // content id of the author's payload bytes
	Space     crypto.SpaceID
	Prev      crypto.RecordID // "" for the root
	Author    crypto.PubKey
	Timestamp int64
	Body      *syncpb.AclRecord // decoded payload; treat as read-only
	Raw       []byte            // the author's Signed envelope, exact bytes
}

// VerifiedRecord is a Record with the acceptor's sequence number and countersignature
// checked. It is the only input State.Apply takes.
type VerifiedRecord struct {
	Record
	Seq      uint64
	Accepted []byte // the node-signed Signed envelope of syncpb.AclAccepted (store and send this)
}

// VerifyAuthor checks an author-signed record envelope (the node does this before
// accepting; Verify does it for accepted records).
func VerifyAuthor(raw []byte) (Record, error) {
	env, err := signed.Verify(raw, signed.DomainAclRecord, protocol.MaxAclRecordSize)
	if err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	body := new(syncpb.AclRecord)
	if err := body.Unmarshal(env.Payload); err != nil {
		return Record{}, fmt.Errorf("%w: decode: %v", ErrInvalid, err)
	}
	author, err := crypto.UnmarshalPubKey(body.Author)
	if err != nil || author != env.Signer {
		return Record{}, fmt.Errorf("%w: author does not match signer", ErrInvalid)
	}
	space, err := crypto.ParseSpaceID(body.SpaceId)
	if err != nil {
		return Record{}, fmt.Errorf("%w: space id: %v", ErrInvalid, err)
	}
	var prev crypto.RecordID
	if body.Prev != "" {
		if prev, err = crypto.ParseRecordID(body.Prev); err != nil {
			return Record{}, fmt.Errorf("%w: prev: %v", ErrInvalid, err)
		}
	}
	if body.Op == nil {
		return Record{}, fmt.Errorf("%w: record has no operation", ErrInvalid)
	}
	return Record{
		ID: crypto.RecordID(env.ID), Space: space, Prev: prev, Author: author,
		Timestamp: body.Timestamp, Body: body, Raw: raw,
	}, nil
}

// Countersign is the acceptor's step: it wraps the author's record with seq and signs it
// with the node key. The node calls State.Apply on the result before storing it.
func Countersign(node crypto.PrivKey, rec Record, seq uint64) (VerifiedRecord, error) {
	p, err := (&syncpb.AclAccepted{Record: rec.Raw, Seq: seq, SpaceId: string(rec.Space)}).Marshal()
	if err != nil {
		return VerifiedRecord{}, err
	}
	raw, err := signed.Sign(node, signed.DomainAclAccepted, p)
	if err != nil {
		return VerifiedRecord{}, err
	}
	return VerifiedRecord{Record: rec, Seq: seq, Accepted: raw}, nil
}

// Verify checks an accepted record: the node's countersignature under nodeKey (pinned by
// the client) and the author's signature. It does not check the record against a state;
// State.Apply does.
func Verify(raw []byte, nodeKey crypto.PubKey) (VerifiedRecord, error) {
	env, err := signed.Verify(raw, signed.DomainAclAccepted, protocol.MaxAclRecordSize+1024)
	if err != nil {
		return VerifiedRecord{}, fmt.Errorf("%w: countersignature: %v", ErrInvalid, err)
	}
	if env.Signer != nodeKey {
		return VerifiedRecord{}, fmt.Errorf("%w: countersigned by %s, not the node %s", ErrInvalid, env.Signer, nodeKey)
	}
	var acc syncpb.AclAccepted
	if err := acc.Unmarshal(env.Payload); err != nil {
		return VerifiedRecord{}, fmt.Errorf("%w: decode accepted: %v", ErrInvalid, err)
	}
	rec, err := VerifyAuthor(acc.Record)
	if err != nil {
		return VerifiedRecord{}, err
	}
	if string(rec.Space) != acc.SpaceId {
		return VerifiedRecord{}, fmt.Errorf("%w: countersigned for another space", ErrInvalid)
	}
	if acc.Seq == 0 {
		return VerifiedRecord{}, fmt.Errorf("%w: sequence 0", ErrSequence)
	}
	return VerifiedRecord{Record: rec, Seq: acc.Seq, Accepted: raw}, nil
}

// JoinInviteMessage is what the invite key signs in a JoinRequest: it binds the space,
// the invite and the joiner, so the signature cannot be reused by anyone else.
func JoinInviteMessage(space crypto.SpaceID, invite crypto.RecordID, joiner crypto.PubKey) []byte {
	var b []byte
	for _, s := range []string{string(space), string(invite)} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = append(b, joiner[:]...)
	return signed.Message(signed.DomainJoinInvite, b)
}

// keyChainAAD binds an encrypted previous read key to its space and both key ids.
func keyChainAAD(space crypto.SpaceID, prev, next crypto.KeyID) crypto.AAD {
	return crypto.AAD{Space: space, Object: crypto.ObjectID("acl-key-chain/" + string(prev)), Key: next}
}
