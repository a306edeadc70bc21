package subscription

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"sync"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/spaceindex"
)

// Source is one loaded space's index as subscriptions see it (a
// *spaceindex.Handle).
type Source interface {
	QueryAt(ctx context.Context, q spaceindex.Query) (spaceindex.Result, uint64, error)
	Watch(fn func(spaceindex.Batch)) (cancel func())
}

// Kind is what a Message says.
type Kind uint8

// The message kinds.
const (
	// Add: the record entered the window right after AfterID ("" = first).
	// A DetailsSet for it comes just before.
	Add Kind = iota + 1
	// Remove: the record left the window.
	Remove
	// Move: the record, still in the window, now follows AfterID.
	Move
	// DetailsSet: every requested detail of a record entering the window.
	DetailsSet
	// DetailsAmend: requested details of a record in the window that changed
	// or appeared (Details holds just those).
	DetailsAmend
	// DetailsUnset: requested details that disappeared (Keys).
	DetailsUnset
	// Counters: Total matches, Prev before the window, Next after it.
	Counters
	// SpaceRemoved: the space unloaded; its records leave the subscription
	// (the Remove messages for those in the window follow).
	SpaceRemoved
)

var kindNames = [...]string{"", "add", "remove", "move", "detailsSet", "detailsAmend", "detailsUnset", "counters", "spaceRemoved"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind?"
}

// Message is one change to what a subscriber sees.
type Message struct {
	Kind    Kind
	Space   string
	ID      string
	AfterID string             // Add, Move
	Details spaceindex.Details // DetailsSet, DetailsAmend
	Keys    []string           // DetailsUnset
	Total   int                // Counters
	Prev    int                // Counters
	Next    int                // Counters
}

// Sink receives one subscription's messages: one call per batch, with the
// subscription's batch number (1, 2, … — a Snapshot's Seq says which batches
// it already includes). Calls for one subscription never overlap and come
// in order. It must not block: it runs under an index's write lock.
type Sink func(subID string, seq uint64, msgs []Message)

// KeySyncStatus is the detail under which a record's sync status appears
// (as "synced", "syncing", "queued" or "error") when all details or that key
// are requested: status changes reach subscribers as detail amendments.
const KeySyncStatus = spaceindex.KeySyncStatus

// Request describes a subscription.
type Request struct {
	// ID names the subscription; empty picks a fresh one. It must be unique
	// among live subscriptions.
	ID string
	// Spaces are the spaces it covers; empty means every loaded space
	// (spaces that load later join, spaces that unload leave).
	Spaces []string
	// Query is the filter, sorts, window (Limit 0 = no limit, Offset) and
	// detail keys (nil = all) of the subscription.
	Query spaceindex.Query
}

// Item is one record of a snapshot's window.
type Item struct {
	Space   string
	ID      string
	Details spaceindex.Details // the requested keys (see KeySyncStatus)
}

// Snapshot is a subscription's first answer.
type Snapshot struct {
	ID string
	// Seq is the number of the last batch of messages the snapshot includes:
	// apply only batches numbered after it (they may reach the subscriber
	// before the snapshot does).
	Seq    uint64
	Items  []Item
	Total  int
	Spaces []string // the spaces covered now
}

// Config configures a Service.
type Config struct {
	// Index is the configuration every space index is opened with (its
	// full-text keys decide what a full-text filter matches).
	Index spaceindex.Config
	Log   *slog.Logger
}

// Service owns the live subscriptions of one account.
type Service struct {
	cfg    Config
	margin int // records held per space beyond a window (tests lower it)

	mu     sync.Mutex // guards spaces, subs, closed; never held across I/O
	spaces map[string]Source
	subs   map[string]*sub
	closed bool

	wg sync.WaitGroup // re-snapshots after a feed reset
}

// New returns an empty service.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, margin: defaultMargin, spaces: map[string]Source{}, subs: map[string]*sub{}}
}

// defaultMargin is how many matches beyond its window a subscription with
// a limit holds per space: writes that push records out of the window are
// answered from memory, and only losing more than this many of a space's
// held matches makes the subscription read that space again.
const defaultMargin = 32

// ErrClosed is returned once the service closed.
var ErrClosed = errors.New("subscription service closed")

// Subscribe starts a subscription and returns its snapshot. Its messages go
// to sink until Unsubscribe or Close.
func (s *Service) Subscribe(ctx context.Context, req Request, sink Sink) (Snapshot, error) {
	const op = "subscribe"
	c, err := spaceindex.Compile(req.Query, s.cfg.Index)
	if err != nil {
		return Snapshot{}, errkind.E(op, errkind.Invalid, err)
	}
	if req.ID == "" {
		req.ID = newID()
	}
	sb := &sub{
		id: req.ID, c: c, q: req.Query, all: len(req.Spaces) == 0, sink: sink, svc: s, margin: s.margin,
		named:   map[string]bool{},
		spaces:  map[string]*coverage{},
		entries: map[entryKey]*entry{},
		shown:   map[entryKey]spaceindex.Details{},
		touched: map[entryKey]bool{},
	}
	sb.settled = sync.NewCond(&sb.mu)
	for _, id := range req.Spaces {
		sb.named[id] = true
	}
	if req.Query.Keys != nil {
		sb.kept = slices.Clone(req.Query.Keys)
		for _, s := range req.Query.Sorts {
			if !slices.Contains(sb.kept, s.Key) {
				sb.kept = append(sb.kept, s.Key)
			}
		}
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return Snapshot{}, errkind.E(op, errkind.Precondition, ErrClosed)
	case s.subs[req.ID] != nil:
		s.mu.Unlock()
		return Snapshot{}, errkind.Errorf(op, errkind.Exists, "a subscription %q exists", req.ID)
	}
	var attach []string
	for id, src := range s.spaces {
		if sb.covers(id) {
			sb.watch(id, src)
			attach = append(attach, id)
		}
	}
	if !sb.all && len(attach) == 0 {
		s.mu.Unlock()
		return Snapshot{}, errkind.Errorf(op, errkind.Precondition, "none of the spaces %v is loaded", req.Spaces)
	}
	s.subs[req.ID] = sb
	s.mu.Unlock()

	for _, id := range attach {
		if err := sb.snapshot(ctx, id); err != nil {
			s.Unsubscribe(req.ID)
			return Snapshot{}, errkind.E(op, errkind.Of(err), err)
		}
	}
	return sb.goLive(), nil
}

// Unsubscribe ends a subscription; it reports whether one was live.
func (s *Service) Unsubscribe(id string) bool {
	s.mu.Lock()
	sb := s.subs[id]
	delete(s.subs, id)
	s.mu.Unlock()
	if sb == nil {
		return false
	}
	sb.end()
	return true
}

// SpaceLoaded makes a loaded space's records join every subscription that
// covers it (with Add messages for those entering a window).
func (s *Service) SpaceLoaded(id string, src Source) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.spaces[id] = src
	var join []*sub
	for _, sb := range s.subs {
		if sb.covers(id) && sb.watch(id, src) {
			join = append(join, sb)
		}
	}
	s.mu.Unlock()
	for _, sb := range join {
		// A load must finish whatever the caller's context: the snapshot
		// reads one index, bounded by its size.
		if err := sb.snapshot(context.Background(), id); err != nil {
			s.cfg.Log.Warn("subscription: space joins", "subscription", sb.id, "space", id, "err", err)
		}
	}
}

// SpaceUnloading removes an unloading space's records from every
// subscription, each told with a SpaceRemoved message then the Remove
// messages of its records in the window. Idempotent.
func (s *Service) SpaceUnloading(id string) {
	s.mu.Lock()
	delete(s.spaces, id)
	var leave []*sub
	for _, sb := range s.subs {
		leave = append(leave, sb)
	}
	s.mu.Unlock()
	for _, sb := range leave {
		sb.dropSpace(id)
	}
}

// Close ends every subscription; later calls fail with ErrClosed.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	all := s.subs
	s.subs = map[string]*sub{}
	s.spaces = map[string]Source{}
	s.mu.Unlock()
	for _, sb := range all {
		sb.end()
	}
	s.wg.Wait()
}

// Count returns the number of live subscriptions (for tests and status).
func (s *Service) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "sub-" + hex.EncodeToString(b)
}

// sub is one subscription.
type sub struct {
	id    string
	c     *spaceindex.Compiled
	q     spaceindex.Query
	all   bool
	named map[string]bool
	sink  Sink
	svc   *Service
	kept  []string // the detail keys entries keep: sort and requested keys (nil: all)

	// margin: matches held per space beyond the window (with a limit).
	margin int

	mu      sync.Mutex // guards everything below
	spaces  map[string]*coverage
	entries map[entryKey]*entry             // the matches held, of every space
	window  []entryKey                      // the window as last told (or snapshotted)
	shown   map[entryKey]spaceindex.Details // what the subscriber holds of each record in the window
	touched map[entryKey]bool               // records written since the last tell
	told    counters                        // the counters as last told
	seq     uint64                          // batches told
	live    bool                            // the snapshot was taken: changes are told
	ended   bool
	reading int        // re-reads in flight (resnapshot)
	settled *sync.Cond // on mu: broadcast when a re-read ends
}

// coverage is the subscription's hold on one space.
//
// A subscription without a limit holds every match of the space. With a
// limit it holds a prefix of them: the first matches in the query's order,
// at least Offset+Limit (or all) — enough for the merged window of every
// space — and at most that plus twice the margin. The space's total is kept
// exact from each change's previous and new state (spaceindex.Change.Prev),
// so a write beyond the held prefix only counts. When removals leave fewer
// than Offset+Limit held while more matches exist, the space is read again
// (its first Offset+Limit+margin matches and its exact total).
type coverage struct {
	src       Source
	cancel    func()
	buffering bool               // the space's snapshot is being read
	buf       []spaceindex.Batch // batches that arrived meanwhile
	gen       int                // bumps on every new snapshot, so a stale one is dropped
	seq       uint64             // the feed sequence number the state reflects: older batches are dropped
	order     []*entry           // the held matches, in the query's order: a prefix of all of them
	total     int                // every match of the space (exact)
}

type entryKey struct{ space, id string }

type entry struct {
	space string
	rec   *spaceindex.Record // full record, as last written; shared, never modified
}

func (e *entry) key() entryKey { return entryKey{e.space, e.rec.ID} }

type counters struct{ total, prev, next int }

func (sb *sub) covers(space string) bool { return sb.all || sb.named[space] }

// watch attaches the feed of a space, buffering until its snapshot is read.
// It reports false when the space was already attached. Caller holds the
// service's mu (so attachments and detachments are ordered).
func (sb *sub) watch(space string, src Source) bool {
	sb.mu.Lock()
	if sb.ended || sb.spaces[space] != nil {
		sb.mu.Unlock()
		return false
	}
	cv := &coverage{src: src, buffering: true}
	sb.spaces[space] = cv
	sb.mu.Unlock()
	// Watch outside mu: the feed calls onBatch (which takes mu) with its own
	// lock held. A batch before cv.cancel is set is dropped by onBatch only
	// if cv was replaced, and the snapshot read after this covers it anyway.
	cancel := src.Watch(func(b spaceindex.Batch) { sb.onBatch(space, cv, b) })
	sb.mu.Lock()
	if !sb.ended && sb.spaces[space] == cv {
		cv.cancel = cancel
		sb.mu.Unlock()
		return true
	}
	sb.mu.Unlock()
	cancel()
	return false
}

// snapshot reads a space the subscription just attached (see read).
func (sb *sub) snapshot(ctx context.Context, space string) error {
	sb.mu.Lock()
	cv := sb.spaces[space]
	if cv == nil || sb.ended {
		sb.mu.Unlock()
		return nil
	}
	gen := cv.gen
	sb.mu.Unlock()
	return sb.read(ctx, space, cv, gen)
}

// read takes a snapshot of a space for coverage generation gen: the first
// matches the window needs plus the margin (every match without a limit),
// with what the window shows, and the exact total; then applies the
// batches that arrived meanwhile (those after the snapshot's number). It
// reads again while what it holds cannot serve the window (a reset, or too
// few matches left). A newer generation supersedes it. Not under any lock:
// it reads the index.
func (sb *sub) read(ctx context.Context, space string, cv *coverage, gen int) error {
	q := sb.q
	q.Limit, q.Offset, q.Keys, q.ExactTotal = sb.held(), 0, sb.kept, true
	for {
		res, seq, err := cv.src.QueryAt(ctx, q)
		if errors.Is(err, spaceindex.ErrSpaceNotLoaded) || errors.Is(err, spaceindex.ErrSpaceRemoved) {
			return nil // it is unloading: SpaceUnloading drops it
		}
		if err != nil {
			return err
		}
		sb.mu.Lock()
		if sb.ended || sb.spaces[space] != cv || cv.gen != gen {
			sb.mu.Unlock()
			return nil
		}
		for _, e := range cv.order { // a re-snapshot replaces what the space had
			sb.touched[e.key()] = true
			delete(sb.entries, e.key())
		}
		cv.order = make([]*entry, 0, len(res.Records))
		for i := range res.Records { // they match, in order: the index filtered and sorted them (keeping only sb.kept)
			e := &entry{space: space, rec: &res.Records[i]}
			sb.entries[e.key()] = e
			sb.touched[e.key()] = true
			cv.order = append(cv.order, e)
		}
		cv.total, cv.seq = res.Total, seq
		again := false
		for _, b := range cv.buf {
			if b.Seq > cv.seq && !again {
				again = b.Reset || sb.applyBatch(space, cv, b)
			}
		}
		cv.buf = nil
		if again {
			cv.gen++
			gen = cv.gen
			sb.mu.Unlock()
			continue
		}
		cv.buffering = false
		if sb.live && !sb.anyBufferingLocked() {
			sb.tell(nil)
		}
		sb.mu.Unlock()
		return nil
	}
}

// held is how many matches of a space the subscription reads: Offset+Limit
// plus the margin, or 0 (every match) without a limit.
func (sb *sub) held() int {
	if sb.q.Limit <= 0 {
		return 0
	}
	return sb.q.Offset + sb.q.Limit + sb.margin
}

// anyBufferingLocked reports whether a space is being read: the window is
// not told meanwhile, since a space being read again after removals may
// hold too few matches for it. Caller holds mu.
func (sb *sub) anyBufferingLocked() bool {
	for _, cv := range sb.spaces {
		if cv.buffering {
			return true
		}
	}
	return false
}

// goLive takes the first snapshot of the window and starts telling changes.
// It waits for re-reads a batch started meanwhile, so the window it returns
// is never built from a space that holds too few matches.
func (sb *sub) goLive() Snapshot {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for sb.reading > 0 {
		sb.settled.Wait()
	}
	sb.live = true
	win := sb.currentWindow()
	snap := Snapshot{ID: sb.id, Seq: sb.seq, Total: sb.totalLocked(), Items: make([]Item, len(win))}
	sb.window = make([]entryKey, len(win))
	for i, e := range win {
		d := sb.project(e.rec)
		sb.shown[e.key()] = d
		sb.window[i] = e.key()
		snap.Items[i] = Item{Space: e.space, ID: e.rec.ID, Details: d}
	}
	clear(sb.touched)
	sb.told = sb.counters(len(win))
	for id := range sb.spaces {
		snap.Spaces = append(snap.Spaces, id)
	}
	slices.Sort(snap.Spaces)
	return snap
}

// onBatch is the feed callback: under the index's write lock.
func (sb *sub) onBatch(space string, cv *coverage, b spaceindex.Batch) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.ended || sb.spaces[space] != cv {
		return
	}
	if cv.buffering {
		cv.buf = append(cv.buf, b)
		return
	}
	if b.Seq <= cv.seq {
		return // the snapshot already holds it (the feed delivers after commit, so it can come late)
	}
	if b.Reset {
		sb.resnapshot(space, cv)
		return
	}
	if sb.applyBatch(space, cv, b) {
		sb.resnapshot(space, cv)
		return
	}
	if sb.live && !sb.anyBufferingLocked() {
		sb.tell(nil)
	}
}

// resnapshot re-reads a space (its feed reset, or removals left too few
// matches held for the window) on a goroutine the service owns (the feed
// callback may not read the index). Caller holds mu.
func (sb *sub) resnapshot(space string, cv *coverage) {
	cv.buffering, cv.buf = true, nil
	cv.gen++
	gen := cv.gen
	svc := sb.svc
	svc.wg.Add(1)
	sb.reading++
	go func() {
		defer svc.wg.Done()
		if err := sb.read(context.Background(), space, cv, gen); err != nil {
			svc.cfg.Log.Warn("subscription: re-reading a space", "subscription", sb.id, "space", space, "err", err)
		}
		sb.mu.Lock()
		sb.reading--
		sb.settled.Broadcast()
		sb.mu.Unlock()
	}()
}

// dropSpace removes a space's records, telling SpaceRemoved first.
func (sb *sub) dropSpace(space string) {
	sb.mu.Lock()
	cv := sb.spaces[space]
	if cv == nil || sb.ended {
		sb.mu.Unlock()
		return
	}
	defer cv.stop() // after mu: the feed takes its lock, then mu
	defer sb.mu.Unlock()
	delete(sb.spaces, space)
	for _, e := range cv.order {
		delete(sb.entries, e.key())
	}
	if sb.live {
		sb.tell([]Message{{Kind: SpaceRemoved, Space: space}})
	}
}

func (sb *sub) end() {
	sb.mu.Lock()
	if sb.ended {
		sb.mu.Unlock()
		return
	}
	sb.ended = true
	held := sb.spaces
	sb.spaces = nil
	sb.mu.Unlock()
	for _, cv := range held { // after mu: the feed takes its lock, then mu
		cv.stop()
	}
}

// stop detaches the feed (a no-op before watch set cancel: watch then
// cancels itself, seeing the coverage gone).
func (cv *coverage) stop() {
	if cv.cancel != nil {
		cv.cancel()
	}
}

// applyBatch applies a batch's changes to a space's held matches and
// total and cuts a held prefix grown past its bound. It reports whether the
// space must be read again: what it holds contradicts the batch, or
// removals left fewer matches held than the window needs while more exist.
// Caller holds mu.
func (sb *sub) applyBatch(space string, cv *coverage, b spaceindex.Batch) (reread bool) {
	cv.seq = b.Seq
	consistent := true
	for _, ch := range b.Changes {
		if !sb.applyChange(space, cv, ch) {
			consistent = false
		}
	}
	switch {
	case !consistent:
		return true
	case sb.q.Limit <= 0:
		return len(cv.order) < cv.total // unreachable: without a limit every match is held
	case len(cv.order) < sb.q.Offset+sb.q.Limit && len(cv.order) < cv.total:
		return true
	case len(cv.order) > sb.held()+sb.margin:
		for _, e := range cv.order[sb.held():] {
			delete(sb.entries, e.key())
		}
		clear(cv.order[sb.held():])
		cv.order = cv.order[:sb.held()]
	}
	return false
}

// applyChange applies one record's change: out of the held matches if it
// was held, in (in order) if it matches now and sorts before the last held
// match (or the space's matches are all held); the total follows whether
// its previous and new states match. It reports false when the change
// contradicts what is held (a held record the index says was absent or not
// matching, or a match that was neither held nor beyond the held prefix).
func (sb *sub) applyChange(space string, cv *coverage, ch spaceindex.Change) bool {
	key := entryKey{space, ch.ID}
	sb.touched[key] = true
	ok := true
	e := sb.entries[key]
	wasMatch := ch.Prev != nil && sb.c.Match(ch.Prev)
	complete := len(cv.order) == cv.total
	if e != nil {
		cv.remove(e, sb.compare)
		delete(sb.entries, key)
		ok = wasMatch
		wasMatch = true
	} else if wasMatch && complete {
		ok = false
	}
	if wasMatch {
		cv.total--
	}
	if ch.Record == nil || !sb.c.Match(ch.Record) {
		return ok
	}
	cv.total++
	ne := &entry{space: space, rec: sb.slim(ch.Record)}
	i, _ := slices.BinarySearchFunc(cv.order, ne, sb.compare)
	if len(cv.order) == cv.total-1 || i < len(cv.order) {
		sb.entries[key] = ne
		cv.order = slices.Insert(cv.order, i, ne)
	}
	return ok
}

// slim returns rec holding only the details the subscription keeps (the
// sort keys and the requested keys): a subscription may hold many matches,
// so it must not hold whole records when it needs a few keys of each.
func (sb *sub) slim(rec *spaceindex.Record) *spaceindex.Record {
	if sb.kept == nil {
		return rec
	}
	out := &spaceindex.Record{ID: rec.ID, SyncStatus: rec.SyncStatus, Details: make(spaceindex.Details, len(sb.kept))}
	for _, k := range sb.kept {
		if v, ok := rec.Details[k]; ok {
			out.Details[k] = v
		}
	}
	return out
}

// remove takes e out of the space's held matches.
func (cv *coverage) remove(e *entry, compare func(a, b *entry) int) {
	i, found := slices.BinarySearchFunc(cv.order, e, compare)
	if found && cv.order[i] == e {
		cv.order = slices.Delete(cv.order, i, i+1)
		return
	}
	// Unreachable while compare is a total order; stay correct regardless.
	if i := slices.Index(cv.order, e); i >= 0 {
		cv.order = slices.Delete(cv.order, i, i+1)
	}
}

// compare orders entries as the query does, then by space (ids are unique
// within a space).
func (sb *sub) compare(a, b *entry) int {
	if r := sb.c.Compare(a.rec, b.rec); r != 0 {
		return r
	}
	return cmp.Compare(a.space, b.space)
}

// currentWindow merges the spaces' held matches into the window: each space
// holds at least its first Offset+Limit matches (or all), so the first
// Offset+Limit of the merge are the first of every match.
func (sb *sub) currentWindow() []*entry {
	end := -1
	if sb.q.Limit > 0 {
		end = sb.q.Offset + sb.q.Limit
	}
	heads := make([][]*entry, 0, len(sb.spaces))
	for _, cv := range sb.spaces {
		if len(cv.order) > 0 {
			heads = append(heads, cv.order)
		}
	}
	var merged []*entry
	for len(heads) > 0 && (end < 0 || len(merged) < end) {
		best := 0
		for i := 1; i < len(heads); i++ {
			if sb.compare(heads[i][0], heads[best][0]) < 0 {
				best = i
			}
		}
		merged = append(merged, heads[best][0])
		if heads[best] = heads[best][1:]; len(heads[best]) == 0 {
			heads = slices.Delete(heads, best, best+1)
		}
	}
	return merged[min(sb.q.Offset, len(merged)):]
}

// totalLocked is the number of matches in every covered space.
func (sb *sub) totalLocked() int {
	n := 0
	for _, cv := range sb.spaces {
		n += cv.total
	}
	return n
}

func (sb *sub) counters(window int) counters {
	total := sb.totalLocked()
	prev := min(sb.q.Offset, total)
	return counters{total: total, prev: prev, next: total - prev - window}
}

// tell diffs the window against what the subscriber holds and sends the
// messages (after lead, if any) as one batch. Caller holds mu.
func (sb *sub) tell(lead []Message) {
	msgs := lead
	win := sb.currentWindow()
	if sb.sameWindow(win) {
		// The common case: nothing entered, left or moved. Only records
		// written since the last tell can have new details.
		for i, k := range sb.window {
			if sb.touched[k] {
				msgs = sb.amend(msgs, win[i])
			}
		}
		sb.finishTell(len(win), msgs)
		return
	}
	inNew := make(map[entryKey]bool, len(win))
	for _, e := range win {
		inNew[e.key()] = true
	}
	oldIdx := make(map[entryKey]int, len(sb.window))
	for i, k := range sb.window {
		if inNew[k] {
			oldIdx[k] = i
		} else {
			msgs = append(msgs, Message{Kind: Remove, Space: k.space, ID: k.id})
			delete(sb.shown, k)
		}
	}
	// Records that stay in place: a longest run whose old positions
	// increase in the new order. Every other staying record moves.
	var stayIdx []int
	for _, e := range win {
		if i, ok := oldIdx[e.key()]; ok {
			stayIdx = append(stayIdx, i)
		}
	}
	fixed := lisMembers(stayIdx)
	j := 0
	keys := make([]entryKey, len(win))
	for i, e := range win {
		k := e.key()
		keys[i] = k
		after := ""
		if i > 0 {
			after = win[i-1].rec.ID
		}
		if _, ok := oldIdx[k]; !ok {
			d := sb.project(e.rec)
			msgs = append(msgs,
				Message{Kind: DetailsSet, Space: e.space, ID: e.rec.ID, Details: d},
				Message{Kind: Add, Space: e.space, ID: e.rec.ID, AfterID: after})
			sb.shown[k] = d
			continue
		}
		if !fixed[j] {
			msgs = append(msgs, Message{Kind: Move, Space: e.space, ID: e.rec.ID, AfterID: after})
		}
		j++
		if sb.touched[k] { // else its details are as shown
			msgs = sb.amend(msgs, e)
		}
	}
	sb.window = keys
	sb.finishTell(len(win), msgs)
}

// sameWindow reports whether win holds the records last told, in order.
func (sb *sub) sameWindow(win []*entry) bool {
	if len(win) != len(sb.window) {
		return false
	}
	for i, e := range win {
		if k := sb.window[i]; e.space != k.space || e.rec.ID != k.id {
			return false
		}
	}
	return true
}

// amend appends the detail changes of a record in the window since told.
func (sb *sub) amend(msgs []Message, e *entry) []Message {
	k := e.key()
	d := sb.project(e.rec)
	amend, unset := diffDetails(sb.shown[k], d)
	if len(amend) > 0 {
		msgs = append(msgs, Message{Kind: DetailsAmend, Space: e.space, ID: e.rec.ID, Details: amend})
	}
	if len(unset) > 0 {
		msgs = append(msgs, Message{Kind: DetailsUnset, Space: e.space, ID: e.rec.ID, Keys: unset})
	}
	sb.shown[k] = d
	return msgs
}

// finishTell adds the counters when they changed and sends the batch.
func (sb *sub) finishTell(window int, msgs []Message) {
	clear(sb.touched)
	if c := sb.counters(window); c != sb.told {
		sb.told = c
		msgs = append(msgs, Message{Kind: Counters, Total: c.total, Prev: c.prev, Next: c.next})
	}
	if len(msgs) == 0 {
		return
	}
	sb.seq++
	sb.sink(sb.id, sb.seq, msgs)
}

// project returns the requested details of rec (see KeySyncStatus).
func (sb *sub) project(rec *spaceindex.Record) spaceindex.Details { return Project(sb.q.Keys, rec) }

// Project returns the details of rec a subscription with these keys shows
// (nil keys: every detail; KeySyncStatus included in both cases when asked).
func Project(keys []string, rec *spaceindex.Record) spaceindex.Details {
	out := spaceindex.Details{}
	if keys == nil {
		for k, v := range rec.Details {
			if k != KeySyncStatus {
				out[k] = v
			}
		}
		out[KeySyncStatus] = syncStatusValue(rec.SyncStatus)
		return out
	}
	for _, k := range keys {
		if k == KeySyncStatus {
			out[k] = syncStatusValue(rec.SyncStatus)
		} else if v, ok := rec.Details[k]; ok {
			out[k] = v
		}
	}
	return out
}

// syncStatusValue names a sync state as the API does; an unknown state is
// never shown as synced.
func syncStatusValue(st spaceindex.SyncStatus) spaceindex.Value {
	switch st.State {
	case spaceindex.SyncSynced, spaceindex.SyncSyncing, spaceindex.SyncError:
		return spaceindex.String(st.State.String())
	}
	return spaceindex.String(spaceindex.SyncQueued.String())
}

// diffDetails returns the keys of next that are new or differ from prev, and
// the keys of prev that next lacks (sorted).
func diffDetails(prev, next spaceindex.Details) (amend spaceindex.Details, unset []string) {
	for k, v := range next {
		if old, ok := prev[k]; !ok || !sameValue(old, v) {
			if amend == nil {
				amend = spaceindex.Details{}
			}
			amend[k] = v
		}
	}
	for k := range prev {
		if _, ok := next[k]; !ok {
			unset = append(unset, k)
		}
	}
	slices.Sort(unset)
	return amend, unset
}

// sameValue is exact equality (Compare would call 1 and 1.0 equal, which
// they are; it also calls lists equal element-wise).
func sameValue(a, b spaceindex.Value) bool {
	return a.Kind() == b.Kind() && spaceindex.Compare(a, b) == 0
}

// lisMembers marks the members of one longest strictly increasing
// subsequence of xs (O(n log n)).
func lisMembers(xs []int) []bool {
	in := make([]bool, len(xs))
	if len(xs) == 0 {
		return in
	}
	tails := []int{}             // tails[l] = index in xs of the smallest tail of a run of length l+1
	prev := make([]int, len(xs)) // predecessor index in the run, -1 for none
	for i, x := range xs {
		l, _ := slices.BinarySearchFunc(tails, x, func(t, x int) int { return cmp.Compare(xs[t], x) })
		if l > 0 {
			prev[i] = tails[l-1]
		} else {
			prev[i] = -1
		}
		if l == len(tails) {
			tails = append(tails, i)
		} else {
			tails[l] = i
		}
	}
	for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
		in[i] = true
	}
	return in
}
