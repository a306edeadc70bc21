package clientlibrary

import (
	"context"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/core/membership"
	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// members resolves the membership service and refuses when the daemon runs
// without a node: these commands need one.
func (a *api) members() (*membership.Service, *pb.Rpc_Error) {
	if a.lib.app.Node() == "" {
		return nil, &pb.Rpc_Error{Code: pb.Rpc_Error_OFFLINE_UNSUPPORTED, Description: "this needs a sync node: the daemon runs local-only (start it with --node)"}
	}
	m, err := a.lib.app.Members()
	if err != nil {
		return nil, apiError(err)
	}
	return m, nil
}

// inviteRole maps the API role of an invite or approval (NONE: writer).
func inviteRole(r pb.Model_Role) (acl.Role, *pb.Rpc_Error) {
	switch r {
	case pb.Model_ROLE_NONE, pb.Model_ROLE_WRITER:
		return acl.RoleWriter, nil
	case pb.Model_ROLE_READER:
		return acl.RoleReader, nil
	}
	return acl.RoleNone, badInput("the role is writer or reader")
}

func (a *api) SpaceInvite(ctx context.Context, req *pb.Rpc_Space_Invite_Request) *pb.Rpc_Space_Invite_Response {
	m, perr := a.members()
	if perr != nil {
		return &pb.Rpc_Space_Invite_Response{Error: perr}
	}
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Invite_Response{Error: perr}
	}
	role, perr := inviteRole(req.Role)
	if perr != nil {
		return &pb.Rpc_Space_Invite_Response{Error: perr}
	}
	link, err := m.CreateInvite(ctx, id, role, !req.NoApproval)
	if err != nil {
		return &pb.Rpc_Space_Invite_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_Space_Invite_Response{Invite: link}
}

func (a *api) SpaceJoin(ctx context.Context, req *pb.Rpc_Space_Join_Request) *pb.Rpc_Space_Join_Response {
	m, perr := a.members()
	if perr != nil {
		return &pb.Rpc_Space_Join_Response{Error: perr}
	}
	id, status, err := m.Join(ctx, req.Invite)
	if err != nil {
		return &pb.Rpc_Space_Join_Response{Error: apiError(err)}
	}
	if status == space.AccountJoining {
		a.lib.app.WatchJoins()
	}
	if status == space.AccountActive {
		if spaces, err := a.lib.app.Spaces(); err == nil {
			if _, err := spaces.Get(ctx, id); err != nil {
				return &pb.Rpc_Space_Join_Response{Error: apiError(err)}
			}
		}
	}
	return &pb.Rpc_Space_Join_Response{SpaceId: string(id), AccountStatus: pb.Model_AccountStatus(status)}
}

// memberList reads a loaded space's members from its ACL.
func (a *api) memberList(ctx context.Context, id string) ([]membership.Member, *pb.Rpc_Error) {
	sp, err := a.loadedSpace(ctx, id)
	if err != nil {
		return nil, apiError(err)
	}
	st, err := sp.AclState(ctx)
	if err != nil {
		return nil, apiError(err)
	}
	history, err := sp.AclHistory(ctx)
	if err != nil {
		return nil, apiError(err)
	}
	return membership.Members(st, history), nil
}

func (a *api) apiMember(ctx context.Context, m membership.Member) *pb.Model_Member {
	name := m.Name
	if acc, err := a.lib.app.Accounts().Current(); err == nil && name == "" && acc.Info().ID == m.Identity {
		name = a.lib.app.AccountName(ctx) // this account's name, when the history carries none (an owner who never invited)
	}
	return &pb.Model_Member{Identity: string(m.Identity), Name: name, Role: pb.Model_Role(m.Role), Status: pb.Model_MemberStatus(m.Status)}
}

func (a *api) SpaceRequests(ctx context.Context, req *pb.Rpc_Space_Requests_Request) *pb.Rpc_Space_Requests_Response {
	list, perr := a.memberList(ctx, req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Requests_Response{Error: perr}
	}
	out := []*pb.Model_Member{}
	for _, m := range list {
		if m.Status == membership.StatusJoining {
			out = append(out, a.apiMember(ctx, m))
		}
	}
	return &pb.Rpc_Space_Requests_Response{Requests: out}
}

func (a *api) SpaceMembers(ctx context.Context, req *pb.Rpc_Space_Members_Request) *pb.Rpc_Space_Members_Response {
	list, perr := a.memberList(ctx, req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Members_Response{Error: perr}
	}
	out := make([]*pb.Model_Member, 0, len(list))
	for _, m := range list {
		out = append(out, a.apiMember(ctx, m))
	}
	return &pb.Rpc_Space_Members_Response{Members: out}
}

func (a *api) SpaceInvites(ctx context.Context, req *pb.Rpc_Space_Invites_Request) *pb.Rpc_Space_Invites_Response {
	sp, err := a.loadedSpace(ctx, req.SpaceId)
	if err != nil {
		return &pb.Rpc_Space_Invites_Response{Error: apiError(err)}
	}
	st, err := sp.AclState(ctx)
	if err != nil {
		return &pb.Rpc_Space_Invites_Response{Error: apiError(err)}
	}
	history, err := sp.AclHistory(ctx)
	if err != nil {
		return &pb.Rpc_Space_Invites_Response{Error: apiError(err)}
	}
	open := membership.Invites(st, history)
	out := make([]*pb.Model_Invite, 0, len(open))
	for _, in := range open {
		out = append(out, &pb.Model_Invite{
			InviteId: string(in.ID), Role: pb.Model_Role(in.Role), NoApproval: !in.RequiresApproval,
			CreatedMs: in.Created, Creator: string(in.Creator), CreatorName: in.CreatorName,
		})
	}
	return &pb.Rpc_Space_Invites_Response{Invites: out}
}

func (a *api) SpaceInviteRevoke(ctx context.Context, req *pb.Rpc_Space_InviteRevoke_Request) *pb.Rpc_Space_InviteRevoke_Response {
	m, perr := a.members()
	if perr != nil {
		return &pb.Rpc_Space_InviteRevoke_Response{Error: perr}
	}
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_InviteRevoke_Response{Error: perr}
	}
	if err := m.RevokeInvite(ctx, id, req.InviteId); err != nil {
		return &pb.Rpc_Space_InviteRevoke_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_Space_InviteRevoke_Response{}
}

func (a *api) SpaceApprove(ctx context.Context, req *pb.Rpc_Space_Approve_Request) *pb.Rpc_Space_Approve_Response {
	m, perr := a.members()
	if perr != nil {
		return &pb.Rpc_Space_Approve_Response{Error: perr}
	}
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Approve_Response{Error: perr}
	}
	role, perr := inviteRole(req.Role)
	if perr != nil {
		return &pb.Rpc_Space_Approve_Response{Error: perr}
	}
	if err := m.Approve(ctx, id, req.Identity, role); err != nil {
		return &pb.Rpc_Space_Approve_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_Space_Approve_Response{}
}

func (a *api) SpaceDecline(ctx context.Context, req *pb.Rpc_Space_Decline_Request) *pb.Rpc_Space_Decline_Response {
	m, perr := a.members()
	if perr != nil {
		return &pb.Rpc_Space_Decline_Response{Error: perr}
	}
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Decline_Response{Error: perr}
	}
	if err := m.Decline(ctx, id, req.Identity); err != nil {
		return &pb.Rpc_Space_Decline_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_Space_Decline_Response{}
}

func (a *api) SpaceKick(ctx context.Context, req *pb.Rpc_Space_Kick_Request) *pb.Rpc_Space_Kick_Response {
	m, perr := a.members()
	if perr != nil {
		return &pb.Rpc_Space_Kick_Response{Error: perr}
	}
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Kick_Response{Error: perr}
	}
	revoked, err := m.Kick(ctx, id, req.Identity)
	if err != nil {
		return &pb.Rpc_Space_Kick_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_Space_Kick_Response{InvitesRevoked: int32(revoked)}
}

// endMembership records that the account no longer uses a space and moves
// the space to its target mode: offloaded, local-only (nothing is sent to
// the node).
func (a *api) endMembership(ctx context.Context, id crypto.SpaceID) error {
	spaces, err := a.lib.app.Spaces()
	if err != nil {
		return err
	}
	if err := spaces.SetAccountStatus(ctx, id, space.AccountDeleted); err != nil {
		return err
	}
	return spaces.Apply(ctx, id)
}

func (a *api) SpaceLeave(ctx context.Context, req *pb.Rpc_Space_Leave_Request) *pb.Rpc_Space_Leave_Response {
	m, perr := a.members()
	if perr != nil {
		return &pb.Rpc_Space_Leave_Response{Error: perr}
	}
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Leave_Response{Error: perr}
	}
	if err := m.Leave(ctx, id); err != nil {
		return &pb.Rpc_Space_Leave_Response{Error: a.spaceError(id, err)}
	}
	if err := a.endMembership(ctx, id); err != nil {
		return &pb.Rpc_Space_Leave_Response{Error: apiError(err)}
	}
	return &pb.Rpc_Space_Leave_Response{}
}

func (a *api) SpaceDelete(ctx context.Context, req *pb.Rpc_Space_Delete_Request) *pb.Rpc_Space_Delete_Response {
	m, perr := a.members()
	if perr != nil {
		return &pb.Rpc_Space_Delete_Response{Error: perr}
	}
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Delete_Response{Error: perr}
	}
	status, err := m.Delete(ctx, id)
	if err != nil {
		return &pb.Rpc_Space_Delete_Response{Error: a.spaceError(id, err)}
	}
	if spaces, err := a.lib.app.Spaces(); err == nil {
		// The node answered pending deletion: say so at once (its push follows).
		_ = spaces.SetRemoteStatus(id, space.RemotePendingDeletion)
	}
	if err := a.endMembership(ctx, id); err != nil {
		return &pb.Rpc_Space_Delete_Response{Error: apiError(err)}
	}
	return &pb.Rpc_Space_Delete_Response{DeletionAtMs: status.GetDeletionAt()}
}

func (a *api) SpaceDeleteCancel(ctx context.Context, req *pb.Rpc_Space_DeleteCancel_Request) *pb.Rpc_Space_DeleteCancel_Response {
	m, perr := a.members()
	if perr != nil {
		return &pb.Rpc_Space_DeleteCancel_Response{Error: perr}
	}
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_DeleteCancel_Response{Error: perr}
	}
	if err := m.CancelDelete(ctx, id); err != nil {
		return &pb.Rpc_Space_DeleteCancel_Response{Error: apiError(err)}
	}
	// The space is served again: this device takes it back.
	spaces, err := a.lib.app.Spaces()
	if err != nil {
		return &pb.Rpc_Space_DeleteCancel_Response{Error: apiError(err)}
	}
	if err := spaces.SetRemoteStatus(id, space.RemoteOK); err != nil {
		return &pb.Rpc_Space_DeleteCancel_Response{Error: apiError(err)}
	}
	if err := spaces.SetAccountStatus(ctx, id, space.AccountActive); err != nil {
		return &pb.Rpc_Space_DeleteCancel_Response{Error: apiError(err)}
	}
	if err := a.lib.app.ReloadSpace(ctx, id, true, nil); err != nil {
		return &pb.Rpc_Space_DeleteCancel_Response{Error: apiError(err)}
	}
	return &pb.Rpc_Space_DeleteCancel_Response{}
}

func (a *api) SpaceOffload(ctx context.Context, req *pb.Rpc_Space_Offload_Request) *pb.Rpc_Space_Offload_Response {
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Offload_Response{Error: perr}
	}
	if err := a.lib.app.OffloadSpace(ctx, id, req.Force); err != nil {
		return &pb.Rpc_Space_Offload_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_Space_Offload_Response{}
}

func (a *api) SpaceLoad(ctx context.Context, req *pb.Rpc_Space_Load_Request) *pb.Rpc_Space_Load_Response {
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Load_Response{Error: perr}
	}
	if err := a.lib.app.ReloadSpace(ctx, id, !req.NoWait, a.lib.app.NewProgress(req.ProgressId, "space.load", "objects")); err != nil {
		if spaces, serr := a.lib.app.Spaces(); serr == nil {
			if in, ierr := spaces.Info(id); ierr == nil && (in.RemoteStatus == space.RemotePendingDeletion || in.RemoteStatus == space.RemoteDeleted) {
				// The node refused because the owner deleted it: say that, not the node's words.
				err = errkind.Errorf("space.load", errkind.Precondition, "space %s%s", id, whyUnusable(in))
			}
		}
		return &pb.Rpc_Space_Load_Response{Error: a.spaceError(id, err)}
	}
	return &pb.Rpc_Space_Load_Response{}
}

func (a *api) SpaceStatus(ctx context.Context, req *pb.Rpc_Space_Status_Request) *pb.Rpc_Space_Status_Response {
	id, perr := a.knownSpace(req.SpaceId)
	if perr != nil {
		return &pb.Rpc_Space_Status_Response{Error: perr}
	}
	st, ok, err := a.lib.app.SyncStatus(id)
	if err != nil {
		return &pb.Rpc_Space_Status_Response{Error: apiError(err)}
	}
	if !ok {
		return &pb.Rpc_Space_Status_Response{Error: &pb.Rpc_Error{Code: pb.Rpc_Error_SPACE_NOT_LOADED,
			Description: "space " + req.SpaceId + " is not loaded: sync status exists for loaded spaces only" + a.unloadedWhy(id)}}
	}
	return &pb.Rpc_Space_Status_Response{Status: core.ModelSyncStatus(st)}
}
