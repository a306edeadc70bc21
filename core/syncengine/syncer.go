package syncengine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
)

// Conn is one authenticated connection to the node.
type Conn interface {
	Remote
	// Subscribe opens the account's push stream: ACL updates and space
	// status for every space of the account, head updates for the listed
	// ones (the loaded spaces), news for the others.
	Subscribe(ctx context.Context, spaces []string) (Stream, error)
	// Watch changes the spaces the stream carries head updates for; the
	// answer holds the statuses of the added ones.
	Watch(ctx context.Context, add, remove []crypto.SpaceID) (*syncpb.WatchResponse, error)
	// HeadDigests returns the node's whole-range head-sync digest of each
	// space (at most protocol.MaxDigestSpaces per call).
	HeadDigests(ctx context.Context, spaces []crypto.SpaceID) (*syncpb.HeadDigestsResponse, error)
	Close() error
}

// Kept is a space the device keeps on disk without loading it, with the
// head-sync digest it had when it was last loaded (Known false: none
// recorded).
type Kept struct {
	ID     crypto.SpaceID
	Digest diff.Digest
	Known  bool
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
	// DigestEvery is how often, while connected, the node's digests of every
	// loaded space are compared with the local ones, in one call (30 s when
	// 0): a space whose digest differs head-syncs. Kept spaces are compared on
	// connect and every keptEvery rounds.
	DigestEvery time.Duration
	// Kept lists the spaces kept on disk but not loaded (nil: none).
	Kept func() []Kept
	// News is told of a kept space that changed on the node (its digest
	// differs, or the node pushed news of it): the caller loads it. It must
	// not block.
	News func(crypto.SpaceID)
	// Paused starts the Syncer paused (the app is in the background): it
	// dials nothing until Resume.
	Paused bool
	Log    *slog.Logger
}

// keptEvery: kept spaces are compared every keptEvery digest rounds (and on
// connect); the node's news pushes tell of their changes meanwhile.
const keptEvery = 10

// Syncer owns the account's node connection and one Engine per loaded space.
type Syncer struct {
	cfg SyncerConfig

	mu      sync.Mutex // guards engines, conn, closed, paused, again
	engines map[crypto.SpaceID]*Engine
	// again are loaded spaces to watch again: the node skipped them when the
	// stream began or they were added (it did not know them yet).
	again  map[crypto.SpaceID]bool
	conn   Conn
	closed bool
	paused bool // Pause: no connection, no dialing, until Resume

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
	if cfg.DigestEvery <= 0 {
		cfg.DigestEvery = 30 * time.Second
	}
	cfg.Engine.Log = cfg.Log
	cfg.Engine.defaults()
	s := &Syncer{cfg: cfg, engines: map[crypto.SpaceID]*Engine{}, resub: make(chan struct{}, 1), kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.paused = cfg.Paused // before run starts, so a paused start never dials
	go s.run()
	return s
}

// Add starts syncing a loaded space. After Close it returns a stopped
// engine (a space that finished loading while the account closed).
func (s *Syncer) Add(local Local) *Engine {
	cfg := s.cfg.Engine
	id := local.ID()
	cfg.registered = func() { s.rewatch(id) } // the node now serves the space: it joins the stream
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

// rewatch asks for space id to be watched again (the node registered it
// after it skipped it).
func (s *Syncer) rewatch(id crypto.SpaceID) {
	s.mu.Lock()
	if s.again == nil {
		s.again = map[crypto.SpaceID]bool{}
	}
	s.again[id] = true
	s.mu.Unlock()
	s.resubscribe()
}

func (s *Syncer) takeAgain() []crypto.SpaceID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []crypto.SpaceID
	for id := range s.again {
		if s.engines[id] != nil {
			out = append(out, id)
		}
	}
	s.again = nil
	return out
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

// serve keeps a push stream open on conn, telling the node which spaces it
// watches as spaces load and unload, and compares every space's digest with
// the node's on connect and every DigestEvery; it returns when the connection
// fails.
func (s *Syncer) serve(ctx context.Context, conn Conn) error {
	tick := time.NewTicker(s.cfg.DigestEvery)
	defer tick.Stop()
	round := 0
	for {
		err := s.stream(ctx, conn, tick, &round)
		if !errors.Is(err, errReopen) {
			return err
		}
		// Pushes sent between the two streams are caught by head sync.
		for _, e := range s.allEngines() {
			e.RequestHeadSync()
		}
	}
}

// errReopen: the stream could not follow a change of the loaded set (Watch
// failed): open a new one.
var errReopen = errors.New("reopen the push stream")

// stream runs one push stream until it fails, a Watch fails (errReopen), the
// Syncer is paused or kicked, or ctx ends.
func (s *Syncer) stream(ctx context.Context, conn Conn, tick *time.Ticker, round *int) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := s.loaded()
	stream, err := conn.Subscribe(sctx, watched)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.receive(stream) }() // ends when sctx is cancelled
	received := false                         // the receiver's error was taken: it has ended
	defer func() {
		cancel()
		if !received {
			<-errc
		}
	}()
	s.checkDigests(ctx, conn, true) // what changed while this device was away
	for {
		select {
		case err := <-errc:
			received = true
			return err
		case <-s.resub:
			now := s.loaded()
			add, remove := setDiff(watched, now), setDiff(now, watched)
			for _, id := range s.takeAgain() {
				if !slices.Contains(add, id) {
					add = append(add, id)
				}
			}
			if len(add)+len(remove) == 0 {
				continue
			}
			resp, err := conn.Watch(ctx, add, remove)
			if err != nil {
				s.cfg.Log.Info("the node could not change the watched spaces: reopening the push stream", "err", err)
				return errReopen
			}
			watched = now
			for _, st := range resp.Statuses {
				s.dispatch(&syncpb.Push{Msg: &syncpb.Push_SpaceStatus{SpaceStatus: st}})
			}
			for _, id := range add { // pushes before the watch: head sync finds them
				if e := s.Engine(id); e != nil {
					e.RequestHeadSync()
				}
			}
		case <-tick.C:
			*round++
			s.checkDigests(ctx, conn, *round%keptEvery == 0)
		case <-s.kick:
			if s.isPaused() {
				return errPaused
			}
			// The network changed under a live connection: its socket may be
			// dead without knowing it (a phone moving from Wi-Fi to mobile
			// data). Dial again at once; head sync catches up.
			return errNetworkChanged
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setDiff returns the ids in b that are not in a (both sorted).
func setDiff(a, b []string) []crypto.SpaceID {
	var out []crypto.SpaceID
	i := 0
	for _, id := range b {
		for i < len(a) && a[i] < id {
			i++
		}
		if i < len(a) && a[i] == id {
			continue
		}
		out = append(out, crypto.SpaceID(id))
	}
	return out
}

func (s *Syncer) allEngines() []*Engine {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Engine, 0, len(s.engines))
	for _, e := range s.engines {
		out = append(out, e)
	}
	return out
}

// checkDigests compares the node's digest of every loaded space (and, with
// kept, of every kept space) with the local one, in as few calls as the
// limit allows: a loaded space that differs head-syncs, a kept one that
// differs is told to News. An idle device makes one call per round and reads
// nothing (the digests are in memory). When the call fails every loaded space
// head-syncs instead.
func (s *Syncer) checkDigests(ctx context.Context, conn Conn, kept bool) {
	engines := s.allEngines()
	want := map[crypto.SpaceID]diff.Digest{}
	var ids []crypto.SpaceID
	onEngine := map[crypto.SpaceID]*Engine{}
	for _, e := range engines {
		d, err := e.local.Digest(ctx)
		if err != nil {
			e.RequestHeadSync()
			continue
		}
		id := e.local.ID()
		want[id], onEngine[id] = d, e
		ids = append(ids, id)
	}
	if kept && s.cfg.Kept != nil {
		for _, k := range s.cfg.Kept() {
			if _, loaded := onEngine[k.ID]; loaded {
				continue
			}
			if k.Known {
				want[k.ID] = k.Digest
			}
			ids = append(ids, k.ID)
		}
	}
	for len(ids) > 0 {
		batch := ids[:min(len(ids), protocol.MaxDigestSpaces)]
		ids = ids[len(batch):]
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Engine.CallTimeout)
		resp, err := conn.HeadDigests(cctx, batch)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.Info("comparing digests with the node failed: head-syncing every loaded space", "err", err)
			}
			for _, e := range engines {
				e.RequestHeadSync()
			}
			return
		}
		for _, d := range resp.Digests {
			if d == nil || !d.Served || len(d.Hash) != 32 {
				continue // not served: the space statuses say why
			}
			id := crypto.SpaceID(d.SpaceId)
			var theirs diff.Digest
			theirs.Count = d.Count
			copy(theirs.Hash[:], d.Hash)
			mine, known := want[id]
			if known && mine == theirs {
				continue
			}
			if e := onEngine[id]; e != nil {
				e.RequestHeadSync()
			} else if s.cfg.News != nil {
				s.cfg.News(id)
			}
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
	case *syncpb.Push_SpaceNews:
		id = crypto.SpaceID(m.SpaceNews.SpaceId)
		if e := s.Engine(id); e != nil { // loaded after the node last heard: sync it
			e.RequestHeadSync()
			return
		}
		if s.cfg.News != nil {
			s.cfg.News(id)
		}
		return
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
