package files

import "sync"

// guard keeps the collector off blobs an add or a fetch is writing: a writer
// pins a blob before storing it and unpins it once the reference (and so the
// marker) exists; the collector claims a blob before its final re-check and
// delete, and a writer that wants a claimed blob waits for the claim to end.
// The mutex is never held across I/O.
type guard struct {
	mu     sync.Mutex               // guards pins, claims
	pins   map[string]int           // blob id → writers holding it
	claims map[string]chan struct{} // blob id → closed when the collector is done with it
}

func newGuard() *guard {
	return &guard{pins: map[string]int{}, claims: map[string]chan struct{}{}}
}

// pin holds id against the collector, waiting for a claim on it to end.
func (g *guard) pin(id string) {
	for {
		g.mu.Lock()
		ch, claimed := g.claims[id]
		if !claimed {
			g.pins[id]++
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		<-ch
	}
}

func (g *guard) unpin(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pins[id] <= 1 {
		delete(g.pins, id)
		return
	}
	g.pins[id]--
}

// claim takes id for the collector; false when a writer holds it.
func (g *guard) claim(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pins[id] > 0 || g.claims[id] != nil {
		return false
	}
	g.claims[id] = make(chan struct{})
	return true
}

func (g *guard) release(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch := g.claims[id]; ch != nil {
		close(ch)
		delete(g.claims, id)
	}
}

// pinSet is a writer's set of pins, released together.
type pinSet struct {
	g   *guard
	mu  sync.Mutex
	ids []string
}

func (p *pinSet) pin(id string) {
	p.g.pin(id)
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
}

// release unpins everything (idempotent).
func (p *pinSet) release() {
	p.mu.Lock()
	ids := p.ids
	p.ids = nil
	p.mu.Unlock()
	for _, id := range ids {
		p.g.unpin(id)
	}
}
