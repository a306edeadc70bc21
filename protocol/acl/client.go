package acl

import (
	"crypto/rand"
	"fmt"
	"io"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/signed"
)

// Builder makes author-signed records for the client side. It needs the author's private
// key, so it lives outside the fold. Every method builds on the given state's head (prev)
// and returns the author's Signed envelope bytes, ready for AclAdd. Rand is the source for
// sealing randomness; nil means crypto/rand (a fixed reader only for golden vectors). Name
// is the author's display name, carried in the records that introduce the author to
// others (Invite, JoinRequest); empty carries none.
type Builder struct {
	Author crypto.PrivKey
	Rand   io.Reader
	Name   string
}

func (b Builder) rand() io.Reader {
	if b.Rand == nil {
		return rand.Reader
	}
	return b.Rand
}

func (b Builder) sign(space crypto.SpaceID, prev crypto.RecordID, ts int64, body *syncpb.AclRecord) ([]byte, error) {
	body.SpaceId = string(space)
	body.Prev = string(prev)
	body.Author = b.Author.Public().Bytes()
	body.Timestamp = ts
	p, err := body.Marshal()
	if err != nil {
		return nil, err
	}
	return signed.Sign(b.Author, signed.DomainAclRecord, p)
}

func (b Builder) seal(to crypto.PubKey, k crypto.SymKey) ([]byte, error) {
	return crypto.SealWithRand(b.rand(), to, k.Marshal())
}

// Root makes the first record of a space: the author (the space creator) becomes owner and
// readKey the first read key.
func (b Builder) Root(space crypto.SpaceID, readKey crypto.SymKey, ts int64) ([]byte, error) {
	sealed, err := b.seal(b.Author.Public(), readKey)
	if err != nil {
		return nil, err
	}
	return b.sign(space, "", ts, &syncpb.AclRecord{Op: &syncpb.AclRecord_Root{Root: &syncpb.AclRoot{KeyId: string(readKey.ID()), SealedReadKey: sealed}}})
}

// Invite makes an invite for inviteKey (whose private half goes into the invite link).
// Without approval, the current read key (readKey) is sealed to the invite key.
func (b Builder) Invite(s State, inviteKey crypto.PubKey, role Role, requiresApproval bool, readKey crypto.SymKey, ts int64) ([]byte, error) {
	if err := checkName(b.Name); err != nil {
		return nil, err
	}
	in := &syncpb.AclInvite{InviteKey: inviteKey.Bytes(), Role: role.pb(), RequiresApproval: requiresApproval, AuthorName: b.Name}
	if !requiresApproval {
		sealed, err := b.seal(inviteKey, readKey)
		if err != nil {
			return nil, err
		}
		in.SealedReadKey, in.KeyId = sealed, string(readKey.ID())
	}
	return b.sign(s.space, s.head, ts, &syncpb.AclRecord{Op: &syncpb.AclRecord_Invite{Invite: in}})
}

// JoinRequest makes the joiner's (the builder author's) request through an invite, signed
// with the invite's private key too.
func (b Builder) JoinRequest(s State, invite crypto.RecordID, inviteKey crypto.PrivKey, ts int64) ([]byte, error) {
	if err := checkName(b.Name); err != nil {
		return nil, err
	}
	sig := inviteKey.Sign(JoinInviteMessage(s.space, invite, b.Author.Public()))
	return b.sign(s.space, s.head, ts, &syncpb.AclRecord{Op: &syncpb.AclRecord_JoinRequest{JoinRequest: &syncpb.AclJoinRequest{InviteId: string(invite), InviteSignature: sig, Name: b.Name}}})
}

// JoinAccept accepts a pending request and seals the current read key to the joiner.
func (b Builder) JoinAccept(s State, request crypto.RecordID, role Role, readKey crypto.SymKey, ts int64) ([]byte, error) {
	req, ok := s.requests[request]
	if !ok {
		return nil, fmt.Errorf("%w: no pending request %s", ErrInvalid, request)
	}
	sealed, err := b.seal(req.Joiner, readKey)
	if err != nil {
		return nil, err
	}
	return b.sign(s.space, s.head, ts, &syncpb.AclRecord{Op: &syncpb.AclRecord_JoinAccept{JoinAccept: &syncpb.AclJoinAccept{RequestId: string(request), Role: role.pb(), SealedReadKey: sealed, KeyId: string(readKey.ID())}}})
}

// JoinDecline declines a pending request.
func (b Builder) JoinDecline(s State, request crypto.RecordID, ts int64) ([]byte, error) {
	return b.sign(s.space, s.head, ts, &syncpb.AclRecord{Op: &syncpb.AclRecord_JoinDecline{JoinDecline: &syncpb.AclJoinDecline{RequestId: string(request)}}})
}

// Remove removes members, closes every open invite (the removed members may know any
// link) and rotates the read key from prevKey (the current key) to newKey, sealed to
// exactly the remaining members. Admins make new links for whoever should still join.
func (b Builder) Remove(s State, who []crypto.PubKey, prevKey, newKey crypto.SymKey, ts int64) ([]byte, error) {
	return b.remove(s, who, prevKey, newKey, ts, true)
}

// remove builds a Remove; closeAll=false is the form made before
// closes_invites (only the removed members' own invites close), which tests
// build to check that stored chains still fold.
func (b Builder) remove(s State, who []crypto.PubKey, prevKey, newKey crypto.SymKey, ts int64, closeAll bool) ([]byte, error) {
	gone := map[crypto.PubKey]bool{}
	closed := map[crypto.RecordID]bool{}
	ids := make([][]byte, 0, len(who))
	for _, w := range who {
		gone[w] = true
		ids = append(ids, w.Bytes())
		closed[s.members[w].JoinedVia] = true
	}
	if closeAll {
		for id := range s.invites {
			closed[id] = true
		}
	}
	rot, err := b.rotation(s, gone, closed, prevKey, newKey)
	if err != nil {
		return nil, err
	}
	return b.sign(s.space, s.head, ts, &syncpb.AclRecord{Op: &syncpb.AclRecord_Remove{Remove: &syncpb.AclRemove{Identities: ids, Rotation: rot, ClosesInvites: closeAll}}})
}

// RotateKey rotates the read key without membership changes.
func (b Builder) RotateKey(s State, prevKey, newKey crypto.SymKey, ts int64) ([]byte, error) {
	rot, err := b.rotation(s, nil, nil, prevKey, newKey)
	if err != nil {
		return nil, err
	}
	return b.sign(s.space, s.head, ts, &syncpb.AclRecord{Op: &syncpb.AclRecord_RotateKey{RotateKey: &syncpb.AclRotateKey{Rotation: rot}}})
}

func (b Builder) rotation(s State, gone map[crypto.PubKey]bool, closed map[crypto.RecordID]bool, prevKey, newKey crypto.SymKey) (*syncpb.AclKeyRotation, error) {
	if prevKey.ID() != s.ReadKeyID() {
		return nil, fmt.Errorf("%w: previous key %s is not the current read key %s", ErrInvalid, prevKey.ID(), s.ReadKeyID())
	}
	enc, err := newKey.EncryptWithRand(b.rand(), keyChainAAD(s.space, prevKey.ID(), newKey.ID()), prevKey.Marshal())
	if err != nil {
		return nil, err
	}
	rot := &syncpb.AclKeyRotation{KeyId: string(newKey.ID()), EncryptedPrevKey: enc}
	for _, m := range s.Members() {
		if gone[m.Key] {
			continue
		}
		sealed, err := b.seal(m.Key, newKey)
		if err != nil {
			return nil, err
		}
		rot.Members = append(rot.Members, &syncpb.SealedKey{Recipient: m.Key.Bytes(), Sealed: sealed})
	}
	for _, inv := range s.Invites() {
		if inv.RequiresApproval || closed[inv.ID] {
			continue
		}
		sealed, err := b.seal(inv.Key, newKey)
		if err != nil {
			return nil, err
		}
		rot.Invites = append(rot.Invites, &syncpb.InviteSealedKey{InviteId: string(inv.ID), Sealed: sealed})
	}
	return rot, nil
}

// Leave makes the author leave the space.
func (b Builder) Leave(s State, ts int64) ([]byte, error) {
	return b.sign(s.space, s.head, ts, &syncpb.AclRecord{Op: &syncpb.AclRecord_Leave{Leave: &syncpb.AclLeave{}}})
}

// SetRole changes a member's role.
func (b Builder) SetRole(s State, who crypto.PubKey, role Role, ts int64) ([]byte, error) {
	return b.sign(s.space, s.head, ts, &syncpb.AclRecord{Op: &syncpb.AclRecord_SetRole{SetRole: &syncpb.AclSetRole{Identity: who.Bytes(), Role: role.pb()}}})
}

// InviteRevoke closes an invite (and drops its pending requests).
func (b Builder) InviteRevoke(s State, invite crypto.RecordID, ts int64) ([]byte, error) {
	return b.sign(s.space, s.head, ts, &syncpb.AclRecord{Op: &syncpb.AclRecord_InviteRevoke{InviteRevoke: &syncpb.AclInviteRevoke{InviteId: string(invite)}}})
}

// ReadKeys decrypts every read key the holder of keys is entitled to: it opens the newest
// grant addressed to one of keys (a member key, or the private key of a no-approval invite
// it joined through) and walks the chain back, each key decrypting the previous one.
// Keys introduced after the holder's last grant (e.g. after its removal) stay unknown.
func ReadKeys(s State, keys ...crypto.PrivKey) (map[crypto.KeyID]crypto.SymKey, error) {
	byPub := map[crypto.PubKey]crypto.PrivKey{}
	for _, k := range keys {
		byPub[k.Public()] = k
	}
	inviteKeys := map[crypto.RecordID]crypto.PrivKey{}
	for id, inv := range s.allInviteKeys() {
		if k, ok := byPub[inv]; ok {
			inviteKeys[id] = k
		}
	}
	for i := len(s.epochs) - 1; i >= 0; i-- {
		e := s.epochs[i]
		var sealed []byte
		var with crypto.PrivKey
		for pub, k := range byPub {
			if g, ok := e.memberGrants[pub]; ok {
				sealed, with = g, k
				break
			}
		}
		if sealed == nil {
			for id, k := range inviteKeys {
				if g, ok := e.inviteGrants[id]; ok {
					sealed, with = g, k
					break
				}
			}
		}
		if sealed == nil {
			continue
		}
		raw, err := crypto.Open(with, sealed)
		if err != nil {
			return nil, fmt.Errorf("acl: open read key %s: %w", e.id, err)
		}
		k, err := crypto.UnmarshalSymKey(raw)
		if err != nil || k.ID() != e.id {
			return nil, fmt.Errorf("%w: sealed read key does not match key id %s", ErrInvalid, e.id)
		}
		return s.walkBack(i, k)
	}
	return nil, fmt.Errorf("%w: no read key is sealed to these keys", ErrPermission)
}

func (s State) walkBack(i int, k crypto.SymKey) (map[crypto.KeyID]crypto.SymKey, error) {
	out := map[crypto.KeyID]crypto.SymKey{k.ID(): k}
	for ; i > 0; i-- {
		e, prev := s.epochs[i], s.epochs[i-1]
		raw, err := k.Decrypt(keyChainAAD(s.space, prev.id, e.id), e.encPrev)
		if err != nil {
			return nil, fmt.Errorf("acl: decrypt key chain at %s: %w", e.id, err)
		}
		if k, err = crypto.UnmarshalSymKey(raw); err != nil || k.ID() != prev.id {
			return nil, fmt.Errorf("%w: key chain broken at %s", ErrInvalid, prev.id)
		}
		out[k.ID()] = k
	}
	return out, nil
}

// allInviteKeys maps every invite that ever had a grant in the chain to its key. Closed
// invites are kept in the epochs' grants, so this looks at open invites and grants alike.
func (s State) allInviteKeys() map[crypto.RecordID]crypto.PubKey {
	out := map[crypto.RecordID]crypto.PubKey{}
	for id, inv := range s.invites {
		out[id] = inv.Key
	}
	for id, k := range s.closedInviteKeys {
		out[id] = k
	}
	return out
}
