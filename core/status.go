package core

import (
	"context"
	"errors"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/syncstatus"
)

// Sync status (DESIGN §9) is tracked for loaded spaces only: the space
// hooks push loaded/unloaded into syncstatus, the sync engine reports its
// cycles and the connection, and each API session gets every loaded space's
// status once, then every change, through one ordered path.

// statusListener is one API session's interest in sync status.
type statusListener struct {
	send func(*pb.Event)
	sess *syncstatus.Session // while an account is open
}

// AddStatusListener registers a session for sync status: it receives the
// status of every loaded space once (now, or when an account opens), then
// every change. send must not block. The returned func unregisters it.
func (a *App) AddStatusListener(send func(*pb.Event)) (remove func()) {
	a.lmu.Lock()
	a.nextListener++
	id := a.nextListener
	l := &statusListener{send: send}
	a.listeners[id] = l
	if a.status != nil {
		l.sess = a.status.SessionStart(statusSender(send))
	}
	a.lmu.Unlock()
	return func() {
		a.lmu.Lock()
		defer a.lmu.Unlock()
		if l.sess != nil {
			l.sess.Close()
		}
		delete(a.listeners, id)
	}
}

// attachStatus makes st the status service every listener follows (nil when
// the account closes).
func (a *App) attachStatus(st *syncstatus.Service) {
	a.lmu.Lock()
	defer a.lmu.Unlock()
	a.status = st
	for _, l := range a.listeners {
		if l.sess != nil {
			l.sess.Close()
			l.sess = nil
		}
		if st != nil {
			l.sess = st.SessionStart(statusSender(l.send))
		}
	}
}

func statusSender(send func(*pb.Event)) func(syncstatus.Status) {
	return func(st syncstatus.Status) {
		send(&pb.Event{ContextId: string(st.Space), Messages: []*pb.Event_Message{{
			Value: &pb.Event_Message_SyncStatus{SyncStatus: ModelSyncStatus(st)},
		}}})
	}
}

// ModelSyncStatus is a space's sync status as the API shows it.
func ModelSyncStatus(st syncstatus.Status) *pb.Model_SpaceSyncStatus {
	m := &pb.Model_SpaceSyncStatus{
		SpaceId:        string(st.Space),
		Status:         st.State.String(),
		SyncingObjects: int64(st.SyncingObjects),
		PendingFiles:   int64(st.PendingFiles),
		Network:        st.Network.String(),
	}
	if st.State == syncstatus.Error || st.State == syncstatus.Limited {
		m.Error = st.Reason.String()
		m.ErrorMessage = st.Detail
	}
	if !st.LastSynced.IsZero() {
		m.LastSyncedMs = st.LastSynced.UnixMilli()
	}
	return m
}

// SyncStatus returns a loaded space's sync status; ok is false when the
// space is not loaded (nothing is tracked for it).
func (a *App) SyncStatus(id crypto.SpaceID) (syncstatus.Status, bool, error) {
	svc, err := a.services()
	if err != nil {
		return syncstatus.Status{}, false, err
	}
	st, ok := svc.status.Get(id)
	if !ok && svc.trackable(id) {
		// Asking for a kept space's status uses it: it loads (and shows
		// unknown until its first cycle).
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := svc.loadKept(ctx, id); err != nil {
			return syncstatus.Status{}, false, err
		}
		st, ok = svc.status.Get(id)
	}
	return st, ok, nil
}

// trackable reports whether a space's status is shown (not the account space).
func (s *accountServices) trackable(id crypto.SpaceID) bool {
	as, err := s.spaces.AccountSpaceID()
	return err == nil && as != id
}

// reportPending tells the status service how many objects wait for the
// node's acknowledgement.
func (s *accountServices) reportPending(sp *space.Space) {
	if !s.trackable(sp.ID()) {
		return
	}
	s.status.Pending(sp.ID(), sp.PendingCount())
}

// cycleDone is the engines' Synced event for status.
func (s *accountServices) cycleDone(id crypto.SpaceID) {
	if !s.trackable(id) {
		return
	}
	if sp, err := s.spaces.Get(context.Background(), id); err == nil {
		s.reportPending(sp)
	}
	s.status.CycleDone(id, time.Now())
}

func (s *accountServices) cycleFailed(id crypto.SpaceID, err error) {
	r, msg := failureReason(err)
	s.status.CycleFailed(id, r, msg)
}

// failureReason classifies a failed sync cycle or connection for the
// status: a failure that stops sync until something changes (it fails the
// same way however often it is retried) is an error with a reason and a
// message; anything else (the network, a busy node) is transient and shows
// as syncing or offline.
func failureReason(err error) (syncstatus.Reason, string) {
	msg := errkind.Message(err)
	switch {
	case err == nil:
		return syncstatus.ReasonNone, ""
	case errors.Is(err, syncclient.ErrNodeKeyMismatch):
		return syncstatus.ReasonNodeKey, "the node's key is not the one this device pinned: it may be another node, or an impostor"
	case errors.Is(err, space.ErrNoReadKey):
		return syncstatus.ReasonNoReadKey, msg
	case isQuota(err, "sessions", "streams"):
		return syncstatus.ReasonSessionLimit, msg
	case errkind.Is(err, errkind.Quota), isQuota(err):
		return syncstatus.ReasonStorageLimit, msg
	case isNodeFull(err):
		return syncstatus.ReasonStorageLimit, msg
	case status.Code(err) == codes.PermissionDenied:
		return syncstatus.ReasonRemoved, msg
	case errkind.Is(err, errkind.Permission), errkind.Is(err, errkind.Corrupt):
		return syncstatus.ReasonRejected, msg
	case status.Code(err) == codes.Unimplemented:
		return syncstatus.ReasonIncompatibleVersion, msg
	}
	return syncstatus.ReasonNone, ""
}

// isQuota reports whether err is a node's QUOTA_EXCEEDED refusal, of one of limits when
// any are given. A RESOURCE_EXHAUSTED without that reason is the node slowing a client
// down: transient.
func isQuota(err error, limits ...string) bool {
	reason, meta := syncpb.ReasonOf(err)
	if reason != syncpb.ReasonQuotaExceeded {
		return false
	}
	return len(limits) == 0 || slices.Contains(limits, meta["limit"])
}

// isNodeFull reports whether err is a node's NO_SPACE refusal (its disk is full).
func isNodeFull(err error) bool {
	reason, _ := syncpb.ReasonOf(err)
	return reason == syncpb.ReasonNoSpace
}

func nodeState(c syncpb.SpaceStatusCode) syncstatus.NodeState {
	switch c {
	case syncpb.SpaceStatusCode_SPACE_STATUS_CODE_PENDING_DELETION:
		return syncstatus.NodePendingDeletion
	case syncpb.SpaceStatusCode_SPACE_STATUS_CODE_DELETED:
		return syncstatus.NodeDeleted
	case syncpb.SpaceStatusCode_SPACE_STATUS_CODE_NOT_FOUND:
		return syncstatus.NodeNotFound
	}
	return syncstatus.NodeOK
}
