package membership

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	// Name is the account's display name, carried in the invites it makes
	// and the join requests it sends (nil: none).
	Name func() string
}

// builder makes records signed by the account, carrying its name.
func (s *Service) builder() acl.Builder {
	b := acl.Builder{Author: s.Account}
	if s.Name != nil {
		b.Name = s.Name()
	}
	return b
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
		if err := s.dryRun(st, raw); err != nil {
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

// dryRun accepts raw on st as the node would (with a throwaway acceptor key),
// to report a refusal without a round trip.
func (s *Service) dryRun(st acl.State, raw []byte) error {
	tmp, err := crypto.GenerateKey()
	if err != nil {
		return err
	}
	_, _, err = acl.Accept(st, tmp, raw)
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
		return s.builder().Invite(st, inviteKey.Public(), role, requiresApproval, readKey, s.now())
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
		raw, err := s.builder().JoinRequest(st, in.Invite, in.Key, s.now())
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
	who, err := parseIdentity(identity)
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
		return s.builder().JoinAccept(st, req.ID, role, readKey, s.now())
	})
	return err
}

// Decline refuses identity's join request.
func (s *Service) Decline(ctx context.Context, id crypto.SpaceID, identity string) error {
	const op = "space.decline"
	who, err := parseIdentity(identity)
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
		return s.builder().JoinDecline(st, req.ID, s.now())
	})
	return err
}

// Kick removes identity, closes every open invite (the removed member may
// know any of the links) and rotates the read key to the remaining members.
// It returns once the node has accepted the removal, with the number of
// invites it closed: admins make new links for whoever should still join.
//
// Why revoke rather than re-key the invites: an invite's key travels in its
// link, so a rotated invite needs a new link either way, and handing new
// links to every admin would need a channel we do not have. Closing them is
// one rule the node checks (acl.Acceptable) and leaves nothing the removed
// member holds that opens the space.
func (s *Service) Kick(ctx context.Context, id crypto.SpaceID, identity string) (revoked int, err error) {
	const op = "space.kick"
	who, err := parseIdentity(identity)
	if err != nil {
		return 0, errkind.E(op, errkind.Invalid, err)
	}
	sp, err := s.Spaces.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	if who == s.Account.Public() {
		st, err := sp.AclState(ctx)
		if err != nil {
			return 0, err
		}
		if st.Owner() == who {
			return 0, errkind.Errorf(op, errkind.Invalid, "the owner cannot be removed: to end the space for everyone, delete it ('hearth space delete')")
		}
		return 0, errkind.Errorf(op, errkind.Invalid, "you cannot remove yourself: leave the space instead ('hearth space leave')")
	}
	prev, err := sp.ReadKey(ctx)
	if err != nil {
		return 0, err
	}
	next, err := crypto.NewSymKey()
	if err != nil {
		return 0, errkind.E(op, errkind.Other, err)
	}
	_, err = s.add(ctx, op, sp, func(st acl.State) ([]byte, error) {
		if st.Role(who) == acl.RoleNone {
			return nil, fmt.Errorf("%s is not a member of this space", identity)
		}
		revoked = len(st.Invites())
		return s.builder().Remove(st, []crypto.PubKey{who}, prev, next, s.now())
	})
	if err != nil {
		return 0, err
	}
	return revoked, nil
}

// RevokeInvite closes an open invite: its link admits nobody any more, and
// the join requests made through it that wait for approval are dropped.
func (s *Service) RevokeInvite(ctx context.Context, id crypto.SpaceID, invite string) error {
	const op = "space.invite-revoke"
	inv, err := crypto.ParseRecordID(invite)
	if err != nil {
		return errkind.Errorf(op, errkind.Invalid, "%q is not an invite id (see 'hearth space invites')", invite)
	}
	sp, err := s.Spaces.Get(ctx, id)
	if err != nil {
		return err
	}
	st, err := sp.AclState(ctx)
	if err != nil {
		return err
	}
	if !isOpen(st, inv) {
		return errkind.Errorf(op, errkind.NotFound, "invite %s is not open in this space", inv)
	}
	_, err = s.add(ctx, op, sp, func(st acl.State) ([]byte, error) {
		if !isOpen(st, inv) {
			return nil, fmt.Errorf("invite %s is not open in this space", inv)
		}
		return s.builder().InviteRevoke(st, inv, s.now())
	})
	return err
}

func isOpen(st acl.State, id crypto.RecordID) bool {
	for _, in := range st.Invites() {
		if in.ID == id {
			return true
		}
	}
	return false
}

// parseIdentity reads an account id, with an error that says what one is.
func parseIdentity(s string) (crypto.PubKey, error) {
	k, err := crypto.ParseIdentity(s)
	if err != nil {
		return k, fmt.Errorf("%q is not an account id (52 lower-case base32 characters, as 'hearth space members' prints them)", trunc(s))
	}
	return k, nil
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Leave has the node record that the account left the space.
func (s *Service) Leave(ctx context.Context, id crypto.SpaceID) error {
	const op = "space.leave"
	sp, err := s.Spaces.Get(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.add(ctx, op, sp, func(st acl.State) ([]byte, error) {
		return s.builder().Leave(st, s.now())
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
	return s.deleteRequest(ctx, op, n, id, false)
}

// CancelDelete asks the node to cancel a pending deletion (the owner only,
// within the grace period). The space need not be loaded: the owner's device
// offloaded it at the delete; the node checks the owner's signature.
func (s *Service) CancelDelete(ctx context.Context, id crypto.SpaceID) error {
	const op = "space.delete-cancel"
	n, err := s.node(op)
	if err != nil {
		return err
	}
	status, err := s.deleteRequest(ctx, op, n, id, true)
	if err != nil {
		return err
	}
	if status.Status != syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK {
		return errkind.Errorf(op, errkind.Precondition, "the node did not restore space %s (it is %s)", id, status.Status)
	}
	return nil
}

func (s *Service) deleteRequest(ctx context.Context, op string, n Node, id crypto.SpaceID, cancel bool) (*syncpb.SpaceStatus, error) {
	raw, err := protospace.NewDeleteRequest(s.Account, id, s.now(), cancel)
	if err != nil {
		return nil, errkind.E(op, errkind.Other, err)
	}
	status, err := n.SpaceDelete(ctx, &syncpb.SpaceDelete{Request: raw})
	if err != nil {
		return nil, errkind.E(op, nodeKind(err), err)
	}
	return status, nil
}

// nodeKind is the kind of an error the node answered with: its refusals
// (permission, not found, a state that does not allow it) are not worth a
// retry; anything else is.
func nodeKind(err error) errkind.Kind {
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated:
		return errkind.Permission
	case codes.NotFound:
		return errkind.NotFound
	case codes.FailedPrecondition:
		return errkind.Precondition
	case codes.InvalidArgument:
		return errkind.Invalid
	}
	return errkind.Transient
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
