package syncengine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"golang.org/x/sync/errgroup"
)

// Remote is the node as an Engine uses it (core/syncclient's client has
// these methods).
type Remote interface {
	SpacePush(ctx context.Context, req *syncpb.SpacePush) (*syncpb.AclAddResponse, error)
	AclLog(ctx context.Context, req *syncpb.AclLogRequest) (*syncpb.AclLogResponse, error)
	HeadUpdate(ctx context.Context, req *syncpb.HeadUpdate) (*syncpb.Ack, error)
	Fetch(ctx context.Context, req *syncpb.FetchRequest) (*syncpb.FetchResponse, error)
	// FetchObjects streams what this device lacks of several objects, calling fn
	// with each object's answer in order (Truncated: more of it follows).
	FetchObjects(ctx context.Context, req *syncpb.FetchObjectsRequest, fn func(*syncpb.FetchResponse) error) error
	HeadSync(ctx context.Context, req *syncpb.HeadSyncRequest) (*syncpb.HeadSyncResponse, error)
}

// Local is the space as an Engine drives it (*space.Space).
type Local interface {
	ID() crypto.SpaceID
	PendingRegistration(ctx context.Context) (space.Registration, bool, error)
	AcceptRegistration(ctx context.Context, accepted []byte) error
	AclSeq(ctx context.Context) (uint64, error)
	ApplyAcl(ctx context.Context, records [][]byte) (int, error)
	// SyncBlocked returns the error that stops the space's sync (a member
	// without the current read key), checked after the ACL is followed.
	SyncBlocked() error
	PendingObjects(ctx context.Context) ([]crypto.ObjectID, error)
	Outgoing(ctx context.Context, id crypto.ObjectID) ([]*syncpb.HeadUpdate, error)
	// Acknowledged records the node's acknowledgement; lacking: the node
	// holds changes of the object the space does not (fetch them).
	Acknowledged(ctx context.Context, id crypto.ObjectID, nodeHeads []string) (lacking bool, err error)
	Rejected(ctx context.Context, id crypto.ObjectID, reason string) error
	ApplyRemote(ctx context.Context, id crypto.ObjectID, raws [][]byte, nodeHeads []string) ([]crypto.ChangeID, error)
	// VerifyRemote checks a download's objects' signatures in parallel,
	// beside the space's actor; ApplyVerified then applies them
	// (missing[i] for objs[i]), durable together, and stops at the first
	// object that fails (verifying or applying).
	VerifyRemote(objs []space.RemoteObject) ([]space.Verified, error)
	ApplyVerified(ctx context.Context, objs []space.Verified) (missing [][]crypto.ChangeID, err error)
	// Digest is the whole-range head-sync digest, kept in memory: an idle
	// head sync compares it with the node's answer and reads nothing else.
	Digest(ctx context.Context) (diff.Digest, error)
	// Summary is the full head-sync set, read from the store when the
	// digests differ.
	Summary(ctx context.Context) (*diff.Set, error)
	Heads(ctx context.Context, id crypto.ObjectID) ([]string, error)
}

// Events are what an Engine reports; nil fields are skipped. They are
// called from the engine's goroutine and must not block on the engine.
// Control flows one way (DESIGN §7): an event handler may tell the engine
// what the node reported (AclHeadAt), but nothing the engine reports makes
// it fetch again by itself — a status report never triggers an ACL fetch
// unless the node's ACL head is ahead of ours.
type Events struct {
	// AclApplied: new ACL records were applied to the space.
	AclApplied func(id crypto.SpaceID)
	// Status: the node's status of the space (pending deletion, deleted …),
	// reported after the ACL it came with was applied.
	Status func(st *syncpb.SpaceStatus)
	// Synced: a cycle finished with nothing left to push or fetch.
	Synced func(id crypto.SpaceID)
	// Failed: a cycle failed; it is retried with backoff.
	Failed func(id crypto.SpaceID, err error)
}

// Config tunes an Engine.
type Config struct {
	// HeadSyncEvery is the period of the engine's own head sync while
	// connected; 0: none (a Syncer checks its engines' digests every
	// SyncerConfig.DigestEvery instead).
	HeadSyncEvery time.Duration
	// CallTimeout bounds each network call.
	CallTimeout time.Duration
	Log         *slog.Logger
	Events      Events

	// registered is told when the node accepted this device's registration
	// of the space: the Syncer adds it to the push stream (the node skipped
	// it while it did not know the space).
	registered func()
}

func (c *Config) defaults() {
	if c.CallTimeout <= 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// maxInbox bounds pushes waiting for the engine; beyond it they are dropped
// and a head sync recovers them.
const maxInbox = 1024

// Engine syncs one loaded space.
type Engine struct {
	local Local
	cfg   Config

	mu       sync.Mutex // guards every field up to wake
	remote   Remote
	conns    uint64 // bumps with every SetRemote: a new connection ends a backoff
	inbox    []*syncpb.HeadUpdate
	needHead bool
	needAcl  bool
	// aclSeq is the space's ACL head as of the last ACL fetch (aclKnown:
	// read at least once); a node report at or below it needs no fetch.
	aclSeq   uint64
	aclKnown bool
	failing  bool // the last cycle failed (Settled)
	// Head-sync rounds, for WaitCaughtUp: headStarted numbers the head syncs
	// cycles began, headDone is the number of the last one that completed,
	// headCh is closed (and replaced) when one completes.
	headStarted, headDone uint64
	headCh                chan struct{}
	waiters               map[*waiter]struct{}

	wake chan struct{} // capacity 1: a pending nudge
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// waiter is a WaitCaughtUp call: it is told the progress of the head syncs
// from round on.
type waiter struct {
	round    uint64
	progress func(done, total int)
}

// NewEngine starts an engine for a loaded space. It is offline until
// SetRemote gives it a connection.
func NewEngine(local Local, cfg Config) *Engine {
	cfg.defaults()
	e := &Engine{local: local, cfg: cfg, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		headCh: make(chan struct{}), waiters: map[*waiter]struct{}{},
		needHead: true, needAcl: true} // a space that just loaded may be behind the node
	go e.run()
	return e
}

// Close stops the engine and waits for it. Idempotent.
func (e *Engine) Close() {
	e.once.Do(func() { close(e.stop) })
	<-e.done
}

// SetRemote hands the engine the node connection (nil: offline).
//
// A new connection by itself fetches nothing: what the node has that the
// space lacks is found by comparing (the Syncer's digest check on connect,
// and the space statuses the push stream starts with, which carry the ACL
// head: AclHeadAt). A new engine follows the ACL and head-syncs once it has
// a connection (a space that just loaded may be behind the node).
func (e *Engine) SetRemote(r Remote) {
	e.mu.Lock()
	e.remote = r
	e.conns++
	e.mu.Unlock()
	e.nudge()
}

// RequestHeadSync asks for a head sync (the node's digest of the space
// differs from ours, or pushes may have been missed).
func (e *Engine) RequestHeadSync() {
	e.mu.Lock()
	e.needHead = true
	e.mu.Unlock()
	e.nudge()
}

// LocalChanged tells the engine there are local changes to push.
func (e *Engine) LocalChanged() { e.nudge() }

// Push hands the engine a HeadUpdate the node pushed.
func (e *Engine) Push(hu *syncpb.HeadUpdate) {
	e.mu.Lock()
	if len(e.inbox) < maxInbox {
		e.inbox = append(e.inbox, hu)
	} else {
		e.needHead = true // dropped: head sync will find it
	}
	e.mu.Unlock()
	e.nudge()
}

// AclChanged tells the engine the space's ACL moved on the node (an
// AclUpdate push): it fetches the log.
func (e *Engine) AclChanged() {
	e.mu.Lock()
	e.needAcl = true
	e.mu.Unlock()
	e.nudge()
}

// AclHeadAt tells the engine the node reported the space's ACL head at seq
// (a space status). It fetches the log only if that is ahead of the local
// head, so answering a status report can never start a loop of fetches.
func (e *Engine) AclHeadAt(seq uint64) {
	e.mu.Lock()
	ahead := !e.aclKnown || seq > e.aclSeq
	if ahead {
		e.needAcl = true
	}
	e.mu.Unlock()
	if ahead {
		e.nudge()
	}
}

// WaitCaughtUp asks for a head sync and waits until one that started after
// the call has completed: the space then holds everything the node had when
// it began. progress (may be nil) is told how many of the objects that head
// sync found different have been fetched, against how many it has found so
// far (the total grows while its rounds go on); it is called from the
// engine's goroutines, one call at a time, and must not block. It fails
// when ctx ends or the engine stops.
func (e *Engine) WaitCaughtUp(ctx context.Context, progress func(done, total int)) error {
	e.mu.Lock()
	w := &waiter{round: e.headStarted + 1, progress: progress}
	e.waiters[w] = struct{}{}
	e.needHead = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.waiters, w)
		e.mu.Unlock()
	}()
	e.nudge()
	for {
		e.mu.Lock()
		done, ch := e.headDone >= w.round, e.headCh
		e.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.stop:
			return errkind.Errorf("sync.wait", errkind.Precondition, "space %s stopped syncing", e.local.ID())
		}
	}
}

// headProgress tells the waiters of head-sync round round how far it got.
func (e *Engine) headProgress(round uint64, done, total int) {
	e.mu.Lock()
	var fns []func(int, int)
	for w := range e.waiters {
		if w.progress != nil && w.round <= round {
			fns = append(fns, w.progress)
		}
	}
	e.mu.Unlock()
	for _, fn := range fns {
		fn(done, total)
	}
}

// roundProgress tells the waiters of one head-sync round (through
// Engine.headProgress) how many objects it found to fetch and how many are
// done. The rounds that find them and the
// applier that does them call it from two goroutines; mu keeps the waiters'
// callbacks one at a time, with figures that only grow.
type roundProgress struct {
	e           *Engine
	round       uint64
	mu          sync.Mutex
	done, total int
}

func (p *roundProgress) found(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total += n
	p.e.headProgress(p.round, p.done, p.total)
}

func (p *roundProgress) applied(done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = done
	p.e.headProgress(p.round, p.done, p.total)
}

// headSynced records that head-sync round round completed.
func (e *Engine) headSynced(round uint64) {
	e.mu.Lock()
	if round > e.headDone {
		e.headDone = round
		close(e.headCh)
		e.headCh = make(chan struct{})
	}
	e.mu.Unlock()
}

func (e *Engine) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Engine) run() {
	defer close(e.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-e.stop; cancel() }()

	// The head-sync ticker, when the engine has one of its own
	// (HeadSyncEvery > 0; a Syncer's engines have none: it checks every
	// space's digest in one call), runs only while connected: offline (or
	// paused in the background) the engine has no timer at all.
	tick := time.NewTicker(time.Hour)
	tick.Stop()
	defer tick.Stop()
	ticking := false
	var (
		retry    *time.Timer
		retryOn  uint64 // the connection the last failure happened on
		failures int
		lastErr  string
	)
	for {
		if online := e.online() && e.cfg.HeadSyncEvery > 0; online != ticking {
			if online {
				tick.Reset(e.cfg.HeadSyncEvery)
			} else {
				tick.Stop()
			}
			ticking = online
		}
		var retryC <-chan time.Time
		if retry != nil {
			retryC = retry.C
		}
		select {
		case <-e.stop:
			if retry != nil {
				retry.Stop()
			}
			return
		case <-e.wake:
			// While backing off, a nudge only records its need (the flags
			// are set already): the retry does the work. A new connection
			// ends the backoff at once.
			if retry != nil && e.connection() == retryOn {
				continue
			}
		case <-tick.C:
			e.mu.Lock()
			e.needHead = true
			e.mu.Unlock()
			if retry != nil {
				continue
			}
		case <-retryC:
		}
		if retry != nil {
			retry.Stop()
			retry = nil
		}
		conn := e.connection()
		if conn != retryOn {
			failures, lastErr = 0, ""
		}
		err := e.cycle(ctx)
		e.mu.Lock()
		e.failing = err != nil
		e.mu.Unlock()
		switch {
		case err == nil:
			failures, lastErr = 0, ""
		case ctx.Err() != nil:
			return
		default:
			failures++
			if e.cfg.Events.Failed != nil {
				e.cfg.Events.Failed(e.local.ID(), err)
			}
			wait := Backoff(failures)
			// Once per backoff step; the same failure over and over only
			// while the backoff still grows (it reaches its cap well
			// before maxLoggedRepeats), then at debug level.
			level := slog.LevelInfo
			if msg := err.Error(); msg == lastErr && failures > maxLoggedRepeats {
				level = slog.LevelDebug
			} else {
				lastErr = msg
			}
			e.cfg.Log.Log(ctx, level, "sync cycle failed; retrying", "space", e.local.ID(), "in", wait, "attempt", failures, "err", err)
			retry, retryOn = time.NewTimer(wait), conn
		}
	}
}

// maxLoggedRepeats is how many identical consecutive failures are logged at
// info level before the engine stays quiet about them (debug level).
const maxLoggedRepeats = 8

func (e *Engine) knowsAcl() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.aclKnown
}

// Settled reports whether the engine has nothing to do: no push or need
// waiting, and its last cycle (if any) did not fail. A space whose engine is
// settled loses nothing by unloading.
func (e *Engine) Settled() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.remote == nil { // offline: what it would fetch is found again on connect
		return len(e.inbox) == 0
	}
	return len(e.inbox) == 0 && !e.needHead && !e.needAcl && !e.failing
}

// online reports whether the engine has a connection.
func (e *Engine) online() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.remote != nil
}

// connection numbers the engine's current connection.
func (e *Engine) connection() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conns
}

// Backoff is the wait before retry n (1-based): exponential from 250 ms,
// capped at 10 s (CLI.md), with jitter — the node client's policy.
func Backoff(n int) time.Duration { return syncclient.Backoff{}.Delay(n - 1) }

// cycle does one round of sync work with the current connection.
func (e *Engine) cycle(ctx context.Context) error {
	e.mu.Lock()
	r := e.remote
	if r == nil {
		e.mu.Unlock()
		return nil // offline: local changes wait in the store's push queue
	}
	// Take the work: what this cycle does not finish is put back (requeue).
	inbox := e.inbox
	e.inbox = nil
	needHead, needAcl := e.needHead, e.needAcl
	e.needHead, e.needAcl = false, false
	var round uint64 // this cycle's head-sync round
	if needHead {
		e.headStarted++
		round = e.headStarted
	}
	e.mu.Unlock()
	requeue := func() { // keep what this cycle did not finish
		e.mu.Lock()
		e.inbox = append(inbox, e.inbox...)
		e.needHead = e.needHead || needHead
		e.needAcl = e.needAcl || needAcl
		e.mu.Unlock()
	}
	if err := e.register(ctx, r); err != nil {
		requeue()
		return err
	}
	if !e.knowsAcl() {
		// The local ACL head, read once: a node status at it needs no fetch
		// (AclHeadAt).
		seq, err := e.local.AclSeq(ctx)
		if err != nil {
			requeue()
			return err
		}
		e.mu.Lock()
		if !e.aclKnown {
			e.aclSeq, e.aclKnown = seq, true
		}
		e.mu.Unlock()
	}
	if needAcl {
		if err := e.followAcl(ctx, r); err != nil {
			requeue()
			return err
		}
		needAcl = false
	}
	if err := e.local.SyncBlocked(); err != nil {
		needAcl = true // a record that unblocks it is fetched on the retry
		requeue()
		return err
	}
	for len(inbox) > 0 {
		if err := e.applyPush(ctx, r, inbox[0]); err != nil {
			requeue()
			return err
		}
		inbox = inbox[1:]
	}
	if err := e.pushPending(ctx, r); err != nil {
		requeue()
		return err
	}
	if needHead {
		if err := e.headSync(ctx, r, round); err != nil {
			requeue()
			return err
		}
		needHead = false
		e.headSynced(round)
	}
	if e.cfg.Events.Synced != nil {
		e.cfg.Events.Synced(e.local.ID())
	}
	return nil
}

func (e *Engine) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.cfg.CallTimeout)
}

// register creates the space on the node if only this device has it.
func (e *Engine) register(ctx context.Context, r Remote) (err error) {
	reg, pending, err := e.local.PendingRegistration(ctx)
	if err != nil || !pending {
		return err
	}
	cctx, cancel := e.call(ctx)
	defer cancel()
	resp, err := r.SpacePush(cctx, &syncpb.SpacePush{Header: reg.Header, AclRoot: reg.AclRoot})
	if err != nil {
		return err
	}
	defer func() {
		if err == nil && e.cfg.registered != nil {
			e.cfg.registered()
		}
	}()
	switch resp.Status {
	case syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED:
		return e.local.AcceptRegistration(ctx, resp.Accepted)
	case syncpb.AclAddStatus_ACL_ADD_STATUS_CONFLICT:
		// The node has the space already (a push whose answer was lost):
		// take its accepted root from the log.
		log, err := r.AclLog(cctx, &syncpb.AclLogRequest{SpaceId: string(e.local.ID())})
		if err != nil {
			return err
		}
		if len(log.Records) == 0 {
			return fmt.Errorf("space %s: the node reports a conflict but has no ACL", e.local.ID())
		}
		return e.local.AcceptRegistration(ctx, log.Records[0])
	}
	return errkind.Errorf("sync.register", errkind.Permission, "the node refused space %s: %s", e.local.ID(), resp.Reason)
}

// followAcl fetches and applies ACL records after the local head, then
// reports the node's status of the space (after the local head moved, so a
// handler comparing the status's ACL head with ours sees them equal).
func (e *Engine) followAcl(ctx context.Context, r Remote) error {
	seq, err := e.local.AclSeq(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := e.call(ctx)
	defer cancel()
	resp, err := r.AclLog(cctx, &syncpb.AclLogRequest{SpaceId: string(e.local.ID()), AfterSeq: seq})
	if err != nil {
		return err
	}
	n, applyErr := e.local.ApplyAcl(ctx, resp.Records)
	e.mu.Lock()
	e.aclSeq, e.aclKnown = seq+uint64(n), true
	e.mu.Unlock()
	if resp.Status != nil && e.cfg.Events.Status != nil {
		e.cfg.Events.Status(resp.Status)
	}
	if applyErr != nil {
		return applyErr
	}
	if n > 0 && e.cfg.Events.AclApplied != nil {
		e.cfg.Events.AclApplied(e.local.ID())
	}
	return nil
}

// applyPush applies a pushed HeadUpdate, fetching what it builds on.
func (e *Engine) applyPush(ctx context.Context, r Remote, hu *syncpb.HeadUpdate) error {
	id := crypto.ObjectID(hu.ObjectId)
	missing, err := e.local.ApplyRemote(ctx, id, hu.Changes, hu.Heads)
	if err != nil && !errkind.Is(err, errkind.Transient) {
		e.cfg.Log.Warn("dropping a pushed update", "space", e.local.ID(), "object", id, "err", err)
		return nil // a bad push is the sender's problem; head sync re-checks
	}
	if err != nil || len(missing) > 0 {
		return e.fetch(ctx, r, id)
	}
	return nil
}

// fetch downloads what the node has of an object that we lack.
func (e *Engine) fetch(ctx context.Context, r Remote, id crypto.ObjectID) error {
	for range 1000 { // a truncated answer asks again; bounded against a looping node
		have, err := e.local.Heads(ctx, id)
		if err != nil {
			return err
		}
		cctx, cancel := e.call(ctx)
		resp, err := r.Fetch(cctx, &syncpb.FetchRequest{SpaceId: string(e.local.ID()), ObjectId: string(id), HaveHeads: have})
		cancel()
		if err != nil {
			return err
		}
		if _, err := e.local.ApplyRemote(ctx, id, resp.Changes, resp.Heads); err != nil {
			return err
		}
		if !resp.Truncated {
			return nil
		}
	}
	return fmt.Errorf("fetch %s: the node kept truncating", id)
}

// fetchBatch bounds the objects of one FetchObjects call: a head sync's
// progress moves once a batch.
const fetchBatch = 256

// applyBatch and applyBatchBytes bound what a download holds before it
// applies it: that many object answers, or that many bytes of changes.
const (
	applyBatch      = 64
	applyBatchBytes = 4 << 20
)

// fetchMany downloads what the node has of objects ids that we lack
// (download, given every id at once).
func (e *Engine) fetchMany(ctx context.Context, r Remote, ids []string, progress func(done int)) error {
	wanted := make(chan []string, 1)
	wanted <- ids
	close(wanted)
	return e.download(ctx, r, wanted, progress)
}

// download fetches what the node has of the objects whose ids arrive on
// wanted, until it is closed, in streamed batches (streamBatches),
// reporting how many are done as batches are applied. A head sync sends ids
// as its rounds find them, so the first objects arrive while it still
// compares the rest. One applier serves every batch, so the space's actor
// stores one batch while the next arrives. An object whose answer leaves
// parents missing is fetched again alone, at the end. A stream is cut when
// it stalls for CallTimeout.
func (e *Engine) download(ctx context.Context, r Remote, wanted <-chan []string, progress func(done int)) error {
	apl := newApplier(ctx, e.local, progress)
	err := e.streamBatches(ctx, r, wanted, apl)
	again, aerr := apl.finish()
	if err == nil {
		err = aerr
	}
	if err != nil {
		return err
	}
	for _, id := range again {
		if err := e.fetch(ctx, r, id); err != nil {
			return err
		}
	}
	return nil
}

// fetchStreams bounds the FetchObjects streams a download keeps open at
// once. One at a time, a download stalls a round trip between batches: the
// next one is asked for only when the last has arrived, and what is queued to
// apply meanwhile is soon done (over a 50 ms round trip, 30k objects took
// 14.0 s so, and 8.4-9.0 s with two streams; three were no faster). With
// two, one streams while the next is asked.
const fetchStreams = 2

// streamBatches asks for the ids from wanted fetchBatch at a time (a last
// smaller batch once wanted is closed), up to fetchStreams batches at once,
// and hands what arrives, verified, to apl. The first error, of a stream or
// of apl, stops the others and is the answer; the sender of wanted must
// stop on ctx too.
func (e *Engine) streamBatches(ctx context.Context, r Remote, wanted <-chan []string, apl *applier) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchStreams)
	var pending []string
	start := func(batch []string) { g.Go(func() error { return e.streamBatch(gctx, r, batch, apl) }) }
	for open := true; open && gctx.Err() == nil; {
		var ids []string
		select {
		case ids, open = <-wanted:
		case <-gctx.Done():
		}
		pending = append(pending, ids...)
		for len(pending) >= fetchBatch && gctx.Err() == nil {
			start(pending[:fetchBatch:fetchBatch])
			pending = pending[fetchBatch:]
		}
		if !open && len(pending) > 0 && gctx.Err() == nil {
			start(pending)
		}
	}
	// A failed stream cancelled gctx: g.Wait answers its error. Otherwise
	// ctx itself ended while waiting for ids.
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// streamBatch asks for one batch of ids in one FetchObjects stream and hands
// what arrives, verified, to apl, applyBatch objects at a time. What arrived
// is handed on even when the stream breaks.
func (e *Engine) streamBatch(ctx context.Context, r Remote, batch []string, apl *applier) error {
	req := &syncpb.FetchObjectsRequest{SpaceId: string(e.local.ID()), Objects: make([]*syncpb.FetchObject, len(batch))}
	asked := make(map[string]bool, len(batch))
	for i, id := range batch {
		asked[id] = true
		have, err := e.local.Heads(ctx, crypto.ObjectID(id))
		if err != nil {
			return err
		}
		req.Objects[i] = &syncpb.FetchObject{ObjectId: id, HaveHeads: have}
	}
	var got []space.RemoteObject
	var job applyJob
	gotBytes := 0
	flush := func() error { // verify what arrived; the applier stores it
		verified, err := e.local.VerifyRemote(got)
		if err != nil {
			return err
		}
		job.objs = verified
		err = apl.submit(job)
		got, job, gotBytes = nil, applyJob{}, 0
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	stall := time.AfterFunc(e.cfg.CallTimeout, func() { stalled.Store(true); cancel() })
	err := r.FetchObjects(sctx, req, func(resp *syncpb.FetchResponse) error {
		stall.Reset(e.cfg.CallTimeout)
		id := crypto.ObjectID(resp.ObjectId)
		if !asked[resp.ObjectId] {
			return fmt.Errorf("fetch: the node answered object %s, not asked for", id)
		}
		// A truncated answer goes on in the stream's next page.
		got = append(got, space.RemoteObject{ID: id, Raws: resp.Changes, NodeHeads: resp.Heads})
		job.ids = append(job.ids, id)
		job.last = append(job.last, !resp.Truncated)
		for _, c := range resp.Changes {
			gotBytes += len(c)
		}
		if len(got) >= applyBatch || gotBytes >= applyBatchBytes {
			return flush()
		}
		return nil
	})
	stall.Stop()
	// The last job of a whole batch tells the applier the batch is done.
	if err == nil {
		job.done = len(batch)
	}
	if ferr := flush(); err == nil {
		err = ferr
	}
	if err != nil && ctx.Err() == nil && stalled.Load() {
		return fmt.Errorf("fetch: the node's answer stalled for %v", e.cfg.CallTimeout)
	}
	return err
}

// pushPending sends every object's unacknowledged changes.
func (e *Engine) pushPending(ctx context.Context, r Remote) error {
	ids, err := e.local.PendingObjects(ctx)
	if err != nil {
		return err
	}
	return e.pushObjects(ctx, r, ids)
}

// pushWorkers bounds the objects pushed at once, and pushPerWorker is the
// backlog that earns each worker. One push is a round trip and a durable
// write on the node, then a durable write here: sent one at a time, a large
// space uploads at a few hundred objects a second, while several in flight
// share the node's and the space's group commits. A short list goes one at a
// time: it is done within a few hundred milliseconds either way, and changes
// made meanwhile (a burst of edits) coalesce into the next cycle's updates
// instead of each costing a push, an acknowledgement and a forward to every
// other device.
const (
	pushWorkers   = 8
	pushPerWorker = 64
)

// pushObjects pushes each object's missing changes, several objects at a
// time when there are many (an object's own updates stay in order, in
// pushObject). The first error stops the others and is the answer; the
// objects not pushed stay pending for the next cycle.
func (e *Engine) pushObjects(ctx context.Context, r Remote, ids []crypto.ObjectID) error {
	workers := min(pushWorkers, len(ids)/pushPerWorker)
	if workers <= 1 {
		for _, id := range ids {
			if err := e.pushObject(ctx, r, id); err != nil {
				return err
			}
		}
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, id := range ids {
		if gctx.Err() != nil {
			break // an earlier push failed: g.Wait answers its error
		}
		g.Go(func() error { return e.pushObject(gctx, r, id) })
	}
	return g.Wait()
}

func (e *Engine) pushObject(ctx context.Context, r Remote, id crypto.ObjectID) error {
	batches, err := e.local.Outgoing(ctx, id)
	if err != nil {
		return err
	}
	for _, hu := range batches {
		cctx, cancel := e.call(ctx)
		ack, err := r.HeadUpdate(cctx, hu)
		cancel()
		if err != nil {
			return err
		}
		if ack.Status == syncpb.AckStatus_ACK_STATUS_REJECTED {
			return e.local.Rejected(ctx, id, ack.Reason)
		}
		lacking, err := e.local.Acknowledged(ctx, id, ack.Heads)
		if err != nil {
			return err
		}
		if lacking { // another member's concurrent change: it is on the node, fetch it
			if err := e.fetch(ctx, r, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// headSync compares (object, heads hash) summaries with the node, then
// fetches what differs and pushes what the node lacks. round numbers it
// for WaitCaughtUp's progress.
func (e *Engine) headSync(ctx context.Context, r Remote, round uint64) error {
	digest, err := e.local.Digest(ctx)
	if err != nil {
		return err
	}
	ask := func(ctx context.Context, ranges []diff.Range) ([]diff.RangeResult, error) {
		cctx, cancel := e.call(ctx)
		defer cancel()
		resp, err := r.HeadSync(cctx, diff.RequestToPB(string(e.local.ID()), ranges))
		if err != nil {
			return nil, err
		}
		return diff.ResultsFromPB(resp)
	}
	// The first round asks about the whole position space; when the node's
	// answer equals our digest, nothing differs and the store is not read.
	first := []diff.Range{diff.Full(diff.DefaultElementLimit)}
	results, err := ask(ctx, first)
	if err != nil {
		return err
	}
	if len(results) == 1 && digest.Matches(results[0]) {
		e.headProgress(round, 0, 0)
		return nil
	}
	set, err := e.local.Summary(ctx)
	if err != nil {
		return err
	}
	d := diff.NewDriver(set, diff.DefaultFanout, diff.DefaultElementLimit)
	d.Next() // == first, answered above
	if err := d.Feed(results); err != nil {
		return err
	}
	// The rounds go on while what they found downloads: a new device's first
	// objects arrive after two rounds, not after all of them (eleven for 100k
	// objects). The total the waiters see grows as rounds find more.
	prog := &roundProgress{e: e, round: round}
	wanted := make(chan []string, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(wanted)
		for {
			if ids := d.TakeWanted(); len(ids) > 0 {
				prog.found(len(ids))
				select {
				case wanted <- ids:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			ranges := d.Next()
			if len(ranges) == 0 {
				return nil
			}
			results, err := ask(gctx, ranges)
			if err != nil {
				return err
			}
			if err := d.Feed(results); err != nil {
				return err
			}
		}
	})
	g.Go(func() error { return e.download(gctx, r, wanted, prog.applied) })
	if err := g.Wait(); err != nil {
		return err
	}
	res := d.Result()
	push := make([]crypto.ObjectID, 0, len(res.Changed)+len(res.LocalOnly))
	for _, ids := range [][]string{res.Changed, res.LocalOnly} {
		for _, id := range ids {
			push = append(push, crypto.ObjectID(id))
		}
	}
	return e.pushObjects(ctx, r, push)
}
