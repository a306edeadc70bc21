package space

import (
	"context"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Control flows one way (DESIGN §7): an event (a user action, an ACL
// update, the node's status) changes a status dimension; Target maps the
// statuses to the mode the space should be in; Apply moves it there.

// Target is the mode a space's statuses call for.
func Target(in Info) Mode {
	switch {
	case in.Account:
		return ModeLoaded // the account space is always loaded
	case in.AccountStatus == AccountRemoved, in.AccountStatus == AccountDeleted:
		return ModeOffloaded
	case in.RemoteStatus == RemotePendingDeletion, in.RemoteStatus == RemoteDeleted:
		return ModeOffloaded // pending deletion is not served: free the data now
	case in.AccountStatus == AccountJoining:
		return ModeJoining
	case in.LocalStatus == LocalMissing:
		return ModeOffloaded // freed by the user: stays so until loaded again
	}
	// Kept on disk: it loads when something uses it (a command, a
	// subscription, news from the node) and unloads when idle.
	return ModeUnloaded
}

// Apply moves a space to its target mode: it offloads a space whose data
// must go and loads the account space; a space kept on disk stays as it is
// (loaded or not). It is idempotent.
func (s *Service) Apply(ctx context.Context, id crypto.SpaceID) error {
	in, err := s.Info(id)
	if err != nil {
		return err
	}
	switch Target(in) {
	case ModeOffloaded:
		if in.LocalStatus != LocalMissing {
			return s.Offload(ctx, id)
		}
	case ModeLoaded:
		_, err := s.Get(ctx, id)
		return err
	}
	return nil
}
