package core

import (
	"context"
	"time"

	"github.com/hearth-sync/hearth/core/membership"
	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/core/syncengine"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// The lifecycle applier: events (an applied ACL record, the node's status of
// a space) set a status dimension; space.Target maps statuses to a mode;
// space.Service.Apply moves the space there. One goroutine per account
// applies transitions serially, so no two transitions of a space overlap;
// the sync engine and the push stream only enqueue (they never block on it,
// and nothing it calls calls back into them).

// enqueue asks the applier to re-evaluate a space. aclCurrent says the
// space's ACL was just brought up to the node's head (only then may a
// missing role mean a removal). Non-blocking.
func (s *accountServices) enqueue(id crypto.SpaceID, aclCurrent bool) {
	s.lifeMu.Lock()
	s.lifeQueue[id] = s.lifeQueue[id] || aclCurrent
	s.lifeMu.Unlock()
	select {
	case s.lifeWake <- struct{}{}:
	default:
	}
}

// aclApplied is the engines' event: the node's ACL log was applied up to
// its head.
func (s *accountServices) aclApplied(id crypto.SpaceID) { s.enqueue(id, true) }

// nodeStatus is the engines' and the push stream's space status.
func (s *accountServices) nodeStatus(st *syncpb.SpaceStatus) {
	id := crypto.SpaceID(st.SpaceId)
	var remote space.RemoteStatus
	switch st.Status {
	case syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK:
		remote = space.RemoteOK
	case syncpb.SpaceStatusCode_SPACE_STATUS_CODE_PENDING_DELETION:
		remote = space.RemotePendingDeletion
	case syncpb.SpaceStatusCode_SPACE_STATUS_CODE_DELETED:
		remote = space.RemoteDeleted
	default:
		return
	}
	if _, err := s.spaces.Info(id); err != nil {
		return // not a space this device knows
	}
	s.status.NodeStatus(id, nodeState(st.Status))
	if err := s.spaces.SetRemoteStatus(id, remote); err != nil {
		s.log.Warn("recording a space's node status", "space", id, "err", err)
		return
	}
	// The status may say the ACL moved (a removal while we were away): the
	// engine fetches it only if the node's head is ahead of ours (this very
	// status may be the answer to its own fetch), and its AclApplied event
	// brings the space back here.
	if s.syncer != nil && st.AclSeq > 0 {
		if e := s.syncer.Engine(id); e != nil {
			e.AclHeadAt(st.AclSeq)
		}
	}
	s.enqueue(id, false)
}

func (s *accountServices) lifecycleLoop() {
	defer close(s.lifeDone)
	for {
		select {
		case <-s.stop:
			return
		case <-s.lifeWake:
		}
		s.lifeMu.Lock()
		queue, loads := s.lifeQueue, s.loadQueue
		s.lifeQueue, s.loadQueue = map[crypto.SpaceID]bool{}, map[crypto.SpaceID]bool{}
		s.lifeMu.Unlock()
		for id := range loads {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := s.loadKept(ctx, id); err != nil {
				s.log.Warn("loading a space the node has news of", "space", id, "err", err)
			}
			cancel()
		}
		for id, aclCurrent := range queue {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := s.evaluate(ctx, id, aclCurrent); err != nil {
				s.log.Warn("space lifecycle", "space", id, "err", err)
			}
			cancel()
		}
	}
}

// evaluate derives the account status from the space's ACL (kick
// detection, only when the ACL is known to be current), then applies the
// target mode.
func (s *accountServices) evaluate(ctx context.Context, id crypto.SpaceID, aclCurrent bool) error {
	in, err := s.spaces.Info(id)
	if err != nil || in.Account {
		return err
	}
	if !aclCurrent || in.AccountStatus != space.AccountActive {
		return s.spaces.Apply(ctx, id)
	}
	if sp, err := s.spaces.Get(ctx, id); err == nil {
		// The engine applied the node's log up to its head before telling
		// us, so this copy of the ACL is current: a missing role is real.
		st, err := sp.AclState(ctx)
		if err != nil {
			return err
		}
		if st.Role(s.me) == acl.RoleNone {
			history, err := sp.AclHistory(ctx)
			if err != nil {
				return err
			}
			// Left (by another device of the account) or removed by an admin.
			status := space.AccountRemoved
			for _, m := range membership.Members(st, history) {
				if m.Identity == s.me.Identity() && (m.Status == membership.StatusLeft || m.Status == membership.StatusDeclined) {
					status = space.AccountDeleted
				}
			}
			s.log.Info("no longer a member of a space: offloading it", "space", id, "status", status)
			if err := s.spaces.SetAccountStatus(ctx, id, status); err != nil {
				return err
			}
		}
	}
	return s.spaces.Apply(ctx, id)
}

// spaceChanged turns a space's new mode or status into an event.
func (s *accountServices) spaceChanged(e space.Entry) {
	if s.events == nil {
		return
	}
	s.events(&pb.Event{ContextId: string(e.ID), Messages: []*pb.Event_Message{{
		Value: &pb.Event_Message_SpaceState{SpaceState: &pb.Event_Space_State{Space: ModelSpace(e)}},
	}}})
}

// ModelSpace is a space entry as the API shows it.
func ModelSpace(e space.Entry) *pb.Model_Space {
	return &pb.Model_Space{
		SpaceId:       string(e.ID),
		Name:          e.Name,
		Mode:          pb.Model_SpaceMode(e.Mode),
		AccountStatus: pb.Model_AccountStatus(e.AccountStatus),
		LocalStatus:   pb.Model_LocalStatus(e.LocalStatus),
		RemoteStatus:  pb.Model_RemoteStatus(e.RemoteStatus),
	}
}

// ReloadSpace downloads an offloaded space from the node again, under a new
// incarnation, and loads it. With wait it returns only once the space holds
// everything the node had when the load began (progress, which may be nil,
// follows the fetch); otherwise as soon as it is loaded.
func (a *App) ReloadSpace(ctx context.Context, id crypto.SpaceID, wait bool, progress *Progress) error {
	svc, err := a.services()
	if err != nil {
		return err
	}
	in, err := svc.spaces.Info(id)
	if err != nil {
		return err
	}
	if in.LocalStatus != space.LocalMissing {
		_, err := svc.spaces.Get(ctx, id)
		return err
	}
	if in.AccountStatus != space.AccountActive {
		return errkindf("space.load", "space %s was left or removed: join it again", id)
	}
	conn, ok := svc.node().(nodeConn)
	if !ok {
		return errTransient("space.load", "the sync node is not reachable: loading needs it")
	}
	pulled, err := conn.SpacePull(ctx, id)
	if err != nil {
		return errTransient("space.load", err.Error())
	}
	// A space joined through a no-approval invite reads its key through the
	// invite's key until a rotation seals one to the account: the account
	// space keeps it for every device (and for this one after an offload).
	inviteKey, err := svc.spaces.RefInviteKey(ctx, id)
	if err != nil {
		return err
	}
	if _, err := svc.spaces.ImportJoined(ctx, pulled.Header, pulled.AclRecords, in.Name, space.AccountActive, inviteKey); err != nil {
		return err
	}
	if _, err := svc.spaces.Get(ctx, id); err != nil {
		return err
	}
	var e *syncengine.Engine
	if svc.syncer != nil {
		e = svc.syncer.Engine(id)
	}
	if !wait || e == nil {
		return nil
	}
	var total int64
	err = e.WaitCaughtUp(ctx, func(done, n int) {
		total = int64(n)
		progress.Set("fetching", int64(done), total)
	})
	if err != nil {
		return errTransient("space.load", "the space is loaded but still fetching: "+err.Error())
	}
	progress.Finish(total, total)
	return nil
}

// OffloadSpace frees a space's local data at the user's request. Unless
// forced, it refuses while the node lacks local changes.
func (a *App) OffloadSpace(ctx context.Context, id crypto.SpaceID, force bool) error {
	svc, err := a.services()
	if err != nil {
		return err
	}
	if !force {
		sp, err := svc.spaces.Get(ctx, id)
		if err != nil {
			return err
		}
		pending, err := sp.PendingObjects(ctx)
		if err != nil {
			return err
		}
		if len(pending) > 0 {
			return errkindf("space.offload", "space %s has %d objects with changes the node has not acknowledged: sync first, or --force", id, len(pending))
		}
	}
	return svc.spaces.Offload(ctx, id)
}

func errkindf(op, format string, args ...any) error {
	return errkind.Errorf(op, errkind.Precondition, format, args...)
}

func errTransient(op, msg string) error { return errkind.Errorf(op, errkind.Transient, "%s", msg) }

// WatchJoins has the device start asking whether pending joins were answered.
func (a *App) WatchJoins() {
	if svc, err := a.services(); err == nil {
		svc.nudge()
	}
}
