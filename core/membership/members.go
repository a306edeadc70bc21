package membership

import (
	"sort"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Status is a member's standing as the ACL history tells it.
type Status uint8

// Member statuses (CLI.md: active joining removed left declined).
const (
	StatusActive Status = iota
	StatusJoining
	StatusRemoved
	StatusLeft
	StatusDeclined
)

var statusWords = [...]string{"active", "joining", "removed", "left", "declined"}

func (s Status) String() string {
	if int(s) < len(statusWords) {
		return statusWords[s]
	}
	return "unknown"
}

// Member is one identity that has been part of the space, or asked to be.
type Member struct {
	Identity crypto.Identity
	Name     string   // the display name the identity gave itself ("" if none is known)
	Role     acl.Role // the current role; for one who is not a member now, the last role held or asked for
	Status   Status
}

// Members folds the space's ACL history into every identity's latest
// standing: the current state says who is a member with which role; the
// history says how the others left (removed, left, declined), which role
// they held or asked for, and the names they gave (the latest one wins).
func Members(st acl.State, history []acl.VerifiedRecord) []Member {
	last := map[crypto.PubKey]Status{}
	role := map[crypto.PubKey]acl.Role{}
	names := Names(history)
	requester := map[crypto.RecordID]crypto.PubKey{}
	inviteRole := map[crypto.RecordID]acl.Role{}
	for _, rec := range history {
		switch op := rec.Body.Op.(type) {
		case *syncpb.AclRecord_Root:
			last[rec.Author] = StatusActive
			role[rec.Author] = acl.RoleOwner
		case *syncpb.AclRecord_Invite:
			inviteRole[rec.ID] = acl.Role(op.Invite.Role)
		case *syncpb.AclRecord_JoinRequest:
			requester[rec.ID] = rec.Author
			last[rec.Author] = StatusJoining
			if r, ok := inviteRole[crypto.RecordID(op.JoinRequest.InviteId)]; ok {
				role[rec.Author] = r
			}
		case *syncpb.AclRecord_JoinAccept:
			if who, ok := requester[crypto.RecordID(op.JoinAccept.RequestId)]; ok {
				last[who] = StatusActive
				role[who] = acl.Role(op.JoinAccept.Role)
			}
		case *syncpb.AclRecord_JoinDecline:
			if who, ok := requester[crypto.RecordID(op.JoinDecline.RequestId)]; ok {
				last[who] = StatusDeclined
			}
		case *syncpb.AclRecord_SetRole:
			if who, err := crypto.UnmarshalPubKey(op.SetRole.Identity); err == nil {
				role[who] = acl.Role(op.SetRole.Role)
			}
		case *syncpb.AclRecord_Remove:
			for _, b := range op.Remove.Identities {
				if who, err := crypto.UnmarshalPubKey(b); err == nil {
					last[who] = StatusRemoved
				}
			}
		case *syncpb.AclRecord_Leave:
			last[rec.Author] = StatusLeft
		}
	}
	for _, m := range st.Members() { // the state is the authority on who is in
		last[m.Key] = StatusActive
		role[m.Key] = m.Role
	}
	out := make([]Member, 0, len(last))
	for who, status := range last {
		r := role[who]
		if !r.CanRead() {
			if status == StatusActive {
				continue // not reachable, but never list a member without a role
			}
			r = acl.RoleReader // unknown from the history: the least role
		}
		out = append(out, Member{Identity: who.Identity(), Name: names[who], Role: r, Status: status})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}

// Names maps identities to the display names they gave in the history
// (invites they made, their join requests); the latest one wins.
func Names(history []acl.VerifiedRecord) map[crypto.PubKey]string {
	names := map[crypto.PubKey]string{}
	for _, rec := range history {
		var name string
		switch op := rec.Body.Op.(type) {
		case *syncpb.AclRecord_Invite:
			name = op.Invite.AuthorName
		case *syncpb.AclRecord_JoinRequest:
			name = op.JoinRequest.Name
		}
		if name != "" {
			names[rec.Author] = name
		}
	}
	return names
}

// OpenInvite is an open invite as people see it.
type OpenInvite struct {
	ID               crypto.RecordID
	Role             acl.Role
	RequiresApproval bool
	Created          int64 // unix ms, as the creator's device set it
	Creator          crypto.Identity
	CreatorName      string
}

// Invites lists the space's open invites, oldest first.
func Invites(st acl.State, history []acl.VerifiedRecord) []OpenInvite {
	names := Names(history)
	open := st.Invites()
	out := make([]OpenInvite, 0, len(open))
	for _, inv := range open {
		out = append(out, OpenInvite{
			ID: inv.ID, Role: inv.Role, RequiresApproval: inv.RequiresApproval, Created: inv.Created,
			Creator: inv.Creator.Identity(), CreatorName: names[inv.Creator],
		})
	}
	seq := func(id crypto.RecordID) uint64 { q, _ := st.SeqOf(id); return q }
	sort.Slice(out, func(i, j int) bool { return seq(out[i].ID) < seq(out[j].ID) })
	return out
}
