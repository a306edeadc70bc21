package membership

import (
	"context"
	"fmt"
	"time"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	protospace "github.com/hearth-sync/hearth/protocol/space"
)

// Node is the sync node as membership uses it (core/syncclient's client
// has these methods).
type Node interface {
	AclAdd(ctx context.Context, req *syncpb.AclAdd) (*syncpb.AclAddResponse, error)
	AclLog(ctx context.Context, req *syncpb.AclLogRequest) (*syncpb.AclLogResponse, error)
	InviteLookup(ctx context.Context, req *syncpb.InviteLookupRequest) (*syncpb.SpacePullResponse, error)
	SpaceDelete(ctx context.Context, req *syncpb.SpaceDelete) (*syncpb.SpaceStatus, error)
}

// Service runs membership operations for one account.
type Service struct {
	Account crypto.PrivKey
	Spaces  *space.Service
	// Node returns the current node connection, or nil while offline.
	Node    func() Node
	NodeKey space.NodeKey
	Now     func() time.Time
}

// maxConflictRetries bounds how often an operation rebuilds after the ACL
// moved under it.
const maxConflictRetries = 5

func (s *Service) node(op string) (Node, error) {
	if s.Node != nil {
		if n := s.Node(); n != nil {
			return n, nil
		}
	}
	return nil, errkind.Errorf(op, errkind.Transient, "the sync node is not reachable: this needs it")
}

func (s *Service) now() int64 {
	if s.Now == nil {
		return time.Now().UnixMilli()
	}
	return s.Now().UnixMilli()
}

// add has the node accept a record built on the space's current ACL state
// and applies the result; on a conflict it catches up and rebuilds.
func (s *Service) add(ctx context.Context, op string, sp *space.Space, build func(acl.State) ([]byte, error)) (acl.VerifiedRecord, error) {
	n, err := s.node(op)
	if err != nil {
		return acl.VerifiedRecord{}, err
	}
	for range maxConflictRetries {
		st, err := sp.AclState(ctx)
		if err != nil {
			return acl.VerifiedRecord{}, err
		}
		raw, err := build(st)
		if err != nil {
			return acl.VerifiedRecord{}, errkind.E(op, errkind.Permission, err)
		}
		// Check locally first: the node would refuse it with the same rules.
		if rec, err := acl.VerifyAuthor(raw); err != nil {
			return acl.VerifiedRecord{}, errkind.E(op, errkind.Invalid, err)
		} else if err := s.dryRun(st, rec); err != nil {
			return acl.VerifiedRecord{}, errkind.E(op, errkind.Permission, err)
		}
		resp, err := n.AclAdd(ctx, &syncpb.AclAdd{SpaceId: string(sp.ID()), Record: raw})
		if err != nil {
			return acl.VerifiedRecord{}, errkind.E(op, errkind.Transient, err)
		}
		switch resp.Status {
		case syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED:
			if _, err := sp.ApplyAcl(ctx, [][]byte{resp.Accepted}); err != nil {
				return acl.VerifiedRecord{}, err
			}
			key, _ := s.NodeKey()
			return acl.Verify(resp.Accepted, key)
		case syncpb.AclAddStatus_ACL_ADD_STATUS_CONFLICT:
			log, err := n.AclLog(ctx, &syncpb.AclLogRequest{SpaceId: string(sp.ID()), AfterSeq: st.Seq()})
			if err != nil {
				return acl.VerifiedRecord{}, errkind.E(op, errkind.Transient, err)
			}
			if _, err := sp.ApplyAcl(ctx, log.Records); err != nil {
				return acl.VerifiedRecord{}, err
			}
			continue
		default:
			return acl.VerifiedRecord{}, errkind.Errorf(op, errkind.Permission, "the node refused: %s", resp.Reason)
		}
	}
	return acl.VerifiedRecord{}, errkind.Errorf(op, errkind.Transient, "the space's ACL kept changing: try again")
}

// dryRun applies rec to st as the node would (with a throwaway acceptor), to
// report a refusal without a round trip.
func (s *Service) dryRun(st acl.State, rec acl.Record) error {
	tmp, err := crypto.GenerateKey()
	if err != nil {
		return err
	}
	vr, err := acl.Countersign(tmp, rec, st.Seq()+1)
	if err != nil {
		return err
	}
	_, err = st.Apply(vr)
	return err
}

// CreateInvite makes an invite and returns its link. With approval, a joiner
// waits for an admin; without, the read key is sealed to the invite key.
func (s *Service) CreateInvite(ctx context.Context, id crypto.SpaceID, role acl.Role, requiresApproval bool) (string, error) {
	const op = "space.invite"
	if role != acl.RoleReader && role != acl.RoleWriter {
		return "", errkind.Errorf(op, errkind.Invalid, "an invite grants writer or reader, not %s", role)
	}
	sp, err := s.Spaces.Get(ctx, id)
	if err != nil {
		return "", err
	}
	readKey, err := sp.ReadKey(ctx)
	if err != nil {
		return "", err
	}
	inviteKey, err := crypto.GenerateKey()
	if err != nil {
		return "", errkind.E(op, errkind.Other, err)
	}
	rec, err := s.add(ctx, op, sp, func(st acl.State) ([]byte, error) {
		return acl.Builder{Author: s.Account}.Invite(st, inviteKey.Public(), role, requiresApproval, readKey, s.now())
	})
	if err != nil {
		return "", err
	}
	info, err := s.Spaces.Info(id)
	if err != nil {
		return "", err
	}
	return Invite{Space: id, Invite: rec.ID, Name: info.Name, Key: inviteKey}.Link(), nil
}

// Join joins a space through an invite link. It returns the space's account
// status: Active when no approval is needed, Joining while it waits.
func (s *Service) Join(ctx context.Context, link string) (crypto.SpaceID, space.AccountStatus, error) {
	const op = "space.join"
	in, err := ParseLink(link)
	if err != nil {
		return "", 0, errkind.E(op, errkind.Invalid, err)
	}
	if known, err := s.Spaces.Info(in.Space); err == nil && known.LocalStatus != space.LocalMissing {
		return "", 0, errkind.Errorf(op, errkind.Exists, "space %s is already on this device", in.Space)
	} // an offloaded space (kicked, left) may be joined again: it gets a new incarnation
	n, err := s.node(op)
	if err != nil {
		return "", 0, err
	}
	nodeKey, ok := s.NodeKey()
	if !ok {
		return "", 0, errkind.Errorf(op, errkind.Transient, "the node's key is not known yet")
	}
	me := s.Account.Public()
	sig := in.Key.Sign(acl.JoinInviteMessage(in.Space, in.Invite, me))
	for range maxConflictRetries {
		pulled, err := n.InviteLookup(ctx, &syncpb.InviteLookupRequest{SpaceId: string(in.Space), InviteId: string(in.Invite), Signature: sig})
		if err != nil {
			return "", 0, errkind.E(op, errkind.Permission, err)
		}
		h, err := protospace.Verify(pulled.Header)
		if err != nil || h.ID != in.Space {
			return "", 0, errkind.Errorf(op, errkind.Corrupt, "the node sent a header that is not of space %s", in.Space)
		}
		st, err := acl.Replay(acl.New(h.ID, h.Creator), nodeKey, pulled.AclRecords)
		if err != nil {
			return "", 0, errkind.E(op, errkind.Corrupt, err)
		}
		var invite *acl.Invite
		for _, inv := range st.Invites() {
			if inv.ID == in.Invite {
				invite = &inv
				break
			}
		}
		if invite == nil {
			return "", 0, errkind.Errorf(op, errkind.NotFound, "the invite is no longer open")
		}
		raw, err := acl.Builder{Author: s.Account}.JoinRequest(st, in.Invite, in.Key, s.now())
		if err != nil {
			return "", 0, errkind.E(op, errkind.Permission, err)
		}
		resp, err := n.AclAdd(ctx, &syncpb.AclAdd{SpaceId: string(in.Space), Record: raw})
		if err != nil {
			return "", 0, errkind.E(op, errkind.Transient, err)
		}
		switch resp.Status {
		case syncpb.AclAddStatus_ACL_ADD_STATUS_CONFLICT:
			continue
		case syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED:
		default:
			return "", 0, errkind.Errorf(op, errkind.Permission, "the node refused the join request: %s", resp.Reason)
		}
		records := append(pulled.AclRecords, resp.Accepted)
		status := space.AccountActive
		if invite.RequiresApproval {
			status = space.AccountJoining
		}
		// The invite key is kept either way: without approval the read key
		// is sealed to it; with approval it lets a waiting device look the
		// space up and learn of a decline.
		if _, err := s.Spaces.ImportJoined(ctx, pulled.Header, records, in.Name, status, in.Key); err != nil {
			return "", 0, err
		}
		return in.Space, status, nil
	}
	return "", 0, errkind.Errorf(op, errkind.Transient, "the space's ACL kept changing: try again")
}

// request finds the pending join request of identity.
func request(st acl.State, who crypto.PubKey) (acl.Request, error) {
	for _, r := range st.Requests() {
		if r.Joiner == who {
			return r, nil
		}
	}
	return acl.Request{}, fmt.Errorf("%s has no pending join request", who.Identity())
}

// Approve accepts identity's join request with role.
func (s *Service) Approve(ctx context.Context, id crypto.SpaceID, identity string, role acl.Role) error {
	const op = "space.approve"
	who, err := crypto.ParseIdentity(identity)
	if err != nil {
		return errkind.E(op, errkind.Invalid, err)
	}
	if role != acl.RoleReader && role != acl.RoleWriter {
		return errkind.Errorf(op, errkind.Invalid, "approve as writer or reader, not %s", role)
	}
	sp, err := s.Spaces.Get(ctx, id)
	if err != nil {
		return err
	}
	readKey, err := sp.ReadKey(ctx)
	if err != nil {
		return err
	}
	_, err = s.add(ctx, op, sp, func(st acl.State) ([]byte, error) {
		req, err := request(st, who)
		if err != nil {
			return nil, err
		}
		return acl.Builder{Author: s.Account}.JoinAccept(st, req.ID, role, readKey, s.now())
	})
	return err
}

// Decline refuses identity's join request.
func (s *Service) Decline(ctx context.Context, id crypto.SpaceID, identity string) error {
	const op = "space.decline"
	who, err := crypto.ParseIdentity(identity)
	if err != nil {
		return errkind.E(op, errkind.Invalid, err)
	}
	sp, err := s.Spaces.Get(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.add(ctx, op, sp, func(st acl.State) ([]byte, error) {
		req, err := request(st, who)
		if err != nil {
			return nil, err
		}
		return acl.Builder{Author: s.Account}.JoinDecline(st, req.ID, s.now())
	})
	return err
}

// Kick removes identity and rotates the read key to the remaining members.
// It returns once the node has accepted the removal.
func (s *Service) Kick(ctx context.Context, id crypto.SpaceID, identity string) error {
	const op = "space.kick"
	who, err := crypto.ParseIdentity(identity)
	if err != nil {
		return errkind.E(op, errkind.Invalid, err)
	}
	if who == s.Account.Public() {
		return errkind.Errorf(op, errkind.Invalid, "you cannot remove yourself: leave the space instead")
	}
	sp, err := s.Spaces.Get(ctx, id)
	if err != nil {
		return err
	}
	prev, err := sp.ReadKey(ctx)
	if err != nil {
		return err
	}
	next, err := crypto.NewSymKey()
	if err != nil {
		return errkind.E(op, errkind.Other, err)
	}
	_, err = s.add(ctx, op, sp, func(st acl.State) ([]byte, error) {
		if st.Role(who) == acl.RoleNone {
			return nil, fmt.Errorf("%s is not a member", identity)
		}
		return acl.Builder{Author: s.Account}.Remove(st, []crypto.PubKey{who}, prev, next, s.now())
	})
	return err
}

// Leave has the node record that the account left the space.
func (s *Service) Leave(ctx context.Context, id crypto.SpaceID) error {
	const op = "space.leave"
	sp, err := s.Spaces.Get(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.add(ctx, op, sp, func(st acl.State) ([]byte, error) {
		return acl.Builder{Author: s.Account}.Leave(st, s.now())
	})
	return err
}

// Delete asks the node to delete the space (the owner only). The node keeps
// it pending deletion for a grace period and tells every member.
func (s *Service) Delete(ctx context.Context, id crypto.SpaceID) (*syncpb.SpaceStatus, error) {
	const op = "space.delete"
	n, err := s.node(op)
	if err != nil {
		return nil, err
	}
	sp, err := s.Spaces.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	st, err := sp.AclState(ctx)
	if err != nil {
		return nil, err
	}
	if st.Owner() != s.Account.Public() {
		return nil, errkind.Errorf(op, errkind.Permission, "only the owner can delete space %s", id)
	}
	raw, err := protospace.NewDeleteRequest(s.Account, id, s.now(), false)
	if err != nil {
		return nil, errkind.E(op, errkind.Other, err)
	}
	status, err := n.SpaceDelete(ctx, &syncpb.SpaceDelete{Request: raw})
	if err != nil {
		return nil, errkind.E(op, errkind.Transient, err)
	}
	return status, nil
}

// JoinAnswer is what became of a join request that waits for approval.
type JoinAnswer uint8

// Join answers.
const (
	AnswerUnknown  JoinAnswer = iota // cannot tell now (offline, no key)
	AnswerWaiting                    // not answered yet
	AnswerApproved                   // the account is a member
	AnswerDeclined                   // the request was declined
)

// Answer finds out what became of the account's pending join to a space: it
// replays the space's stored ACL plus what the node adds, and looks at the
// account's role and request — never inferring from an error.
func (s *Service) Answer(ctx context.Context, id crypto.SpaceID) JoinAnswer {
	if in, err := s.Spaces.Info(id); err != nil || in.AccountStatus != space.AccountJoining {
		return AnswerUnknown // only a waiting join has an answer to find
	}
	n, err := s.node("space.join")
	if err != nil {
		return AnswerUnknown
	}
	nodeKey, known := s.NodeKey()
	if !known {
		return AnswerUnknown
	}
	stored, err := s.Spaces.StoredAcl(id)
	if err != nil || len(stored) == 0 {
		return AnswerUnknown
	}
	me := s.Account.Public()
	var invite, request crypto.RecordID
	for _, rec := range stored {
		if jr := rec.Body.GetJoinRequest(); jr != nil && rec.Author == me {
			invite, request = crypto.RecordID(jr.InviteId), rec.ID
		}
	}
	// The node serves the log to members; a pending joiner reads it through
	// its invite.
	var records [][]byte
	if log, err := n.AclLog(ctx, &syncpb.AclLogRequest{SpaceId: string(id)}); err == nil && len(log.Records) > 0 {
		records = log.Records
	} else if key, has := s.Spaces.InviteKey(id); has && invite != "" {
		sig := key.Sign(acl.JoinInviteMessage(id, invite, me))
		pulled, err := n.InviteLookup(ctx, &syncpb.InviteLookupRequest{SpaceId: string(id), InviteId: string(invite), Signature: sig})
		if err != nil {
			return AnswerUnknown
		}
		records = pulled.AclRecords
	} else {
		return AnswerUnknown
	}
	st, err := acl.Replay(acl.New(id, stored[0].Author), nodeKey, records)
	if err != nil {
		return AnswerUnknown
	}
	if st.Role(me) != acl.RoleNone {
		return AnswerApproved
	}
	for _, raw := range records {
		rec, err := acl.Verify(raw, nodeKey)
		if err != nil {
			return AnswerUnknown
		}
		if d := rec.Body.GetJoinDecline(); d != nil && crypto.RecordID(d.RequestId) == request {
			return AnswerDeclined
		}
	}
	return AnswerWaiting
}
