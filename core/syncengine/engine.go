package syncengine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
)

// Remote is the node as an Engine uses it (core/syncclient's client has
// these methods).
type Remote interface {
	SpacePush(ctx context.Context, req *syncpb.SpacePush) (*syncpb.AclAddResponse, error)
	AclLog(ctx context.Context, req *syncpb.AclLogRequest) (*syncpb.AclLogResponse, error)
	HeadUpdate(ctx context.Context, req *syncpb.HeadUpdate) (*syncpb.Ack, error)
	Fetch(ctx context.Context, req *syncpb.FetchRequest) (*syncpb.FetchResponse, error)
	HeadSync(ctx context.Context, req *syncpb.HeadSyncRequest) (*syncpb.HeadSyncResponse, error)
}

// Local is the space as an Engine drives it (*space.Space).
type Local interface {
	ID() crypto.SpaceID
	PendingRegistration(ctx context.Context) (space.Registration, bool, error)
	AcceptRegistration(ctx context.Context, accepted []byte) error
	AclSeq(ctx context.Context) (uint64, error)
	ApplyAcl(ctx context.Context, records [][]byte) (int, error)
	PendingObjects(ctx context.Context) ([]crypto.ObjectID, error)
	Outgoing(ctx context.Context, id crypto.ObjectID) ([]*syncpb.HeadUpdate, error)
	Acknowledged(ctx context.Context, id crypto.ObjectID, nodeHeads []string) error
	Rejected(ctx context.Context, id crypto.ObjectID, reason string) error
	ApplyRemote(ctx context.Context, id crypto.ObjectID, raws [][]byte, nodeHeads []string) ([]crypto.ChangeID, error)
	Summary(ctx context.Context) (*diff.Set, error)
	Heads(ctx context.Context, id crypto.ObjectID) ([]string, error)
}

// Events are what an Engine reports; nil fields are skipped. They are
// called from the engine's goroutine and must not block on the engine.
type Events struct {
	// AclApplied: new ACL records were applied to the space.
	AclApplied func(id crypto.SpaceID)
	// Status: the node's status of the space (pending deletion, deleted …).
	Status func(st *syncpb.SpaceStatus)
	// Synced: a cycle finished with nothing left to push or fetch.
	Synced func(id crypto.SpaceID)
	// Failed: a cycle failed; it is retried with backoff.
	Failed func(id crypto.SpaceID, err error)
}

// Config tunes an Engine.
type Config struct {
	// HeadSyncEvery is the period of head sync while connected.
	HeadSyncEvery time.Duration
	// CallTimeout bounds each network call.
	CallTimeout time.Duration
	Log         *slog.Logger
	Events      Events
}

func (c *Config) defaults() {
	if c.HeadSyncEvery <= 0 {
		c.HeadSyncEvery = 30 * time.Second
	}
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

	mu       sync.Mutex // guards remote, inbox, needHead, needAcl
	remote   Remote
	inbox    []*syncpb.HeadUpdate
	needHead bool
	needAcl  bool

	wake chan struct{} // capacity 1: a pending nudge
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewEngine starts an engine for a loaded space. It is offline until
// SetRemote gives it a connection.
func NewEngine(local Local, cfg Config) *Engine {
	cfg.defaults()
	e := &Engine{local: local, cfg: cfg, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go e.run()
	return e
}

// Close stops the engine and waits for it. Idempotent.
func (e *Engine) Close() {
	e.once.Do(func() { close(e.stop) })
	<-e.done
}

// SetRemote hands the engine the node connection (nil: offline). A new
// connection triggers registration, the ACL log and a full head sync.
func (e *Engine) SetRemote(r Remote) {
	e.mu.Lock()
	e.remote = r
	if r != nil {
		e.needHead, e.needAcl = true, true
	}
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

// AclChanged tells the engine the space's ACL moved on the node.
func (e *Engine) AclChanged() {
	e.mu.Lock()
	e.needAcl = true
	e.mu.Unlock()
	e.nudge()
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

	tick := time.NewTicker(e.cfg.HeadSyncEvery)
	defer tick.Stop()
	var retry *time.Timer
	failures := 0
	for {
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
		case <-tick.C:
			e.mu.Lock()
			e.needHead = true
			e.mu.Unlock()
		case <-retryC:
			retry = nil
		}
		err := e.cycle(ctx)
		switch {
		case err == nil:
			failures = 0
		case ctx.Err() != nil:
			return
		default:
			failures++
			if e.cfg.Events.Failed != nil {
				e.cfg.Events.Failed(e.local.ID(), err)
			}
			wait := Backoff(failures)
			e.cfg.Log.Info("sync cycle failed; retrying", "space", e.local.ID(), "in", wait, "err", err)
			if retry != nil {
				retry.Stop()
			}
			retry = time.NewTimer(wait)
		}
	}
}

// Backoff is the wait before retry n (1-based): exponential from 250 ms,
// capped at 10 s (CLI.md), with jitter — the node client's policy.
func Backoff(n int) time.Duration { return syncclient.Backoff{}.Delay(n - 1) }

// cycle does one round of sync work with the current connection.
func (e *Engine) cycle(ctx context.Context) error {
	e.mu.Lock()
	r := e.remote
	inbox := e.inbox
	e.inbox = nil
	needHead, needAcl := e.needHead, e.needAcl
	e.mu.Unlock()
	if r == nil {
		return nil // offline: local changes wait in the store's push queue
	}
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
	if needAcl {
		if err := e.followAcl(ctx, r); err != nil {
			requeue()
			return err
		}
		needAcl = false
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
		if err := e.headSync(ctx, r); err != nil {
			requeue()
			return err
		}
		needHead = false
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
func (e *Engine) register(ctx context.Context, r Remote) error {
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

// followAcl fetches and applies ACL records after the local head.
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
	if resp.Status != nil && e.cfg.Events.Status != nil {
		e.cfg.Events.Status(resp.Status)
	}
	n, err := e.local.ApplyAcl(ctx, resp.Records)
	if err != nil {
		return err
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

// pushPending sends every object's unacknowledged changes.
func (e *Engine) pushPending(ctx context.Context, r Remote) error {
	ids, err := e.local.PendingObjects(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := e.pushObject(ctx, r, id); err != nil {
			return err
		}
	}
	return nil
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
		if err := e.local.Acknowledged(ctx, id, ack.Heads); err != nil {
			return err
		}
	}
	return nil
}

// headSync compares (object, heads hash) summaries with the node, then
// fetches what differs and pushes what the node lacks.
func (e *Engine) headSync(ctx context.Context, r Remote) error {
	set, err := e.local.Summary(ctx)
	if err != nil {
		return err
	}
	d := diff.NewDriver(set, diff.DefaultFanout, diff.DefaultElementLimit)
	for ranges := d.Next(); len(ranges) > 0; ranges = d.Next() {
		cctx, cancel := e.call(ctx)
		resp, err := r.HeadSync(cctx, diff.RequestToPB(string(e.local.ID()), ranges))
		cancel()
		if err != nil {
			return err
		}
		results, err := diff.ResultsFromPB(resp)
		if err != nil {
			return err
		}
		if err := d.Feed(results); err != nil {
			return err
		}
	}
	res := d.Result()
	for _, id := range append(append([]string{}, res.Changed...), res.RemoteOnly...) {
		if err := e.fetch(ctx, r, crypto.ObjectID(id)); err != nil {
			return err
		}
	}
	for _, id := range append(append([]string{}, res.Changed...), res.LocalOnly...) {
		if err := e.pushObject(ctx, r, crypto.ObjectID(id)); err != nil {
			return err
		}
	}
	return nil
}
