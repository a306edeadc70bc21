// Package lease gives one maintenance agent at a time per account: a lease
// record in the account database (key "lease/<name>": holder, what it is
// doing, expiry) taken and renewed by compare-and-swap (a badger update
// transaction with conflict detection; ErrConflict means another agent won
// the race, so the record is read again).
//
// It owns the lease records and the goroutine that renews a held lease. It
// never runs the leased work itself and never decides what a holder does:
// a Held lease gives its owner a context that is cancelled as soon as a
// renewal finds the lease expired or taken by someone else.
//
// Time is an input (Config.Now), so tests can expire leases at will.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/internal/badgerdb"

	"github.com/hearth-sync/hearth/internal/errkind"
)

// Record is a lease as stored.
type Record struct {
	Holder    string    `json:"holder"`
	What      string    `json:"what"` // for people: "rebuild of space X"
	ExpiresAt time.Time `json:"expiresAt"`
}

// Config configures a Manager.
type Config struct {
	DB badgerdb.KV // the account database
	// Holder names this process's agents (a fresh random id per process is
	// fine: a restarted process is another holder and waits for expiry).
	Holder string
	// TTL is how long a lease lasts without renewal (default 30 s); it is
	// renewed every TTL/3.
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tick makes the renewal timer (default time.After); tests drive it.
	Tick func(d time.Duration) <-chan time.Time
}

// Manager takes and renews leases.
type Manager struct {
	cfg Config
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick == nil {
		cfg.Tick = time.After
	}
	return &Manager{cfg: cfg}
}

const keyPrefix = "lease/"

func key(name string) []byte { return []byte(keyPrefix + name) }

// decode reads a stored lease record; garbage is an error, never a panic.
func decode(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("lease record: %w", err)
	}
	if r.Holder == "" {
		return Record{}, errors.New("lease record without holder")
	}
	return r, nil
}

// Held is a lease this process holds. Its context is cancelled when the
// lease is lost (expired or taken over) or released.
type Held struct {
	m      *Manager
	name   string
	rec    Record
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	mu   sync.Mutex // guards lost
	lost error

	renewMu sync.Mutex // serialises Renew and Release; guards rec
}

// ErrLost is the cause of a held lease's context when the lease was lost.
var ErrLost = errors.New("lease: lost")

// Acquire takes the lease name for what, or fails with kind Busy naming
// what the current holder is doing. The returned lease is renewed by a
// goroutine it owns until Release.
func (m *Manager) Acquire(ctx context.Context, name, what string) (*Held, error) {
	rec := Record{Holder: m.cfg.Holder, What: what}
	for {
		var busy *Record
		err := m.cfg.DB.Update(func(txn *badger.Txn) error {
			cur, ok, err := m.read(txn, name)
			if err != nil {
				return err
			}
			if ok && cur.Holder != m.cfg.Holder && m.cfg.Now().Before(cur.ExpiresAt) {
				busy = &cur
				return nil
			}
			if ok && cur.Holder == m.cfg.Holder && m.cfg.Now().Before(cur.ExpiresAt) {
				busy = &cur // one agent per holder too: a lease is not re-entrant
				return nil
			}
			rec.ExpiresAt = m.cfg.Now().Add(m.cfg.TTL)
			return m.write(txn, name, rec)
		})
		if errors.Is(err, badger.ErrConflict) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			continue // lost a race: read again
		}
		if err != nil {
			return nil, errkind.E("lease", errkind.Other, err)
		}
		if busy != nil {
			return nil, errkind.Errorf("lease", errkind.Busy, "another maintenance task is running: %s", busy.What)
		}
		break
	}
	lctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	h := &Held{m: m, name: name, rec: rec, ctx: lctx, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	go h.renewLoop()
	return h, nil
}

func (m *Manager) read(txn *badger.Txn, name string) (Record, bool, error) {
	item, err := txn.Get(key(name))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	var rec Record
	err = item.Value(func(v []byte) (err error) { rec, err = decode(v); return err })
	if err != nil { // an unreadable record holds nothing: it is overwritten
		return Record{}, false, nil
	}
	return rec, true, nil
}

func (m *Manager) write(txn *badger.Txn, name string, rec Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return txn.Set(key(name), b)
}

// Current returns the lease record of name, if any (expired ones included).
func (m *Manager) Current(name string) (Record, bool, error) {
	var rec Record
	var ok bool
	err := m.cfg.DB.View(func(txn *badger.Txn) (err error) { rec, ok, err = m.read(txn, name); return err })
	return rec, ok, err
}

// Context is cancelled when the lease is lost or released; its cause is
// ErrLost when lost.
func (h *Held) Context() context.Context { return h.ctx }

// renewLoop renews the lease every TTL/3 until Release or loss.
func (h *Held) renewLoop() {
	defer close(h.done)
	for {
		select {
		case <-h.stop:
			return
		case <-h.m.cfg.Tick(h.m.cfg.TTL / 3):
		}
		if err := h.Renew(); err != nil {
			return
		}
	}
}

// Renew extends the lease by compare-and-swap. When the record is no longer
// this lease's, or it expired before the renewal, the lease is lost: the
// context is cancelled with ErrLost and Renew returns it. Renewal runs on
// its own; Renew is exported for tests that drive time.
func (h *Held) Renew() error {
	h.renewMu.Lock()
	defer h.renewMu.Unlock()
	for {
		var lostWhy error
		err := h.m.cfg.DB.Update(func(txn *badger.Txn) error {
			cur, ok, err := h.m.read(txn, h.name)
			if err != nil {
				return err
			}
			now := h.m.cfg.Now()
			switch {
			case !ok || cur.Holder != h.rec.Holder || !cur.ExpiresAt.Equal(h.rec.ExpiresAt):
				lostWhy = fmt.Errorf("%w: taken by %q", ErrLost, cur.Holder)
				return nil
			case !now.Before(cur.ExpiresAt):
				lostWhy = fmt.Errorf("%w: expired at %s", ErrLost, cur.ExpiresAt.Format(time.RFC3339))
				return nil
			}
			next := cur
			next.ExpiresAt = now.Add(h.m.cfg.TTL)
			if err := h.m.write(txn, h.name, next); err != nil {
				return err
			}
			h.rec = next
			return nil
		})
		if errors.Is(err, badger.ErrConflict) {
			continue
		}
		if err != nil { // the database failed: the lease cannot be trusted
			lostWhy = fmt.Errorf("%w: %w", ErrLost, err)
		}
		if lostWhy != nil {
			h.mu.Lock()
			h.lost = lostWhy
			h.mu.Unlock()
			h.cancel(lostWhy)
		}
		return lostWhy
	}
}

// Lost returns why the lease was lost, or nil.
func (h *Held) Lost() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// Release stops the renewal and deletes the record if it is still this
// lease's. Idempotent.
func (h *Held) Release() error {
	var err error
	h.once.Do(func() {
		close(h.stop)
		<-h.done
		h.cancel(context.Canceled)
		h.renewMu.Lock()
		defer h.renewMu.Unlock()
		for {
			err = h.m.cfg.DB.Update(func(txn *badger.Txn) error {
				cur, ok, err := h.m.read(txn, h.name)
				if err != nil || !ok || cur.Holder != h.rec.Holder || !cur.ExpiresAt.Equal(h.rec.ExpiresAt) {
					return err // someone else's now: leave it
				}
				return txn.Delete(key(h.name))
			})
			if !errors.Is(err, badger.ErrConflict) {
				return
			}
		}
	})
	return err
}
