package syncstatus

import (
	"sync"
	"time"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Config configures a Service.
type Config struct {
	// Sink, if set, receives every status event (not the per-session
	// snapshots), in order. It must not block: hand the status to a queue.
	Sink func(Status)
	// LocalOnly: the account runs without a node; every space shows
	// Offline with NetworkLocalOnly and Connected is ignored.
	LocalOnly bool
}

// Stats counts the work a Service has done. The service has no timers and
// no goroutines, so this is all of it.
type Stats struct {
	// Observations: inputs about a loaded space, and network changes.
	Observations uint64
	// Ignored: inputs about spaces not loaded (a map lookup each) and
	// repeated inputs that change nothing before touching a space.
	Ignored uint64
	// SpacesTouched: per-space status recomputations.
	SpacesTouched uint64
	// Events: status changes emitted (each delivered to the sink and to
	// every open session).
	Events uint64
	// SnapshotStatuses: statuses sent to new sessions.
	SnapshotStatuses uint64
}

// Service tracks the sync status of loaded spaces. The lifecycle pushes
// Loaded/Unloaded/Removed, the sync engine and the stores push observations;
// the service never calls back and never reads a clock.
//
// All methods are safe for concurrent use. Statuses are delivered outside
// the service's lock, one delivery at a time, in the order the changes were
// made: a call whose events find another call delivering leaves them to it,
// so a call may return before its events are delivered. Sinks and session
// senders may call back into the Service, but must not call Close or
// Session.Close.
type Service struct {
	sink func(Status)

	mu       sync.Mutex // guards every field below
	t        *tracker
	scratch  []Status
	queue    []item     // statuses not yet delivered, in order
	spare    []item     // the previous batch's buffer, reused
	seq      uint64     // sequence of the next broadcast item
	sessions []*Session // copy-on-write: a delivering batch keeps its slice
	emitting bool       // a call is delivering the queue
	idle     sync.Cond  // signalled when emitting becomes false (on mu)
	closed   bool
}

// item is one status to deliver: to one session (a snapshot), or to the
// sink and every session registered before it was queued (from <= seq).
type item struct {
	st  Status
	seq uint64
	to  *Session
}

// New returns a Service tracking no space, offline until Connected(true)
// (or local-only).
func New(cfg Config) *Service {
	s := &Service{sink: cfg.Sink, t: newTracker(cfg.LocalOnly)}
	s.idle.L = &s.mu
	return s
}

// input runs one input on the tracker and delivers the statuses it changed;
// after Close inputs are ignored.
func (s *Service) input(fn func(t *tracker, out []Status) []Status) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.scratch = fn(s.t, s.scratch[:0])
	s.publishLocked()
}

// Loaded starts tracking a space the lifecycle loaded: Unknown until
// something is observed. Report the space's pending count right after.
func (s *Service) Loaded(id crypto.SpaceID) {
	s.input(func(t *tracker, out []Status) []Status { return t.loaded(id, out) })
}

// Unloaded stops tracking a space, without an event. Later observations of
// it are ignored.
func (s *Service) Unloaded(id crypto.SpaceID) {
	s.input(func(t *tracker, out []Status) []Status { t.drop(id); return out })
}

// Removed stops tracking a space the account was removed from or that was
// deleted, without an event: DESIGN §9, removal is a space mode/status
// event, never a sync status.
func (s *Service) Removed(id crypto.SpaceID) { s.Unloaded(id) }

// Connected reports the account's node connection (syncengine's
// Connected callback). It applies to every loaded space, and a connection
// clears a failure ConnectFailed reported.
func (s *Service) Connected(ok bool) {
	s.input(func(t *tracker, out []Status) []Status { return t.connected(ok, out) })
}

// ConnectFailed reports why the account cannot connect to its node. A
// failure that will not go away by retrying (the node's key is not the
// pinned one) shows every loaded space as Error with reason r and detail
// (a message for people); ReasonNone is an ordinary outage (Offline).
func (s *Service) ConnectFailed(r Reason, detail string) {
	s.input(func(t *tracker, out []Status) []Status { return t.connectFailed(r, detail, out) })
}

// Pending reports how many objects of a space have local changes the node
// has not acknowledged (spacestore's Pending count), after each local write
// and each acknowledgement. Report from the space's actor so counts arrive
// in order. While it is above zero the space is never Synced.
func (s *Service) Pending(id crypto.SpaceID, syncingObjects int) {
	s.input(func(t *tracker, out []Status) []Status { return t.pendingObjects(id, syncingObjects, out) })
}

// FilesPending reports how many files of a space wait for upload.
func (s *Service) FilesPending(id crypto.SpaceID, n int) {
	s.input(func(t *tracker, out []Status) []Status { return t.pendingFiles(id, n, out) })
}

// CycleDone reports that the space's sync engine finished a cycle with
// nothing left to push or fetch (syncengine's Synced callback) at time at.
// With nothing pending and the account online the space becomes Synced.
func (s *Service) CycleDone(id crypto.SpaceID, at time.Time) {
	s.input(func(t *tracker, out []Status) []Status { return t.cycleDone(id, at, out) })
}

// CycleFailed reports a failed sync cycle. ReasonNone means transient (the
// engine retries): Syncing until a cycle finishes. Another reason shows the
// space as Error with it, and with detail (a message for people), until a
// cycle finishes.
func (s *Service) CycleFailed(id crypto.SpaceID, r Reason, detail string) {
	s.input(func(t *tracker, out []Status) []Status { return t.cycleFailed(id, r, detail, out) })
}

// NodeStatus reports the node's status of a space: pending deletion and
// deleted drop the space without an event (the lifecycle reports the
// deletion as a space status and offloads), OK and not found change nothing.
func (s *Service) NodeStatus(id crypto.SpaceID, ns NodeState) {
	s.input(func(t *tracker, out []Status) []Status { return t.nodeStatus(id, ns, out) })
}

// Get returns a loaded space's status; false when the space is not loaded
// (`hearth space status` answers with an error then).
func (s *Service) Get(id crypto.SpaceID) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Status{}, false
	}
	return s.t.get(id)
}

// Snapshot returns every loaded space's status, sorted by space id. To
// greet a session use SessionStart, which cannot lose or repeat a change.
func (s *Service) Snapshot() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.t.snapshot(nil)
}

// Stats returns the work done so far.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.stats
}

// Session is one client session's subscription to status events.
type Session struct {
	svc  *Service
	send func(Status)
	from uint64 // broadcast items with seq >= from are for this session

	mu     sync.Mutex // held while calling send; guards closed
	closed bool
}

// SessionStart registers a session: send first receives the status of
// every loaded space, once each, then every later change, in order. The
// snapshot is taken and the session registered under one lock, and both go
// through the same ordered queue as live events, so a change is either in
// the snapshot or delivered after it, never both and never neither. send
// must not block (hand the status to the session's event queue).
func (s *Service) SessionStart(send func(Status)) *Session {
	sess := &Session{svc: s, send: send}
	s.mu.Lock()
	if s.closed {
		sess.closed = true
		s.mu.Unlock()
		return sess
	}
	sess.from = s.seq
	s.sessions = append(s.sessions[:len(s.sessions):len(s.sessions)], sess)
	s.scratch = s.t.snapshot(s.scratch[:0])
	for _, st := range s.scratch {
		s.queue = append(s.queue, item{st: st, to: sess})
	}
	s.t.stats.SnapshotStatuses += uint64(len(s.scratch))
	s.deliverLocked()
	return sess
}

// Close stops deliveries to the session; send is not called after Close
// returns. Idempotent. Must not be called from send.
func (sess *Session) Close() {
	s := sess.svc
	sess.mu.Lock()
	sess.closed = true
	sess.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.sessions {
		if x == sess {
			s.sessions = append(s.sessions[:i:i], s.sessions[i+1:]...)
			break
		}
	}
}

func (sess *Session) deliver(st Status) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if !sess.closed {
		sess.send(st)
	}
}

// Close stops the service: later inputs are ignored, sessions receive
// nothing more, and after Close returns neither the sink nor any session is
// called. Idempotent. Must not be called from the sink or a sender.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.queue, s.sessions = nil, nil
	for s.emitting {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

// publishLocked queues the statuses in s.scratch as broadcast items and
// delivers. Called with mu held; returns with it released.
func (s *Service) publishLocked() {
	if len(s.scratch) == 0 {
		s.mu.Unlock()
		return
	}
	for _, st := range s.scratch {
		s.queue = append(s.queue, item{st: st, seq: s.seq})
		s.seq++
	}
	s.deliverLocked()
}

// deliverLocked delivers the queue unless another call is delivering (it
// will deliver these too). Called with mu held; returns with it released.
// The lock is never held while calling out.
func (s *Service) deliverLocked() {
	if s.emitting {
		s.mu.Unlock()
		return
	}
	s.emitting = true
	for len(s.queue) > 0 && !s.closed {
		batch, sessions := s.queue, s.sessions
		s.queue = s.spare[:0]
		s.mu.Unlock()
		for i := range batch {
			it := &batch[i]
			if it.to != nil {
				it.to.deliver(it.st)
				continue
			}
			if s.sink != nil {
				s.sink(it.st)
			}
			for _, sess := range sessions {
				if it.seq >= sess.from {
					sess.deliver(it.st)
				}
			}
		}
		clear(batch)
		s.mu.Lock()
		s.spare = batch[:0]
	}
	s.emitting = false
	s.idle.Broadcast()
	s.mu.Unlock()
}
