package space

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// The offload sequence (DESIGN §7) frees a space's local data: stop its
// sync, end its subscriptions, release its file references, close and
// delete its store and index, mark it Missing. Each step is written to the
// journal in the account database before it runs, every step is idempotent
// ("already gone" is done), and Resume finishes an offload a crash
// interrupted. An offload sends nothing to the node: after a kick or a leave
// it is local-only by construction.

// OffloadStep is one journaled step of an offload.
type OffloadStep uint8

// The steps, in order.
const (
	StepStopSync OffloadStep = iota + 1
	StepEndSubscriptions
	StepReleaseFiles
	StepDeleteIndex
	StepDeleteStore
	StepMarkMissing
)

var stepNames = [...]string{"", "stop sync", "end subscriptions", "release files", "delete index", "delete store", "mark missing"}

func (s OffloadStep) String() string {
	if int(s) < len(stepNames) && s > 0 {
		return stepNames[s]
	}
	return "step(" + strconv.Itoa(int(s)) + ")"
}

// offloadJournal is the journal entry of an unfinished offload.
type offloadJournal struct {
	Incarnation string      `json:"incarnation"`
	Step        OffloadStep `json:"step"` // the step about to run (or running)
}

const offloadKeyPrefix = "offload/"

func offloadKey(id crypto.SpaceID) []byte { return []byte(offloadKeyPrefix + string(id)) }

// OffloadHooks are the subsystems an offload tells, in sequence order. Nil
// hooks are skipped; none may call back into the Service.
type OffloadHooks struct {
	// EndSubscriptions ends the space's live queries with a final event.
	EndSubscriptions func(crypto.SpaceID)
	// ReleaseFiles drops the space's file references locally.
	ReleaseFiles func(crypto.SpaceID) error
	// Crash, when set, runs before each step (tests crash the process here).
	Crash func(OffloadStep)
}

// Offload frees a space's local data; the account status is left as the
// caller set it (Removed after a kick, Deleted after a leave, Active for a
// user's offload).
func (s *Service) Offload(ctx context.Context, id crypto.SpaceID) error {
	// One offload of a space at a time: a concurrent caller (the leave
	// command and the lifecycle reacting to the same leave) shares it.
	_, err, _ := s.offloads.Do(string(id), func() (any, error) { return nil, s.offload(ctx, id) })
	return err
}

func (s *Service) offload(ctx context.Context, id crypto.SpaceID) error {
	in, err := s.Info(id)
	if err != nil {
		return err
	}
	if in.Account {
		return errkind.Errorf("space.offload", errkind.Invalid, "the account space cannot be offloaded")
	}
	if in.LocalStatus == LocalMissing {
		return nil // done before
	}
	j := offloadJournal{Incarnation: in.Incarnation, Step: StepStopSync}
	if err := s.putJournal(id, j); err != nil {
		return err
	}
	return s.runOffload(ctx, id, j)
}

// ResumeOffloads finishes every offload a crash interrupted. It runs when
// the account opens, before any space loads.
func (s *Service) ResumeOffloads(ctx context.Context) error {
	pending, err := s.journals()
	if err != nil {
		return err
	}
	var errs []error
	for id, j := range pending {
		s.cfg.Log.Info("resuming an interrupted offload", "space", id, "step", j.Step)
		_, err, _ := s.offloads.Do(string(id), func() (any, error) { return nil, s.runOffload(ctx, id, j) })
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Service) runOffload(ctx context.Context, id crypto.SpaceID, j offloadJournal) error {
	return s.runOffloadTry(ctx, id, j, 1)
}

// runOffloadTry runs the journaled steps from j's; when one fails it is
// retried with backoff (the space would otherwise stay "offloading" until
// the next start), from the step the journal holds.
func (s *Service) runOffloadTry(ctx context.Context, id crypto.SpaceID, j offloadJournal, attempt int) error {
	s.beginOffload(id)
	for step := j.Step; step <= StepMarkMissing; step++ {
		j.Step = step
		if err := s.putJournal(id, j); err != nil {
			s.retryOffload(id, j, attempt)
			return err
		}
		if s.cfg.Offload.Crash != nil {
			s.cfg.Offload.Crash(step)
		}
		if err := s.offloadStep(ctx, id, j.Incarnation, step); err != nil {
			s.retryOffload(id, j, attempt)
			return errkind.E("space.offload", errkind.Of(err), fmt.Errorf("%s: %w", step, err))
		}
	}
	return s.cfg.DB.Update(func(txn *badger.Txn) error { return txn.Delete(offloadKey(id)) })
}

// offloadRetry is the wait before retry n (1-based) of a failed offload:
// doubling from 1 s, capped at 5 min.
func offloadRetry(n int) time.Duration {
	d := time.Second << min(n-1, 9)
	return min(d, 5*time.Minute)
}

// retryOffload schedules another run of an offload whose step failed.
func (s *Service) retryOffload(id crypto.SpaceID, j offloadJournal, attempt int) {
	wait := offloadRetry(attempt)
	s.cfg.Log.Warn("an offload step failed: retrying", "space", id, "step", j.Step, "in", wait, "attempt", attempt)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return // the next start resumes it from the journal
	}
	if s.retries == nil {
		s.retries = map[crypto.SpaceID]*time.Timer{}
	}
	if t := s.retries[id]; t != nil && t.Stop() {
		s.retrying.Done()
	}
	s.retrying.Add(1)
	var t *time.Timer
	t = time.AfterFunc(wait, func() {
		defer s.retrying.Done()
		s.mu.Lock()
		if s.closed || s.retries[id] != t {
			s.mu.Unlock()
			return
		}
		delete(s.retries, id)
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _, _ = s.offloads.Do(string(id), func() (any, error) { return nil, s.runOffloadTry(ctx, id, j, attempt+1) })
	})
	s.retries[id] = t
}

// offloadStep runs one step; each is idempotent.
func (s *Service) offloadStep(ctx context.Context, id crypto.SpaceID, inc string, step OffloadStep) error {
	switch step {
	case StepStopSync:
		// Unloading stops the actor (and, through the hook, the space's sync
		// engine); the index closes here and is deleted two steps on.
		sp := s.takeLoaded(id)
		if sp != nil {
			return s.unload(sp)
		}
		return nil
	case StepEndSubscriptions:
		if s.cfg.Offload.EndSubscriptions != nil {
			s.cfg.Offload.EndSubscriptions(id)
		}
		return nil
	case StepReleaseFiles:
		if s.cfg.Offload.ReleaseFiles != nil {
			return s.cfg.Offload.ReleaseFiles(id)
		}
		return nil
	case StepDeleteIndex:
		// Removed is terminal for this incarnation in the registry: no late
		// reader can re-create the index.
		return s.registry.Delete(ctx, string(id))
	case StepDeleteStore:
		dir := filepath.Join(s.cfg.SpacesDir, string(id), inc)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		// The space's folder goes too once no incarnation is left in it.
		if err := os.Remove(filepath.Join(s.cfg.SpacesDir, string(id))); err != nil && !errors.Is(err, os.ErrNotExist) && !isNotEmpty(err) {
			return err
		}
		return nil
	case StepMarkMissing:
		if _, _, err := s.update(id, func(in *Info) bool { in.LocalStatus = LocalMissing; return true }); err != nil {
			return err
		}
		s.mu.Lock()
		delete(s.offloading, id)
		s.mu.Unlock()
		s.changed(id)
		return nil
	}
	return fmt.Errorf("unknown offload step %d", step)
}

func isNotEmpty(err error) bool { return errors.Is(err, syscall.ENOTEMPTY) }

// beginOffload marks the space offloading, so no new load starts, and waits
// for a load already under way to finish.
func (s *Service) beginOffload(id crypto.SpaceID) {
	for {
		s.mu.Lock()
		s.offloading[id] = true
		wait := s.loading[id]
		s.mu.Unlock()
		if wait == nil {
			s.changed(id)
			return
		}
		<-wait
	}
}

// takeLoaded removes a loaded space from the loaded set and returns it.
func (s *Service) takeLoaded(id crypto.SpaceID) *Space {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.loaded[id]
	delete(s.loaded, id)
	return sp
}

func (s *Service) putJournal(id crypto.SpaceID, j offloadJournal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return s.cfg.DB.Update(func(txn *badger.Txn) error { return txn.Set(offloadKey(id), b) })
}

// decodeJournal parses a journal entry, checking its step is known.
func decodeJournal(b []byte) (offloadJournal, error) {
	var j offloadJournal
	if err := json.Unmarshal(b, &j); err != nil {
		return j, err
	}
	if j.Step < StepStopSync || j.Step > StepMarkMissing || j.Incarnation == "" {
		return j, fmt.Errorf("offload journal: bad entry %+v", j)
	}
	return j, nil
}

func (s *Service) journals() (map[crypto.SpaceID]offloadJournal, error) {
	out := map[crypto.SpaceID]offloadJournal{}
	err := s.cfg.DB.View(func(txn *badger.Txn) error {
		prefix := []byte(offloadKeyPrefix)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			id := crypto.SpaceID(it.Item().Key()[len(prefix):])
			err := it.Item().Value(func(v []byte) error {
				j, err := decodeJournal(v)
				if err != nil {
					return fmt.Errorf("space %s: %w", id, err)
				}
				out[id] = j
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
