package spaceindex

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// State is a space index's state in the registry.
type State uint8

// Space index states. Removed is terminal for an incarnation.
const (
	StateClosed State = iota
	StateOpen
	StateRemoved
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateRemoved:
		return "removed"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Option configures a Registry.
type Option func(*Registry)

// WithBadgerOptions adjusts the badger options of every index the registry
// opens (applied after PhoneOptions).
func WithBadgerOptions(tune func(badger.Options) badger.Options) Option {
	return func(r *Registry) { r.tune = tune }
}

// WithValueLogGC sets how often the registry's one background goroutine runs
// badger's value-log GC over the open indexes; 0 disables it. Default 10
// minutes.
func WithValueLogGC(every time.Duration) Option {
	return func(r *Registry) { r.gcEvery = every }
}

// WithIdleClose sets how long an open index's database stays open after its
// last call (default DefaultIdleClose; negative: it never sleeps). A sleeping
// index is still open to its handles: the next call reopens its database.
func WithIdleClose(d time.Duration) Option {
	return func(r *Registry) { r.idle = d }
}

// DefaultIdleClose is how long an idle open index keeps its database open.
// Badger wakes an open database's compactors 40 times a second, which costs
// an idle device more than its whole budget (internal/badgerdb.Dormant says
// why), so an index that nobody calls closes its database and reopens it (in
// about 10 ms) on the next call.
const DefaultIdleClose = 15 * time.Second

// Registry owns every space index of an account. It creates no file and
// opens no database until Open is called for a space. Safe for concurrent
// use.
type Registry struct {
	root    string
	tune    func(badger.Options) badger.Options
	gcEvery time.Duration
	idle    time.Duration // WithIdleClose

	closed atomic.Bool  // set once by Close; checked by Open under the space's lock
	opened atomic.Int64 // databases opened so far (tests check lazy opening)

	mu     sync.Mutex        // guards spaces; never held during disk I/O
	spaces map[string]*space // space id -> current incarnation's entry

	stop      chan struct{} // closed by Close: stops the GC goroutine
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// space is the registry's entry for one incarnation of a space. Disk I/O on
// it (open, close, delete) happens with busy set and mu released, so
// neither the registry nor other spaces wait for it.
type space struct {
	id string

	mu          sync.Mutex // guards the fields below
	cond        *sync.Cond // on mu: broadcast when busy clears or inflight drops to 0
	state       State
	busy        bool // an Open, Close or Delete is doing I/O for this entry
	purged      bool // removed and its directory is gone
	inflight    int  // Handle calls forwarding to idx right now
	incarnation string
	cfg         Config
	// idx is the open database, or nil while the open index sleeps (state
	// open, database closed: the next call wakes it).
	idx         *index
	swapping    bool // a rebuilt generation is replacing idx: new calls wait (swap.go)
	generations int  // generations being built beside idx (swap.go): it must not sleep meanwhile
	reg         *Registry
	lastUse     time.Time   // when inflight last dropped to 0
	sleepTimer  *time.Timer // runs sleepIfIdle (AfterFunc); nil until the first idle

	// feed is the change feed of every incarnation's index (feed.go).
	feed feed
}

func newSpace(r *Registry, id string) *space {
	sp := &space{id: id, reg: r}
	sp.cond = sync.NewCond(&sp.mu)
	sp.feed.cond = sync.NewCond(&sp.feed.mu)
	return sp
}

// NewRegistry returns a registry for the space indexes under root (an
// account's spaces/ directory). It touches nothing on disk.
func NewRegistry(root string, opts ...Option) *Registry {
	r := &Registry{
		root:    root,
		gcEvery: 10 * time.Minute,
		idle:    DefaultIdleClose,
		spaces:  map[string]*space{},
		stop:    make(chan struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	if r.gcEvery > 0 {
		r.wg.Add(1)
		go r.gcLoop()
	}
	return r
}

// IndexDir returns the directory of a space incarnation's index.
func (r *Registry) IndexDir(spaceID, incarnation string) string {
	return filepath.Join(r.root, spaceID, incarnation, indexDirName)
}

func validName(what, s string) error {
	if s == "" || s == "." || s == ".." || len(s) > 255 || strings.ContainsAny(s, "/\\\x00") {
		return fmt.Errorf("spaceindex: invalid %s %q", what, s)
	}
	return nil
}

// entry returns the current entry for spaceID, creating a closed one.
func (r *Registry) entry(spaceID string) *space {
	r.mu.Lock()
	defer r.mu.Unlock()
	sp := r.spaces[spaceID]
	if sp == nil {
		sp = newSpace(r, spaceID)
		r.spaces[spaceID] = sp
	}
	return sp
}

// lookup returns the current entry for spaceID, or nil.
func (r *Registry) lookup(spaceID string) *space {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spaces[spaceID]
}

// replaceRemoved installs a fresh entry for spaceID if old is still the
// current one, and returns the current entry.
func (r *Registry) replaceRemoved(old *space) *space {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur := r.spaces[old.id]; cur != old {
		return cur
	}
	sp := newSpace(r, old.id)
	r.spaces[old.id] = sp
	return sp
}

// Handle returns the proxy for spaceID's current incarnation without opening
// anything. The handle resolves the state on every call; once that
// incarnation is removed it fails with ErrSpaceRemoved forever, even if the
// space is later re-joined under a new incarnation (get a new Handle then).
func (r *Registry) Handle(spaceID string) *Handle {
	return &Handle{sp: r.entry(spaceID)}
}

// Open opens (creating if needed) the index of a space incarnation and
// returns its handle. It is the only function that creates index files.
// Opening an open incarnation returns its handle; opening a removed
// incarnation fails with ErrSpaceRemoved; a different incarnation than the
// one open fails with ErrIncarnationMismatch. Opening a new incarnation
// after removal creates a fresh entry: handles of the removed one stay
// removed. cfg must be the same on every open of an index, or Open fails
// with ErrSchemaMismatch; ErrSchemaMismatch and ErrCorrupt mean the caller
// should delete and rebuild the index.
func (r *Registry) Open(ctx context.Context, spaceID, incarnation string, cfg Config) (*Handle, error) {
	if err := validName("space id", spaceID); err != nil {
		return nil, err
	}
	if err := validName("incarnation", incarnation); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.closed.Load() {
		return nil, ErrRegistryClosed
	}
	sp := r.entry(spaceID)
	for {
		sp.mu.Lock()
		for sp.busy {
			sp.cond.Wait()
		}
		if sp.state != StateRemoved {
			break
		}
		if sp.incarnation == incarnation {
			sp.mu.Unlock()
			return nil, fmt.Errorf("spaceindex: open %s/%s: %w", spaceID, incarnation, ErrSpaceRemoved)
		}
		sp.mu.Unlock()
		sp = r.replaceRemoved(sp)
	}
	defer sp.mu.Unlock()
	if sp.state == StateOpen {
		if sp.incarnation != incarnation {
			return nil, fmt.Errorf("spaceindex: open %s/%s (%s is open): %w",
				spaceID, incarnation, sp.incarnation, ErrIncarnationMismatch)
		}
		return &Handle{sp: sp}, nil
	}
	if r.closed.Load() {
		return nil, ErrRegistryClosed
	}
	sp.busy = true
	sp.mu.Unlock()
	idx, err := openIndex(r.IndexDir(spaceID, incarnation), cfg, r.tune)
	sp.mu.Lock()
	sp.busy = false
	sp.cond.Broadcast()
	if err != nil {
		return nil, err
	}
	r.opened.Add(1)
	idx.seq = max(idx.seq, sp.feed.seqFloor())
	idx.feed = &sp.feed
	sp.state, sp.idx, sp.incarnation, sp.cfg = StateOpen, idx, incarnation, cfg
	sp.armSleepLocked()
	return &Handle{sp: sp}, nil
}

// dir is the index directory of the entry's incarnation.
func (sp *space) dir() string { return sp.reg.IndexDir(sp.id, sp.incarnation) }

// wakeLocked reopens the database of a sleeping open index, with mu
// released while it does (busy set). The caller holds mu, the state is open
// and idx is nil; on return mu is held again.
func (sp *space) wakeLocked() error {
	sp.busy = true
	sp.mu.Unlock()
	idx, err := openIndex(sp.dir(), sp.cfg, sp.reg.tune)
	sp.mu.Lock()
	sp.busy = false
	sp.cond.Broadcast()
	if err != nil {
		return fmt.Errorf("spaceindex: wake %s: %w", sp.id, err)
	}
	sp.reg.opened.Add(1)
	idx.seq = max(idx.seq, sp.feed.seqFloor())
	idx.feed = &sp.feed
	if sp.state != StateOpen { // closed or deleted meanwhile: cannot happen while busy, but be safe
		_ = idx.close()
		return ErrSpaceNotLoaded
	}
	sp.idx = idx
	return nil
}

// armSleepLocked schedules sleepIfIdle after the idle period (the caller
// holds mu and nothing is in flight).
func (sp *space) armSleepLocked() {
	sp.lastUse = time.Now()
	if sp.reg.idle < 0 {
		return
	}
	if sp.sleepTimer == nil {
		sp.sleepTimer = time.AfterFunc(sp.reg.idle, sp.sleepIfIdle)
	} else {
		sp.sleepTimer.Reset(sp.reg.idle)
	}
}

// sleepIfIdle is the idle timer's func.
func (sp *space) sleepIfIdle() { sp.sleep(false) }

// sleep closes the database of an open index when nothing is in flight and,
// unless forced, nobody has called it for the idle period. The index stays
// open to its handles: the next call reopens the database.
func (sp *space) sleep(force bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for force && sp.busy {
		sp.cond.Wait()
	}
	if sp.state != StateOpen || sp.idx == nil || sp.busy || sp.swapping || sp.inflight > 0 || sp.generations > 0 {
		return
	}
	if left := sp.reg.idle - time.Since(sp.lastUse); !force && left > 0 {
		sp.sleepTimer.Reset(left)
		return
	}
	idx := sp.idx
	sp.idx = nil
	sp.busy = true
	sp.mu.Unlock()
	_ = idx.close() // every write that needed durability synced; nothing is lost
	sp.mu.Lock()
	sp.busy = false
	sp.cond.Broadcast()
}

// Asleep reports whether the space's index is open with its database closed
// (it wakes on the next call).
func (h *Handle) Asleep() bool {
	h.sp.mu.Lock()
	defer h.sp.mu.Unlock()
	return h.sp.state == StateOpen && h.sp.idx == nil && !h.sp.busy
}

// Sleep closes the database of the space's open index now if nothing is in
// flight (the next call reopens it); it reports whether it is asleep after.
func (h *Handle) Sleep() bool {
	h.sp.sleep(true)
	return h.Asleep()
}

// Close closes spaceID's index if open: new calls through handles fail with
// ErrSpaceNotLoaded at once, then Close waits for in-flight calls and closes
// the database. Closing a closed, removed or unknown space is a no-op. The
// wait is not cut short by ctx: in-flight calls end on their own contexts.
func (r *Registry) Close(ctx context.Context, spaceID string) error {
	sp := r.lookup(spaceID)
	if sp == nil {
		return nil
	}
	return sp.close()
}

func (sp *space) close() error {
	sp.mu.Lock()
	for sp.busy {
		sp.cond.Wait()
	}
	if sp.state != StateOpen {
		sp.mu.Unlock()
		return nil
	}
	sp.state = StateClosed
	idx := sp.drainLocked()
	sp.mu.Unlock()
	var err error
	if idx != nil { // nil: it was asleep, its database is closed already
		err = idx.close()
	}
	sp.mu.Lock()
	sp.busy = false
	sp.cond.Broadcast()
	sp.mu.Unlock()
	if err != nil {
		return fmt.Errorf("spaceindex: close %s: %w", sp.id, err)
	}
	return nil
}

// drainLocked marks the entry busy, waits for in-flight calls and detaches
// the index. The caller has already moved state away from open, so no new
// call can start.
func (sp *space) drainLocked() *index {
	if sp.sleepTimer != nil {
		sp.sleepTimer.Stop()
	}
	sp.busy = true
	for sp.inflight > 0 {
		sp.cond.Wait()
	}
	idx := sp.idx
	sp.idx = nil
	return idx
}

// Delete removes spaceID's index for good: handles fail with ErrSpaceRemoved
// at once, then Delete waits for in-flight calls, closes the database,
// removes spaces/<spaceId>/<incarnation>/index and then the incarnation and
// space directories if they are empty (the space's store lives beside the
// index). If no incarnation was opened in this process, the index of every
// incarnation on disk is removed. Idempotent; a failed removal is retried by
// the next Delete. Not cut short by ctx: deleting must finish.
func (r *Registry) Delete(ctx context.Context, spaceID string) error {
	if err := validName("space id", spaceID); err != nil {
		return err
	}
	sp := r.entry(spaceID)
	sp.mu.Lock()
	for sp.busy {
		sp.cond.Wait()
	}
	if sp.state == StateRemoved && sp.purged {
		sp.mu.Unlock()
		return nil
	}
	sp.state = StateRemoved
	idx := sp.drainLocked()
	inc := sp.incarnation
	sp.mu.Unlock()

	var errs []error
	if idx != nil {
		if err := idx.close(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, r.removeDirs(spaceID, inc))
	err := errors.Join(errs...)

	sp.mu.Lock()
	sp.busy = false
	sp.purged = err == nil
	sp.cond.Broadcast()
	sp.mu.Unlock()
	if err != nil {
		return fmt.Errorf("spaceindex: delete %s: %w", spaceID, err)
	}
	return nil
}

// removeDirs removes the index directory of inc (every incarnation if inc
// is empty), then the incarnation and space directories when empty.
func (r *Registry) removeDirs(spaceID, inc string) error {
	spaceDir := filepath.Join(r.root, spaceID)
	var incs []string
	if inc != "" {
		incs = []string{inc}
	} else {
		ents, err := os.ReadDir(spaceDir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, e := range ents {
			if e.IsDir() {
				incs = append(incs, e.Name())
			}
		}
	}
	for _, in := range incs {
		if err := os.RemoveAll(filepath.Join(spaceDir, in, indexDirName)); err != nil {
			return err
		}
		if err := removeIfEmpty(filepath.Join(spaceDir, in)); err != nil {
			return err
		}
	}
	return removeIfEmpty(spaceDir)
}

// removeIfEmpty removes an empty directory; a missing or non-empty one is fine.
func removeIfEmpty(dir string) error {
	err := os.Remove(dir)
	if err == nil || errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTEMPTY) ||
		errors.Is(err, syscall.EEXIST) {
		return nil
	}
	return err
}

// State returns spaceID's current state (closed for an unknown space).
func (r *Registry) State(spaceID string) State {
	sp := r.lookup(spaceID)
	if sp == nil {
		return StateClosed
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.state
}

// Loaded returns the ids of the spaces whose index is open, sorted.
func (r *Registry) Loaded() []string {
	r.mu.Lock()
	sps := make([]*space, 0, len(r.spaces))
	for _, sp := range r.spaces {
		sps = append(sps, sp)
	}
	r.mu.Unlock()
	var out []string
	for _, sp := range sps {
		sp.mu.Lock()
		if sp.state == StateOpen {
			out = append(out, sp.id)
		}
		sp.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

// CloseAll closes the registry: Open fails from now on, the background
// goroutine stops and every open index is closed (waiting for in-flight
// calls). Idempotent.
func (r *Registry) CloseAll() error {
	var err error
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.stop)
		r.wg.Wait()
		r.mu.Lock()
		sps := make([]*space, 0, len(r.spaces))
		for _, sp := range r.spaces {
			sps = append(sps, sp)
		}
		r.mu.Unlock()
		var errs []error
		for _, sp := range sps {
			errs = append(errs, sp.close())
		}
		err = errors.Join(errs...)
	})
	return err
}

// gcLoop runs value-log GC over the open indexes every gcEvery.
func (r *Registry) gcLoop() {
	defer r.wg.Done()
	t := time.NewTicker(r.gcEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.mu.Lock()
		sps := make([]*space, 0, len(r.spaces))
		for _, sp := range r.spaces {
			sps = append(sps, sp)
		}
		r.mu.Unlock()
		for _, sp := range sps {
			select {
			case <-r.stop:
				return
			default:
			}
			h := &Handle{sp: sp}
			idx, err := h.acquireAwake() // a sleeping index has nothing to collect now
			if err != nil {
				continue
			}
			for i := 0; i < 8 && idx.db.RunValueLogGC(0.5) == nil; i++ {
			}
			h.release()
		}
	}
}

// Handle is the proxy through which every caller reaches one space
// incarnation's index. It is small, safe for concurrent use, and never
// opens or creates anything: each call resolves the entry's state, forwards
// when open, and otherwise returns empty results with ErrSpaceNotLoaded or
// ErrSpaceRemoved.
type Handle struct {
	sp *space
}

// SpaceID returns the handle's space id.
func (h *Handle) SpaceID() string { return h.sp.id }

// Incarnation returns the incarnation the handle's entry was opened with
// ("" if it never was).
func (h *Handle) Incarnation() string {
	h.sp.mu.Lock()
	defer h.sp.mu.Unlock()
	return h.sp.incarnation
}

// State returns the handle's state now.
func (h *Handle) State() State {
	h.sp.mu.Lock()
	defer h.sp.mu.Unlock()
	return h.sp.state
}

// Config returns the configuration the index was opened with (zero if never
// opened), for compiling queries in memory with Compile.
func (h *Handle) Config() Config {
	h.sp.mu.Lock()
	defer h.sp.mu.Unlock()
	return h.sp.cfg
}

// acquire returns the open index, waking a sleeping one, and counts the
// call in flight.
func (h *Handle) acquire() (*index, error) {
	sp := h.sp
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for {
		for sp.swapping || (sp.state == StateOpen && sp.idx == nil && sp.busy) {
			sp.cond.Wait()
		}
		switch sp.state {
		case StateOpen:
			if sp.idx == nil {
				if err := sp.wakeLocked(); err != nil {
					return nil, err
				}
				continue
			}
			sp.inflight++
			return sp.idx, nil
		case StateRemoved:
			return nil, ErrSpaceRemoved
		}
		return nil, ErrSpaceNotLoaded
	}
}

// acquireAwake is acquire for background work (value-log GC) that must not
// wake a sleeping index: it fails with ErrSpaceNotLoaded instead.
func (h *Handle) acquireAwake() (*index, error) {
	sp := h.sp
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.state != StateOpen || sp.idx == nil || sp.swapping {
		return nil, ErrSpaceNotLoaded
	}
	sp.inflight++
	return sp.idx, nil
}

func (h *Handle) release() {
	sp := h.sp
	sp.mu.Lock()
	sp.inflight--
	if sp.inflight == 0 {
		sp.cond.Broadcast()
		if sp.state == StateOpen {
			sp.armSleepLocked()
		}
	}
	sp.mu.Unlock()
}

// Put inserts or replaces records, maintaining secondary, composite and
// full-text entries. Each record is applied atomically; a large batch is
// split across transactions at record boundaries, so on error a prefix of
// the batch may have been applied (Put is idempotent: retry it).
func (h *Handle) Put(ctx context.Context, recs ...Record) error {
	idx, err := h.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	return idx.put(ctx, recs)
}

// Delete removes records; absent ids are ignored.
func (h *Handle) Delete(ctx context.Context, ids ...string) error {
	idx, err := h.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	return idx.delete(ctx, ids)
}

// SetSyncStatus sets one record's sync status (ErrNotFound if absent).
func (h *Handle) SetSyncStatus(ctx context.Context, id string, st SyncStatus) error {
	idx, err := h.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	return idx.setSyncStatus(ctx, id, st)
}

// Get returns one record (ErrNotFound if absent).
func (h *Handle) Get(ctx context.Context, id string) (Record, error) {
	idx, err := h.acquire()
	if err != nil {
		return Record{}, err
	}
	defer h.release()
	return idx.get(ctx, id)
}

// Heads returns one record's heads hash (ErrNotFound if absent).
func (h *Handle) Heads(ctx context.Context, id string) ([]byte, error) {
	r, err := h.Get(ctx, id)
	return r.HeadsHash, err
}

// Query runs q. On a closed or removed space it returns an empty Result with
// ErrSpaceNotLoaded or ErrSpaceRemoved.
func (h *Handle) Query(ctx context.Context, q Query) (Result, error) {
	idx, err := h.acquire()
	if err != nil {
		return Result{}, err
	}
	defer h.release()
	c, err := Compile(q, idx.cfg)
	if err != nil {
		return Result{}, err
	}
	return idx.query(ctx, c)
}

// ForEachHead calls fn with every record's id and heads hash, in id order,
// from one consistent snapshot (for range diff, verify and rebuild). heads is
// valid only during the call. The call counts as in flight until it
// returns, so Close and Delete wait for it.
func (h *Handle) ForEachHead(ctx context.Context, fn func(id string, heads []byte) error) error {
	idx, err := h.acquire()
	if err != nil {
		return err
	}
	defer h.release()
	return idx.forEachHead(ctx, fn)
}
