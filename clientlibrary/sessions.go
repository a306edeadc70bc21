package clientlibrary

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/hearth-sync/hearth/pb"
)

// MaxQueuedEvents bounds one session's queue. A session that falls this far
// behind is told to resync (ErrSessionLagged) instead of losing events silently.
const MaxQueuedEvents = 4096

var (
	// ErrSessionClosed ends a session's event stream when the session closes.
	ErrSessionClosed = errors.New("session closed")
	// ErrSessionLagged ends a session's event stream when it fell more than
	// MaxQueuedEvents behind: its client must open a new session and resync.
	ErrSessionLagged = errors.New("session fell too far behind: open a new session and resync")
)

// Session is one client's connection to the library: a token and one ordered
// queue of events, drained by exactly one reader (its stream or handler).
type Session struct {
	token string
	app   string

	mu     sync.Mutex // guards queue, err, notify, onEnd
	queue  []*pb.Event
	err    error         // set once: closed or lagged
	notify chan struct{} // closed and replaced when queue or err changes
	onEnd  []func()      // run once when the session ends (unregister listeners, end subscriptions)
}

// addCleanup registers fn to run when the session ends; when it has ended
// already, fn runs now and addCleanup reports false.
func (s *Session) addCleanup(fn func()) bool {
	s.mu.Lock()
	if s.err == nil {
		s.onEnd = append(s.onEnd, fn)
		s.mu.Unlock()
		return true
	}
	s.mu.Unlock()
	fn()
	return false
}

// Token is the session's secret; it authenticates the session's calls.
func (s *Session) Token() string { return s.token }

// push appends ev unless the session has ended; a full queue ends it as lagged.
func (s *Session) push(ev *pb.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	if len(s.queue) >= MaxQueuedEvents {
		s.queue = nil
		s.err = ErrSessionLagged
	} else {
		s.queue = append(s.queue, ev)
	}
	s.wakeLocked()
}

func (s *Session) end(err error) {
	s.mu.Lock()
	var onEnd []func()
	if s.err == nil || s.err == ErrSessionLagged {
		if s.err == nil {
			s.err = err
			s.wakeLocked()
		}
		onEnd, s.onEnd = s.onEnd, nil
	}
	s.mu.Unlock()
	for _, fn := range onEnd {
		fn()
	}
}

func (s *Session) wakeLocked() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// Next returns the session's next event in order, waiting for one. Queued
// events are delivered before a close is reported; a lagged session reports
// ErrSessionLagged at once.
func (s *Session) Next(ctx context.Context) (*pb.Event, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return ev, nil
		}
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return nil, err
		}
		wait := s.notify
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Hub owns the sessions and fans events out to them.
type Hub struct {
	mu       sync.Mutex // guards sessions
	sessions map[string]*Session
}

func newHub() *Hub { return &Hub{sessions: make(map[string]*Session)} }

// Create opens a new session.
func (h *Hub) Create(app string) *Session {
	s := &Session{token: newToken(), app: app, notify: make(chan struct{})}
	h.mu.Lock()
	h.sessions[s.token] = s
	h.mu.Unlock()
	return s
}

// Lookup finds a session by token, comparing in constant time.
func (h *Hub) Lookup(token string) (*Session, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t, s := range h.sessions {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return s, true
		}
	}
	return nil, false
}

// Close ends one session; its reader sees ErrSessionClosed after the events
// already queued.
func (h *Hub) Close(token string) bool {
	h.mu.Lock()
	s, ok := h.sessions[token]
	delete(h.sessions, token)
	h.mu.Unlock()
	if ok {
		s.end(ErrSessionClosed)
	}
	return ok
}

// Send implements core's event sink: every session gets ev. The hub lock is
// held across the (in-memory) pushes so that all sessions see concurrent
// sends in the same order.
func (h *Hub) Send(ev *pb.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sessions {
		s.push(ev)
	}
}

func (h *Hub) closeAll() {
	h.mu.Lock()
	all := h.sessions
	h.sessions = make(map[string]*Session)
	h.mu.Unlock()
	for _, s := range all {
		s.end(ErrSessionClosed)
	}
}

func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the runtime guarantees it does not
	}
	return hex.EncodeToString(b)
}
