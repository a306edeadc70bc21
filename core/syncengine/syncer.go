package syncengine

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Conn is one authenticated connection to the node.
type Conn interface {
	Remote
	// Subscribe opens the account's push stream: ACL updates and space
	// status for every space of the account, head updates for spaces.
	Subscribe(ctx context.Context, spaces []string) (Stream, error)
	Close() error
}

// Stream yields pushes until it fails or its context ends.
type Stream interface {
	Recv() (*syncpb.Push, error)
}

// Dialer connects to the node.
type Dialer func(ctx context.Context) (Conn, error)

// SyncerConfig configures a Syncer.
type SyncerConfig struct {
	Dial Dialer
	// Engine is the configuration of every engine the Syncer starts.
	Engine Config
	// AccountPush receives ACL updates and space status for spaces that have
	// no engine (not loaded): the lifecycle decides what they mean.
	AccountPush func(*syncpb.Push)
	// Connected reports connection changes (true on connect).
	Connected func(bool)
	// DialFailed reports why a connection attempt failed (each attempt).
	DialFailed func(error)
	Log        *slog.Logger
}

// Syncer owns the account's node connection and one Engine per loaded space.
type Syncer struct {
	cfg SyncerConfig

	mu      sync.Mutex // guards engines, conn, closed, paused
	engines map[crypto.SpaceID]*Engine
	conn    Conn
	closed  bool
	paused  bool // Pause: no connection, no dialing, until Resume

	resub chan struct{} // capacity 1: the loaded set changed
	kick  chan struct{} // capacity 1: paused, resumed or the network changed
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// NewSyncer starts connecting in the background.
func NewSyncer(cfg SyncerConfig) *Syncer {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Engine.Log = cfg.Log
	s := &Syncer{cfg: cfg, engines: map[crypto.SpaceID]*Engine{}, resub: make(chan struct{}, 1), kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

// Add starts syncing a loaded space. After Close it returns a stopped
// engine (a space that finished loading while the account closed).
func (s *Syncer) Add(local Local) *Engine {
	cfg := s.cfg.Engine
	cfg.registered = s.resubscribe // the node now serves the space: it joins the stream
	e := NewEngine(local, cfg)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		e.Close()
		return e
	}
	old := s.engines[local.ID()]
	s.engines[local.ID()] = e
	conn := s.conn
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	if conn != nil {
		e.SetRemote(conn)
	}
	s.resubscribe()
	return e
}

// Remove stops syncing a space (before it unloads).
func (s *Syncer) Remove(id crypto.SpaceID) {
	s.mu.Lock()
	e := s.engines[id]
	delete(s.engines, id)
	s.mu.Unlock()
	if e != nil {
		e.Close()
		s.resubscribe()
	}
}

// Engine returns the engine of a loaded space.
func (s *Syncer) Engine(id crypto.SpaceID) *Engine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.engines[id]
}

// Remote is the current connection, or nil while offline.
func (s *Syncer) Remote() Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// Close stops every engine and the connection. Idempotent.
func (s *Syncer) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	s.mu.Lock()
	s.closed = true
	engines := s.engines
	s.engines = map[crypto.SpaceID]*Engine{}
	s.mu.Unlock()
	for _, e := range engines {
		e.Close()
	}
}

func (s *Syncer) resubscribe() {
	select {
	case s.resub <- struct{}{}:
	default:
	}
}

func (s *Syncer) loaded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.engines))
	for id := range s.engines {
		ids = append(ids, string(id))
	}
	sort.Strings(ids)
	return ids
}

func (s *Syncer) setConn(c Conn) {
	s.mu.Lock()
	s.conn = c
	engines := make([]*Engine, 0, len(s.engines))
	for _, e := range s.engines {
		engines = append(engines, e)
	}
	s.mu.Unlock()
	for _, e := range engines {
		if c == nil {
			e.SetRemote(nil)
		} else {
			e.SetRemote(c)
		}
	}
	if s.cfg.Connected != nil {
		s.cfg.Connected(c != nil)
	}
}

// run dials, subscribes and dispatches until Close, reconnecting with
// backoff after any failure.
func (s *Syncer) run() {
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.stop; cancel() }()

	failures, lastErr := 0, ""
	for ctx.Err() == nil {
		if !s.waitResumed(ctx) {
			return
		}
		conn, err := s.cfg.Dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if s.cfg.DialFailed != nil {
				s.cfg.DialFailed(err)
			}
			// Once per attempt while the backoff grows; the same failure
			// over and over at debug level after that.
			level := slog.LevelInfo
			if msg := err.Error(); msg == lastErr && failures > maxLoggedRepeats {
				level = slog.LevelDebug
			} else {
				lastErr = msg
			}
			s.cfg.Log.Log(ctx, level, "node unreachable", "err", err, "attempt", failures)
			if !s.sleep(ctx, Backoff(failures)) {
				return
			}
			continue
		}
		failures, lastErr = 0, ""
		if s.isPaused() { // paused while dialing
			conn.Close()
			continue
		}
		s.setConn(conn)
		err = s.serve(ctx, conn)
		s.setConn(nil)
		conn.Close()
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errPaused) || errors.Is(err, errNetworkChanged) {
			s.cfg.Log.Info("node connection closed", "why", err)
			continue
		}
		failures = 1
		s.cfg.Log.Info("node connection lost", "err", err)
		if !s.sleep(ctx, Backoff(failures)) {
			return
		}
	}
}

// errPaused and errNetworkChanged end a connection on Pause and on a
// network change.
var (
	errPaused         = errors.New("paused")
	errNetworkChanged = errors.New("the network changed")
)

// Pause closes the node connection and stops dialing until Resume: an app in
// the background keeps no socket, no stream and no timer (engines offline
// have none). Nothing is closed that would cost a reload: spaces stay
// loaded, their changes wait in the stores' push queues.
func (s *Syncer) Pause() { s.setPaused(true) }

// Resume connects again at once after Pause.
func (s *Syncer) Resume() { s.setPaused(false) }

// NetworkChanged is a hint that the network came back or changed: a
// connection waiting out its backoff is tried at once.
func (s *Syncer) NetworkChanged() { s.kickRun() }

// Paused reports whether the Syncer is paused.
func (s *Syncer) Paused() bool { return s.isPaused() }

func (s *Syncer) setPaused(p bool) {
	s.mu.Lock()
	s.paused = p
	s.mu.Unlock()
	s.kickRun()
}

func (s *Syncer) isPaused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

func (s *Syncer) kickRun() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// waitResumed blocks while paused; false when ctx ends.
func (s *Syncer) waitResumed(ctx context.Context) bool {
	for s.isPaused() {
		select {
		case <-s.kick:
		case <-ctx.Done():
			return false
		}
	}
	return ctx.Err() == nil
}

// serve keeps a push stream open on conn, reopening it when the loaded set
// changes; it returns when the connection fails.
func (s *Syncer) serve(ctx context.Context, conn Conn) error {
	for {
		sctx, cancel := context.WithCancel(ctx)
		stream, err := conn.Subscribe(sctx, s.loaded())
		if err != nil {
			cancel()
			return err
		}
		errc := make(chan error, 1)
		go func() { errc <- s.receive(stream) }() // ends when sctx is cancelled
		select {
		case err := <-errc:
			cancel()
			return err
		case <-s.resub:
			cancel()
			<-errc
			// Pushes sent between the two streams are caught by head sync.
			s.mu.Lock()
			for _, e := range s.engines {
				e.mu.Lock()
				e.needHead = true
				e.mu.Unlock()
				e.nudge()
			}
			s.mu.Unlock()
		case <-s.kick:
			cancel()
			<-errc
			if s.isPaused() {
				return errPaused
			}
			// The network changed under a live connection: its socket may be
			// dead without knowing it (a phone moving from Wi-Fi to mobile
			// data). Dial again at once; head sync catches up.
			return errNetworkChanged
		case <-ctx.Done():
			cancel()
			<-errc
			return ctx.Err()
		}
	}
}

func (s *Syncer) receive(stream Stream) error {
	for {
		p, err := stream.Recv()
		if err != nil {
			return err
		}
		s.dispatch(p)
	}
}

// dispatch routes one push to its space's engine, or to the account handler.
func (s *Syncer) dispatch(p *syncpb.Push) {
	var id crypto.SpaceID
	switch m := p.Msg.(type) {
	case *syncpb.Push_HeadUpdate:
		id = crypto.SpaceID(m.HeadUpdate.SpaceId)
		if e := s.Engine(id); e != nil {
			e.Push(m.HeadUpdate)
		}
		return
	case *syncpb.Push_AclUpdate:
		id = crypto.SpaceID(m.AclUpdate.SpaceId)
		if e := s.Engine(id); e != nil {
			e.AclChanged()
		}
	case *syncpb.Push_SpaceStatus:
		id = crypto.SpaceID(m.SpaceStatus.SpaceId)
	}
	if s.cfg.AccountPush != nil {
		s.cfg.AccountPush(p)
	}
}

// sleep waits out a backoff; a pause, resume or network change cuts it
// short. It reports false when ctx ended.
func (s *Syncer) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.kick:
	case <-ctx.Done():
		return false
	}
	return true
}
