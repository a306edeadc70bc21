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
	Role     acl.Role // the current role (RoleNone if not a member now)
	Status   Status
}

// Members folds the space's ACL history into every identity's latest
// standing: the current state says who is a member with which role; the
// history says how the others left (removed, left, declined).
func Members(st acl.State, history []acl.VerifiedRecord) []Member {
	last := map[crypto.PubKey]Status{}
	requester := map[crypto.RecordID]crypto.PubKey{}
	for _, rec := range history {
		switch op := rec.Body.Op.(type) {
		case *syncpb.AclRecord_Root:
			last[rec.Author] = StatusActive
		case *syncpb.AclRecord_JoinRequest:
			requester[rec.ID] = rec.Author
			last[rec.Author] = StatusJoining
		case *syncpb.AclRecord_JoinAccept:
			if who, ok := requester[crypto.RecordID(op.JoinAccept.RequestId)]; ok {
				last[who] = StatusActive
			}
		case *syncpb.AclRecord_JoinDecline:
			if who, ok := requester[crypto.RecordID(op.JoinDecline.RequestId)]; ok {
				last[who] = StatusDeclined
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
	}
	out := make([]Member, 0, len(last))
	for who, status := range last {
		role := st.Role(who)
		if status == StatusActive && role == acl.RoleNone {
			continue // not reachable, but never list a member without a role
		}
		out = append(out, Member{Identity: who.Identity(), Role: role, Status: status})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}
