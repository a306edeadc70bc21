package clientlibrary

import (
	"fmt"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Space ids from callers are checked in two steps: the form (BAD_INPUT: not
// a space id at all) and whether the account knows the space (NOT_FOUND).
// A space the account knows but cannot use now is explained by its
// statuses: removed, left, deleted by its owner, pending deletion,
// offloaded — never as a bare "not loaded".

// parseSpaceID checks the form of a space id.
func parseSpaceID(id string) (crypto.SpaceID, error) {
	if _, err := crypto.ParseSpaceID(id); err != nil {
		return "", errkind.Errorf("space", errkind.Invalid, "%q is not a space id (52 lower-case base32 characters, as 'hearth space list' prints them)", trunc(id))
	}
	return crypto.SpaceID(id), nil
}

// knownSpace checks a space id's form and that the account knows the space.
func (a *api) knownSpace(id string) (crypto.SpaceID, *pb.Rpc_Error) {
	sid, err := parseSpaceID(id)
	if err != nil {
		return "", apiError(err)
	}
	spaces, err := a.lib.app.Spaces()
	if err != nil {
		return "", apiError(err)
	}
	in, err := spaces.Info(sid)
	if err != nil || in.Account {
		return "", apiError(notFound(sid))
	}
	return sid, nil
}

func notFound(id crypto.SpaceID) error {
	return errkind.Errorf("space", errkind.NotFound, "space %s not found: this account has no such space ('hearth space list' shows them)", id)
}

// explain turns a failure to use space id into one that says why, from the
// space's statuses; other failures pass unchanged.
func (a *api) explain(id crypto.SpaceID, err error) error {
	if err == nil {
		return nil
	}
	spaces, serr := a.lib.app.Spaces()
	if serr != nil {
		return err
	}
	in, ierr := spaces.Info(id)
	switch {
	case errkind.Is(ierr, errkind.NotFound) || (ierr == nil && in.Account):
		return notFound(id)
	case ierr != nil:
		return err
	}
	switch errkind.Of(err) {
	case errkind.Removed, errkind.Precondition, errkind.NotFound:
	default:
		return err
	}
	if why := whyUnusable(in); why != "" {
		kind := errkind.Removed
		if in.AccountStatus == space.AccountActive && in.RemoteStatus == space.RemoteOK {
			kind = errkind.Precondition
		}
		return errkind.Errorf("space", kind, "space %s%s", id, why)
	}
	return err
}

// spaceError is explain at the API edge.
func (a *api) spaceError(id crypto.SpaceID, err error) *pb.Rpc_Error {
	return apiError(a.explain(id, err))
}

// unloadedWhy is why a known space is not loaded (", …" or "").
func (a *api) unloadedWhy(id crypto.SpaceID) string {
	spaces, err := a.lib.app.Spaces()
	if err != nil {
		return ""
	}
	in, err := spaces.Info(id)
	if err != nil {
		return ""
	}
	return whyUnusable(in)
}

// whyUnusable says, after the space's id, why it cannot be used now (""
// when its statuses do not tell).
func whyUnusable(in space.Info) string {
	name := ""
	if in.Name != "" {
		name = fmt.Sprintf(" (%s)", quoteName(in.Name))
	}
	switch {
	case in.AccountStatus == space.AccountRemoved:
		return name + ": you were removed from it by an admin; only a new invite brings you back"
	case in.RemoteStatus == space.RemoteDeleted:
		return name + ": it was deleted by its owner"
	case in.AccountStatus == space.AccountDeleted && in.RemoteStatus == space.RemotePendingDeletion:
		return name + ": it is deleted; the node keeps it pending deletion for its grace period, during which its owner can restore it ('hearth space delete-cancel')"
	case in.AccountStatus == space.AccountDeleted:
		return name + ": you left it (or deleted it); only a new invite brings you back"
	case in.RemoteStatus == space.RemotePendingDeletion:
		return name + ": its owner deleted it; the node no longer serves it (if the owner cancels the deletion, 'hearth space load' brings it back)"
	case in.AccountStatus == space.AccountJoining:
		return name + ": the join request waits for an admin's approval"
	case in.LocalStatus == space.LocalMissing:
		return name + ": it is offloaded: 'hearth space load' downloads it again"
	}
	return ""
}

// quoteName quotes a name chosen by someone else for an error line.
func quoteName(s string) string { return fmt.Sprintf("%q", s) }

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
