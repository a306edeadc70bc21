package core

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hearth-sync/hearth/core/files"
	"github.com/hearth-sync/hearth/core/maintenance"
	"github.com/hearth-sync/hearth/core/membership"
	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/core/subscription"
	"github.com/hearth-sync/hearth/core/syncengine"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"github.com/hearth-sync/hearth/syncstatus"
)

// accountServices are the services of one open account. It wires; the logic
// lives in the packages it holds.
type accountServices struct {
	log     *slog.Logger
	me      crypto.PubKey   // the account key
	events  func(*pb.Event) // nil: events are dropped
	spaces  *space.Service
	members *membership.Service
	syncer  *syncengine.Syncer // nil when local-only
	status  *syncstatus.Service
	subs    *subscription.Service
	sp      syncProgress // sync cycles per connection, for file deletes
	// deleteGrace is how long queued remote file deletes wait (Config.FileDeleteGrace).
	deleteGrace time.Duration
	now         func() time.Time
	detach      func() // unhooks status listeners from this account (set once open)
	forget      func() // the App forgets this account's syncer (nil when local-only)
	pinned      *pinnedKey
	maint       *maintenance.Runner // one maintenance agent at a time (maintenance.go)
	files       *files.Service      // the account's blobs (files_wiring.go)
	fw          fileWorkers

	wake chan struct{} // capacity 1: discovery has work
	stop chan struct{}
	done chan struct{} // closed when discovery exited

	accMu     sync.Mutex   // guards accDigest
	accDigest *diff.Digest // the account space's digest when discovery last ran (nil: never)

	lifeMu    sync.Mutex // guards lifeQueue, loadQueue
	lifeQueue map[crypto.SpaceID]bool
	loadQueue map[crypto.SpaceID]bool // kept spaces the node has news of (keep.go)
	lifeWake  chan struct{}           // capacity 1: the applier has work
	lifeDone  chan struct{}           // closed when the applier exited

	idleUnload time.Duration // Config.IdleUnload (keep.go)
	unloadWake chan struct{} // capacity 1: a space loaded
	unloadDone chan struct{} // closed when the unloader exited

	once sync.Once
}

// loaded is the spaces' Loaded hook: a loaded space gets a sync engine and
// its status is tracked.
func (s *accountServices) loaded(sp *space.Space) {
	select { // its idle deadline may come before the unloader's next look
	case s.unloadWake <- struct{}{}:
	default:
	}
	s.startFiles(sp)
	if s.trackable(sp.ID()) {
		s.status.Loaded(sp.ID())
		s.reportPending(sp)
		s.subs.SpaceLoaded(string(sp.ID()), sp.Index())
	}
	if s.syncer == nil {
		sp.OnLocalChange(func() { s.reportPending(sp) })
		return
	}
	e := s.syncer.Add(sp)
	id := sp.ID()
	sp.OnLocalChange(func() {
		e.LocalChanged()
		s.reportPending(sp)
		if w := s.fileWorker(id); w != nil {
			w.Nudge() // a delete of a file object queued a remote delete
		}
	})
}

// unloading is the spaces' Unloading hook: sync stops, status is dropped.
func (s *accountServices) unloading(id crypto.SpaceID) {
	s.stopFiles(id)
	if s.syncer != nil {
		s.syncer.Remove(id)
	}
	s.status.Unloaded(id)
	s.subs.SpaceUnloading(string(id))
}

// node is the current node connection for membership (nil while offline).
func (s *accountServices) node() membership.Node {
	if s.syncer == nil {
		return nil
	}
	if c, ok := s.syncer.Remote().(nodeConn); ok {
		return c
	}
	return nil
}

// synced runs when a space's sync cycle finished: its status may be synced
// now; after the account space, look for spaces other devices added.
func (s *accountServices) synced(id crypto.SpaceID) {
	if as, err := s.spaces.AccountSpaceID(); err == nil && as == id {
		s.accountSpaceSynced(id)
		return
	}
	s.cycleDone(id)
	s.cycled(id)
}

// accountSpaceSynced runs discovery when the account space changed since
// discovery last looked (its digest is in memory): an idle head sync of the
// account space reads nothing.
func (s *accountServices) accountSpaceSynced(id crypto.SpaceID) {
	sp, err := s.spaces.Get(context.Background(), id)
	if err != nil {
		return
	}
	d, _ := sp.Digest(context.Background())
	s.accMu.Lock()
	changed := s.accDigest == nil || *s.accDigest != d
	s.accDigest = &d
	s.accMu.Unlock()
	if changed {
		s.nudge()
	}
}

// accountPush receives the account-level pushes: ACL updates and space
// statuses, for every space of the account.
func (s *accountServices) accountPush(p *syncpb.Push) {
	if u := p.GetAclUpdate(); u != nil {
		s.nudge() // a join request may have been answered
		// A kept space's ACL moved (a kick?): it loads, follows its ACL and
		// the lifecycle sees what it means.
		s.news(crypto.SpaceID(u.SpaceId))
	}
	if st := p.GetSpaceStatus(); st != nil {
		s.nodeStatus(st)
	}
}

func (s *accountServices) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// discoverLoop imports spaces the account space references that this device
// lacks (a recovered device finds its spaces) and activates joined spaces
// once approved. One goroutine, owned by accountServices.
func (s *accountServices) discoverLoop() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.stop; cancel() }()
	var recheck <-chan time.Time // armed only while a join waits for an answer
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-recheck:
		}
		waiting, err := s.discover(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Info("space discovery incomplete", "err", err)
		}
		recheck = nil
		switch {
		case waiting:
			recheck = time.After(joinRecheck)
		case err != nil:
			// Discovery runs on events (a connection, a change of the
			// account space); what failed is tried again on a timer.
			recheck = time.After(discoverRetry)
		}
	}
}

// joinRecheck is how often a device asks whether a pending join was
// answered (the node pushes nothing to a joiner that is not a member yet).
const joinRecheck = 5 * time.Second

// discoverRetry is how long discovery waits to try again what failed (a
// referenced space the node could not hand over).
const discoverRetry = 30 * time.Second

// discover imports referenced spaces and settles pending joins; waiting
// reports whether a join is still unanswered.
func (s *accountServices) discover(ctx context.Context) (waiting bool, err error) {
	conn, ok := s.node().(nodeConn)
	if !ok {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	refs, err := s.spaces.Refs(ctx)
	if err != nil {
		return false, err
	}
	var errs []error
	for _, ref := range refs {
		known, err := s.spaces.Info(ref.Space)
		if ref.Status == space.AccountDeleted || ref.Status == space.AccountRemoved {
			// Another device of the account left the space or was removed
			// from it, after this device last changed it: this device follows.
			if err == nil && known.AccountStatus == space.AccountActive && ref.StatusAt > known.StatusAt {
				if err := s.spaces.SetAccountStatus(ctx, ref.Space, ref.Status); err != nil {
					errs = append(errs, err)
				}
				s.enqueue(ref.Space, false)
			}
			continue
		}
		if ref.Status != space.AccountActive || err == nil {
			continue
		}
		pulled, err := conn.SpacePull(ctx, ref.Space)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := s.spaces.ImportJoined(ctx, pulled.Header, pulled.AclRecords, ref.Name, space.AccountActive, ref.InviteKey); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := s.spaces.Get(ctx, ref.Space); err != nil {
			errs = append(errs, err)
		}
	}
	entries, err := s.spaces.List()
	if err != nil {
		return false, errors.Join(append(errs, err)...)
	}
	for _, e := range entries {
		if e.AccountStatus != space.AccountJoining {
			continue
		}
		switch s.members.Answer(ctx, e.ID) {
		case membership.AnswerApproved:
		case membership.AnswerDeclined:
			if err := s.spaces.SetAccountStatus(ctx, e.ID, space.AccountDeleted); err != nil {
				errs = append(errs, err)
			}
			s.enqueue(e.ID, false) // Joining → Offloaded
			continue
		default:
			waiting = true
			continue
		}
		if err := s.spaces.SetAccountStatus(ctx, e.ID, space.AccountActive); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := s.spaces.Get(ctx, e.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return waiting, errors.Join(errs...)
}

// Close stops discovery and sync, then unloads every space. Idempotent.
func (s *accountServices) Close() error {
	s.once.Do(func() { close(s.stop) })
	if s.detach != nil {
		s.detach()
	}
	<-s.done
	<-s.lifeDone
	<-s.unloadDone
	if s.forget != nil {
		s.forget()
	}
	if s.syncer != nil {
		s.syncer.Close()
	}
	err := s.spaces.Close()
	s.files.Close()
	s.subs.Close()
	s.status.Close()
	return err
}
