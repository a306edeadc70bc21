package node

import (
	"sync"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// subscriber is one Subscribe stream. Its queue is drained by exactly one goroutine, the
// stream's handler, so pushes leave in the order they were queued.
type subscriber struct {
	account crypto.PubKey
	session string
	queue   chan *syncpb.Push
	kicked  chan struct{} // closed when the subscriber fell behind
	once    sync.Once

	mu     sync.Mutex              // guards spaces and told
	spaces map[crypto.SpaceID]bool // HeadUpdates wanted for these (Subscribe, then Watch)
	told   map[crypto.SpaceID]bool // unwatched spaces whose news was sent (once each)
}

// wants reports whether the stream watches space id.
func (s *subscriber) wants(id crypto.SpaceID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spaces[id]
}

// watch adds and removes watched spaces; a watched space may get news again once
// unwatched.
func (s *subscriber) watch(add, remove []crypto.SpaceID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range add {
		s.spaces[id] = true
		delete(s.told, id)
	}
	for _, id := range remove {
		delete(s.spaces, id)
	}
}

// news reports whether the stream should be told of news in an unwatched space (the
// first time since it last watched it).
func (s *subscriber) news(id crypto.SpaceID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spaces[id] || s.told[id] {
		return false
	}
	if s.told == nil {
		s.told = map[crypto.SpaceID]bool{}
	}
	s.told[id] = true
	return true
}

func (s *subscriber) kick() { s.once.Do(func() { close(s.kicked) }) }

// offer queues p without blocking; a full queue disconnects the subscriber.
func (s *subscriber) offer(p *syncpb.Push) {
	select {
	case s.queue <- p:
	default:
		s.kick()
	}
}

// hub routes pushes to subscribers by account. mu guards subs and is held only while
// the subscriber set is read or changed: offers happen after it is released.
type hub struct {
	mu   sync.Mutex
	subs map[crypto.PubKey]map[*subscriber]struct{}
}

func (h *hub) init() { h.subs = map[crypto.PubKey]map[*subscriber]struct{}{} }

// add registers s unless its session has max streams open already (max 0: no limit); it
// reports whether it did.
func (h *hub) add(s *subscriber, max int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.subs[s.account]
	if max > 0 {
		n := 0
		for o := range m {
			if o.session == s.session {
				n++
			}
		}
		if n >= max {
			return false
		}
	}
	if m == nil {
		m = map[*subscriber]struct{}{}
		h.subs[s.account] = m
	}
	m[s] = struct{}{}
	return true
}

func (h *hub) remove(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[s.account], s)
	if len(h.subs[s.account]) == 0 {
		delete(h.subs, s.account)
	}
}

// of returns the subscribers of the given accounts.
func (h *hub) of(accounts map[crypto.PubKey]bool) []*subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*subscriber
	for a := range accounts {
		for s := range h.subs[a] {
			out = append(out, s)
		}
	}
	return out
}

// ofSession returns the subscribers of one session (its Subscribe streams).
func (h *hub) ofSession(account crypto.PubKey, session string) []*subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*subscriber
	for s := range h.subs[account] {
		if s.session == session {
			out = append(out, s)
		}
	}
	return out
}

// publish offers p to the subscribers of accounts that pass keep (nil keeps all).
func (h *hub) publish(accounts map[crypto.PubKey]bool, keep func(*subscriber) bool, p *syncpb.Push) {
	for _, s := range h.of(accounts) {
		if keep == nil || keep(s) {
			s.offer(p)
		}
	}
}

// empty reports whether no stream is subscribed.
func (h *hub) empty() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) == 0
}

// kickAll disconnects every subscriber: their devices resubscribe and head-sync.
func (h *hub) kickAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.subs {
		for s := range m {
			s.kick()
		}
	}
}

// anySubscribed reports whether a stream of one of v's members follows space id (gets
// its head updates).
func (h *hub) anySubscribed(v *aclView, id crypto.SpaceID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range v.state.Members() {
		for s := range h.subs[m.Key] {
			if s.wants(id) {
				return true
			}
		}
	}
	return false
}
