package core

import (
	"context"
	"time"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/core/syncengine"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Spaces kept on disk (issue 19): a space loads when something uses it (a
// command, a subscription naming it, news from the node) and unloads after
// Config.IdleUnload without use, or under memory pressure. The node's push
// stream watches the loaded spaces and tells of news in the others; the sync
// engine compares every kept space's digest with the node's on connect. So an
// account with a thousand spaces costs what the spaces in use cost.

// kept is the Syncer's list of the spaces kept on disk, with the digests
// they unloaded with.
func (s *accountServices) kept() []syncengine.Kept {
	ks, err := s.spaces.Kept()
	if err != nil {
		s.log.Warn("listing the spaces kept on disk", "err", err)
		return nil
	}
	out := make([]syncengine.Kept, len(ks))
	for i, k := range ks {
		out[i] = syncengine.Kept{ID: k.ID, Digest: k.Digest, Known: k.Known}
	}
	return out
}

// news is told that a space kept on disk changed on the node: it loads (on
// the lifecycle goroutine; never on the push stream's), syncs, and unloads
// again once idle.
func (s *accountServices) news(id crypto.SpaceID) {
	s.lifeMu.Lock()
	s.loadQueue[id] = true
	s.lifeMu.Unlock()
	select {
	case s.lifeWake <- struct{}{}:
	default:
	}
}

// loadKept loads a space the node has news of, if it is kept on disk.
func (s *accountServices) loadKept(ctx context.Context, id crypto.SpaceID) error {
	in, err := s.spaces.Info(id)
	if err != nil {
		return nil // not a space this device knows
	}
	if in.Account || in.AccountStatus != space.AccountActive || in.LocalStatus != space.LocalOK {
		return nil
	}
	_, err = s.spaces.Get(ctx, id)
	return err
}

// unloadLoop unloads spaces that fell idle: nothing used them for IdleUnload,
// nothing is left to push or upload, no subscription covers them and their
// sync engine has nothing to do. It sleeps until the next space may fall
// idle; with nothing loaded it has no timer. One goroutine, owned by
// accountServices.
func (s *accountServices) unloadLoop() {
	defer close(s.unloadDone)
	if s.idleUnload < 0 {
		<-s.stop
		return
	}
	for {
		next := s.unloadIdle(s.idleUnload)
		var wait <-chan time.Time
		if !next.IsZero() {
			wait = time.After(max(time.Until(next), time.Second))
		}
		select {
		case <-s.stop:
			return
		case <-s.unloadWake: // a space loaded: its idle deadline may come first
		case <-wait:
		}
	}
}

// unloadIdle unloads the spaces idle for at least idle and reports when the
// next loaded space may fall idle (zero: none is loaded).
func (s *accountServices) unloadIdle(idle time.Duration) time.Time {
	ids, next := s.spaces.Idle(idle)
	for _, id := range ids {
		if !s.mayUnload(id) {
			if at := s.now().Add(idle); next.IsZero() || at.Before(next) {
				next = at // busy now: look again in a while
			}
			continue
		}
		if err := s.spaces.Unload(id); err != nil {
			s.log.Warn("unloading an idle space", "space", id, "err", err)
			continue
		}
		s.log.Debug("unloaded an idle space: kept on disk", "space", id)
	}
	return next
}

// mayUnload reports whether unloading space id loses nothing: no
// subscription covers it, no file waits for upload or delete, and its sync
// engine is settled (nothing pending, not failing).
func (s *accountServices) mayUnload(id crypto.SpaceID) bool {
	if s.subs.Holds(string(id)) {
		return false
	}
	if w := s.fileWorker(id); w != nil && w.HasWork() {
		return false
	}
	if s.syncer != nil {
		if e := s.syncer.Engine(id); e != nil && !e.Settled() {
			return false
		}
	}
	return true
}
