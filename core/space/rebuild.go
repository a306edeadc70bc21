package space

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hearth-sync/hearth/core/spacestore"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/spaceindex"
)

// Index maintenance: rebuild (from a checkpoint plus the store's log after
// its watermark, or by a full scan of the store) and verify (index against
// store, with optional repair). DESIGN §8, §10.
//
// A rebuild never stops the space: the bulk of the work runs beside the
// actor, from a store snapshot at sequence number S, into a new index
// generation (spaceindex.Generation) while the old one keeps serving. Then,
// on the actor (writes wait only for this step), the objects the store
// logged after S are applied and the generation is switched in. Whoever
// calls these holds the account's maintenance lease (core/maintenance); the
// automatic rebuild on load runs without it (see Service.load).

// maintenance tracks the work that runs beside a space's actor.
type maintenance struct {
	mu      sync.Mutex // guards stopped, wg.Add, ckpt and again
	stopped bool       // set by close: no new work starts
	wg      sync.WaitGroup

	ckpt  chan struct{} // closed when the background checkpoint ends; nil: none runs
	again bool          // one more checkpoint was asked for while it ran
}

// enterMaintenance registers work beside the actor. The returned context is
// cancelled when the space closes (close then waits for done).
func (s *Space) enterMaintenance(ctx context.Context) (context.Context, func(), error) {
	s.maint.mu.Lock()
	defer s.maint.mu.Unlock()
	if s.maint.stopped {
		return nil, nil, errkind.Errorf("index", errkind.Precondition, "space %s is not loaded", s.id)
	}
	s.maint.wg.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	watch := make(chan struct{})
	go func() { // owned by this work: ends when done is called or the space stops
		select {
		case <-s.stop:
			cancel()
		case <-watch:
		}
	}()
	return ctx, func() {
		close(watch)
		cancel()
		s.maint.wg.Done()
	}, nil
}

// storeSeq is the store's sequence number now (0 if it cannot be read: a
// watermark of 0 only makes a later rebuild do more). Actor only.
func (s *Space) storeSeq() uint64 {
	seq, err := s.store.Seq()
	if err != nil {
		s.log.Warn("reading the store's sequence number", "space", s.id, "err", err)
		return 0
	}
	return seq
}

// RebuildSource says where a rebuild starts from.
type RebuildSource uint8

// Rebuild sources.
const (
	// SourceAuto: the checkpoint when a valid one exists, else a full scan.
	SourceAuto RebuildSource = iota
	// SourceCheckpoint: the checkpoint, or fail with kind Precondition.
	SourceCheckpoint
	// SourceFullScan: every object of the store.
	SourceFullScan
)

// String returns the source's CLI word.
func (r RebuildSource) String() string {
	switch r {
	case SourceAuto:
		return "auto"
	case SourceCheckpoint:
		return "checkpoint"
	case SourceFullScan:
		return "fullscan"
	}
	return fmt.Sprintf("source(%d)", int(r))
}

// ParseRebuildSource parses a CLI word ("" means auto).
func ParseRebuildSource(s string) (RebuildSource, error) {
	switch s {
	case "", "auto":
		return SourceAuto, nil
	case "checkpoint":
		return SourceCheckpoint, nil
	case "fullscan":
		return SourceFullScan, nil
	}
	return 0, errkind.Errorf("index.rebuild", errkind.Invalid, "unknown source %q: want auto, checkpoint or fullscan", s)
}

// RebuildStats is what a rebuild did.
type RebuildStats struct {
	Source  RebuildSource // the source used: SourceCheckpoint or SourceFullScan
	Scanned int64         // objects read from the store
	Indexed int64         // records written
	Skipped int64         // deleted objects (not indexed)
	Failed  int64         // objects whose record could not be built
	// FailedObjects names the first failures (at most maxReported).
	FailedObjects []string
	Duration      time.Duration
}

const maxReported = 100

func (st *RebuildStats) fail(id string) {
	st.Failed++
	if len(st.FailedObjects) < maxReported {
		st.FailedObjects = append(st.FailedObjects, id)
	}
}

// Progress is told how far long work is: stage, done and total units
// (total 0 while unknown). It must not block.
type Progress func(stage string, done, total int64)

func (p Progress) set(stage string, done, total int64) {
	if p != nil {
		p(stage, done, total)
	}
}

// derivedSyncStatus is the sync status a rebuilt record gets from the store:
// synced when the node acknowledged every head, syncing when it acknowledged
// some, queued when none (what updateSyncStatus and recordOf write live). A
// rejection is not in the store: a rebuilt record shows it as syncing or
// queued until the node answers again.
func derivedSyncStatus(obj *object, heads, acked []string) spaceindex.SyncStatus {
	switch {
	case spacestore.Covers(acked, heads) && holdsAll(obj, acked): // and nothing known to download
		return spaceindex.SyncStatus{State: spaceindex.SyncSynced}
	case len(acked) > 0:
		return spaceindex.SyncStatus{State: spaceindex.SyncSyncing}
	}
	return spaceindex.SyncStatus{State: spaceindex.SyncQueued}
}

// buildRecord derives an object's index record from what the store holds;
// nil for a deleted object.
func buildRecord(o spacestore.Object, keys map[crypto.KeyID]crypto.SymKey) (*spaceindex.Record, error) {
	if o.Meta.Deleted {
		return nil, nil
	}
	obj, err := restoreObject(crypto.ObjectID(o.ID), o.Changes, keys)
	if err != nil {
		return nil, err
	}
	if obj.deleted() {
		return nil, nil
	}
	rec := recordOf(obj)
	rec.SyncStatus = derivedSyncStatus(obj, o.Meta.Heads, o.Acked)
	return &rec, nil
}

// indexWriter is where rebuilt records go: a new generation.
type indexWriter interface {
	PutAt(ctx context.Context, seq uint64, recs ...spaceindex.Record) error
	DeleteAt(ctx context.Context, seq uint64, ids ...string) error
}

// applyObjects re-derives the records of ids from read and writes them (or
// removes deleted and unknown ones) into w at seq.
func applyObjects(ctx context.Context, w indexWriter, seq uint64, ids []string,
	read func(id string) (spacestore.Object, bool, error), keys map[crypto.KeyID]crypto.SymKey, st *RebuildStats) error {
	var recs []spaceindex.Record
	var gone []string
	for _, id := range ids {
		o, ok, err := read(id)
		if err != nil {
			return err
		}
		st.Scanned++
		if !ok {
			gone = append(gone, id)
			continue
		}
		rec, err := buildRecord(o, keys)
		switch {
		case err != nil:
			st.fail(id)
			gone = append(gone, id) // a record that cannot be rebuilt must not stay stale
		case rec == nil:
			st.Skipped++
			gone = append(gone, id)
		default:
			recs = append(recs, *rec)
		}
	}
	if err := w.DeleteAt(ctx, seq, gone...); err != nil {
		return err
	}
	if err := w.PutAt(ctx, seq, recs...); err != nil {
		return err
	}
	st.Indexed += int64(len(recs))
	return nil
}

// changedSince lists the objects a log logged after seq.
func changedSince(list func(after uint64, fn func(seq uint64, id string) error) error, after uint64) ([]string, error) {
	var ids []string
	err := list(after, func(_ uint64, id string) error { ids = append(ids, id); return nil })
	return ids, err
}

// RebuildIndex rebuilds a loaded space's index (see rebuild). The caller
// holds the account's maintenance lease.
func (s *Service) RebuildIndex(ctx context.Context, id crypto.SpaceID, src RebuildSource, progress Progress) (RebuildStats, error) {
	sp, err := s.Get(ctx, id)
	if err != nil {
		return RebuildStats{}, err
	}
	ctx, done, err := sp.enterMaintenance(ctx)
	if err != nil {
		return RebuildStats{}, err
	}
	defer done()
	st, err := sp.rebuild(ctx, s.registry, src, progress, sp.do)
	if err != nil {
		return st, err
	}
	sp.checkpointSoon()
	return st, nil
}

// checkpoint writes a checkpoint of the space's index; a failure is logged
// (the next rebuild scans instead).
func (s *Space) checkpoint(ctx context.Context) {
	if _, err := s.index.Checkpoint(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("index checkpoint failed", "space", s.id, "err", err)
	}
}

// checkpointSoon writes a checkpoint of the space's index in the background
// after a rebuild: the rebuild is done once its index is live, and the
// checkpoint, which only shortens the next rebuild, no longer delays it, nor
// the load it is part of (a pass over the whole index: a sixth of a full
// scan's time). It is maintenance work: close cancels it and waits for it
// (checkpointOnUnload writes one then if the index moved far enough). At
// most one runs; one asked for meanwhile runs after it. A rebuild from the
// checkpoint waits for it (awaitCheckpoint). It runs outside the account's
// maintenance lease, which is safe: it reads a snapshot of the live index
// (a switch waits for it) and replaces the file by a rename, so another
// checkpoint beside it leaves one of the two, each consistent.
func (s *Space) checkpointSoon() {
	s.maint.mu.Lock()
	defer s.maint.mu.Unlock()
	if s.maint.stopped {
		return
	}
	if s.maint.ckpt != nil {
		s.maint.again = true
		return
	}
	done := make(chan struct{})
	s.maint.ckpt = done
	s.maint.wg.Add(1)
	go func() { // owned by the space's maintenance: close stops it and waits
		defer s.maint.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { // ends with the checkpoint at the latest
			select {
			case <-s.stop:
				cancel()
			case <-done:
			}
		}()
		for {
			s.checkpoint(ctx)
			s.maint.mu.Lock()
			if !s.maint.again || s.maint.stopped {
				s.maint.ckpt, s.maint.again = nil, false
				close(done)
				s.maint.mu.Unlock()
				return
			}
			s.maint.again = false
			s.maint.mu.Unlock()
		}
	}()
}

// awaitCheckpoint waits until no background checkpoint runs.
func (s *Space) awaitCheckpoint(ctx context.Context) error {
	s.maint.mu.Lock()
	done := s.maint.ckpt
	s.maint.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rebuild builds a new generation of the index from src and switches to it.
// onActor runs the final step where no write can interleave (the actor's do;
// at load, before the actor starts, a direct call).
func (s *Space) rebuild(ctx context.Context, reg *spaceindex.Registry, src RebuildSource, progress Progress,
	onActor func(context.Context, func() error) error) (RebuildStats, error) {
	const op = "index.rebuild"
	began := time.Now()
	var keys map[crypto.KeyID]crypto.SymKey
	if err := onActor(ctx, func() error { keys = maps.Clone(s.keys); return nil }); err != nil {
		return RebuildStats{}, err
	}
	snap, err := s.store.Snapshot()
	if err != nil {
		return RebuildStats{}, errkind.E(op, errkind.Other, err)
	}
	defer snap.Close()
	gen, err := reg.NewGeneration(ctx, string(s.id))
	if err != nil {
		return RebuildStats{}, errkind.E(op, errkind.Precondition, err)
	}
	defer gen.Abort() // a no-op once committed

	st := RebuildStats{Source: SourceFullScan}
	if src != SourceFullScan {
		progress.set("checkpoint", 0, 0)
		if err := s.awaitCheckpoint(ctx); err != nil { // the last rebuild's
			return st, err
		}
		st, err = s.fromCheckpoint(ctx, gen, snap, keys, progress)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return st, ctx.Err()
		case src == SourceCheckpoint:
			return st, errkind.E(op, errkind.Precondition, fmt.Errorf("no valid checkpoint: %w", err))
		default:
			s.log.Info("index checkpoint not usable: full scan", "space", s.id, "err", err)
			if err := gen.Abort(); err != nil {
				return st, errkind.E(op, errkind.Other, err)
			}
			if gen, err = reg.NewGeneration(ctx, string(s.id)); err != nil {
				return RebuildStats{}, errkind.E(op, errkind.Precondition, err)
			}
			defer gen.Abort()
			st = RebuildStats{Source: SourceFullScan}
		}
	}
	if st.Source == SourceFullScan {
		if err := s.fullScan(ctx, gen, snap, keys, &st, progress); err != nil {
			return st, err
		}
	}
	progress.set("switch", st.Scanned, st.Scanned)
	err = onActor(context.Background(), func() error { // once the switch starts it must finish
		if err := s.flushIndex(); err != nil { // into the old generation, before it goes
			return err
		}
		ids, err := changedSince(s.store.ChangedSince, snap.Seq())
		if err != nil {
			return err
		}
		seq := s.storeSeq()
		if err := applyObjects(context.Background(), gen, seq, ids, s.store.Object, s.keys, &st); err != nil {
			return err
		}
		return gen.Commit()
	})
	if err != nil {
		return st, errkind.E(op, errkind.Other, err)
	}
	st.Duration = time.Since(began)
	if st.Failed > 0 {
		s.log.Warn("index rebuilt; some objects could not be indexed", "space", s.id, "failed", st.Failed, "objects", st.FailedObjects)
	}
	return st, nil
}

// fromCheckpoint restores the checkpoint into gen and applies the snapshot's
// log after its watermark.
func (s *Space) fromCheckpoint(ctx context.Context, gen *spaceindex.Generation, snap *spacestore.Snapshot,
	keys map[crypto.KeyID]crypto.SymKey, progress Progress) (RebuildStats, error) {
	st := RebuildStats{Source: SourceCheckpoint}
	wm, err := gen.RestoreCheckpoint(ctx)
	if err != nil {
		return st, err
	}
	if wm > snap.Seq() {
		return st, fmt.Errorf("checkpoint at sequence %d is ahead of the store (%d)", wm, snap.Seq())
	}
	ids, err := changedSince(snap.ChangedSince, wm)
	if err != nil {
		return st, err
	}
	progress.set("catch up", 0, int64(len(ids)))
	for chunk := range slices.Chunk(ids, 512) {
		if err := applyObjects(ctx, gen, snap.Seq(), chunk, snap.Object, keys, &st); err != nil {
			return st, err
		}
		progress.set("catch up", st.Scanned, int64(len(ids)))
	}
	if len(ids) == 0 {
		if err := gen.SetWatermark(ctx, snap.Seq()); err != nil {
			return st, err
		}
	}
	return st, nil
}

// fullScan derives every object's record from the snapshot: one goroutine
// reads the store in key order, GOMAXPROCS workers verify and replay the
// objects (the CPU-bound part: signatures and decryption), one writes
// batches into gen.
func (s *Space) fullScan(ctx context.Context, gen *spaceindex.Generation, snap *spacestore.Snapshot,
	keys map[crypto.KeyID]crypto.SymKey, st *RebuildStats, progress Progress) error {
	total, err := snap.Count()
	if err != nil {
		return err
	}
	progress.set("scan", 0, total)
	type result struct {
		id  string
		rec *spaceindex.Record
		err error
	}
	// A batch's worth of results fits in out, so the workers verify the
	// next batch while the writer's Load commits this one (with less, they
	// stalled and the two phases took turns).
	const batch = 4096 // big batches: each Load waits for its commits
	in := make(chan spacestore.Object, 256)
	out := make(chan result, batch)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(in)
		return snap.Scan(func(o spacestore.Object) error {
			o.Changes = slices.Clone(o.Changes)
			select {
			case in <- o:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	var workers sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			for o := range in {
				rec, err := buildRecord(o, keys)
				select {
				case out <- result{id: o.ID, rec: rec, err: err}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		workers.Wait()
		close(out)
		return nil
	})
	g.Go(func() error {
		recs := make([]spaceindex.Record, 0, batch)
		flush := func() error {
			if err := gen.Load(gctx, recs...); err != nil { // each object once, into an empty generation
				return err
			}
			st.Indexed += int64(len(recs))
			recs = recs[:0]
			progress.set("scan", st.Scanned, total)
			return nil
		}
		for r := range out {
			st.Scanned++
			switch {
			case r.err != nil:
				s.log.Warn("rebuild: object not indexed", "space", s.id, "object", r.id, "err", r.err)
				st.fail(r.id)
			case r.rec == nil:
				st.Skipped++
			default:
				recs = append(recs, *r.rec)
				if len(recs) == batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		if err := gctx.Err(); err != nil {
			return err
		}
		return flush()
	})
	if err := g.Wait(); err != nil {
		return err
	}
	return gen.SetWatermark(ctx, snap.Seq())
}

// Mismatch is one difference verify found between index and store.
type Mismatch struct {
	ID   string
	What string
}

// VerifyReport is what a verify found (and repaired).
type VerifyReport struct {
	Objects    int64 // live objects in the store
	Mismatches []Mismatch
	Repaired   int64
}

// What mismatches are.
const (
	mismatchMissing = "missing from the index"
	mismatchHeads   = "heads differ from the store"
	mismatchDeleted = "record of a deleted object"
	mismatchUnknown = "record of an object the store does not have"
)

// VerifyIndex compares a loaded space's index with its store: every live
// object has a record with its heads, and no other record exists. With
// repair, mismatched objects are re-indexed and extra records removed (on
// the actor). The caller holds the account's maintenance lease.
func (s *Service) VerifyIndex(ctx context.Context, id crypto.SpaceID, repair bool, progress Progress) (VerifyReport, error) {
	sp, err := s.Get(ctx, id)
	if err != nil {
		return VerifyReport{}, err
	}
	ctx, done, err := sp.enterMaintenance(ctx)
	if err != nil {
		return VerifyReport{}, err
	}
	defer done()
	return sp.verify(ctx, repair, progress)
}

func (s *Space) verify(ctx context.Context, repair bool, progress Progress) (VerifyReport, error) {
	const op = "index.verify"
	// Beside the actor: the index's records, then the store's objects. A
	// write between the two reads can look like a mismatch, so every
	// candidate is checked again on the actor before it is reported.
	progress.set("index", 0, 0)
	indexed := map[string]string{}
	err := s.index.ForEachHead(ctx, func(id string, heads []byte) error {
		indexed[id] = string(heads)
		return nil
	})
	if err != nil {
		return VerifyReport{}, errkind.E(op, errkind.Other, err)
	}
	var rep VerifyReport
	var candidates []string
	total := int64(len(indexed))
	err = s.store.Objects(func(id string, m spacestore.Meta) error {
		if rep.Objects%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			progress.set("store", rep.Objects, total)
		}
		h, inIndex := indexed[id]
		delete(indexed, id)
		if !m.Deleted {
			rep.Objects++
		}
		if m.Deleted && inIndex || !m.Deleted && (!inIndex || h != headsHash(m.Heads)) {
			candidates = append(candidates, id)
		}
		return nil
	})
	if err != nil {
		return VerifyReport{}, errkind.E(op, errkind.Other, err)
	}
	for id := range indexed {
		candidates = append(candidates, id)
	}
	slices.Sort(candidates)
	progress.set("check", 0, int64(len(candidates)))
	err = s.do(ctx, func() error {
		rep.Mismatches = nil
		for _, id := range candidates {
			what, err := s.mismatch(ctx, id)
			if err != nil {
				return err
			}
			if what == "" {
				continue
			}
			rep.Mismatches = append(rep.Mismatches, Mismatch{ID: id, What: what})
			if !repair {
				continue
			}
			if err := s.repair(id, what); err != nil {
				return fmt.Errorf("repairing %s: %w", id, err)
			}
			rep.Repaired++
		}
		return nil
	})
	if err != nil {
		return rep, errkind.E(op, errkind.Other, err)
	}
	progress.set("check", int64(len(candidates)), int64(len(candidates)))
	return rep, nil
}

// mismatch says how id's record differs from the store now ("" if it does
// not). Actor only.
func (s *Space) mismatch(ctx context.Context, id string) (string, error) {
	m, err := s.store.Meta(id)
	known := err == nil
	if err != nil && !errors.Is(err, spacestore.ErrNotFound) {
		return "", err
	}
	if err := s.flushIndex(); err != nil {
		return "", err
	}
	heads, err := s.index.Heads(ctx, id)
	inIndex := err == nil
	if err != nil && !errors.Is(err, spaceindex.ErrNotFound) {
		return "", err
	}
	switch {
	case !known && inIndex:
		return mismatchUnknown, nil
	case !known:
		return "", nil
	case m.Deleted && inIndex:
		return mismatchDeleted, nil
	case m.Deleted:
		return "", nil
	case !inIndex:
		return mismatchMissing, nil
	case string(heads) != headsHash(m.Heads):
		return mismatchHeads, nil
	}
	return "", nil
}

// repair fixes one mismatch. Actor only.
func (s *Space) repair(id, what string) error {
	if what == mismatchUnknown {
		if err := s.flushIndex(); err != nil {
			return err
		}
		return s.index.DeleteAt(context.Background(), s.storeSeq(), id)
	}
	delete(s.objects, crypto.ObjectID(id)) // rebuild from the store, not from a cache
	obj, err := s.object(crypto.ObjectID(id))
	if err != nil {
		return err
	}
	if err := s.reindex(obj); err != nil {
		return err
	}
	acked, err := s.store.Acked(id)
	if err != nil || len(acked) == 0 {
		return err // reindex wrote "queued"
	}
	return s.updateSyncStatus(crypto.ObjectID(id))
}

// healMax is the most stale records heal re-indexes one by one; beyond it
// (an empty or far-behind index) load rebuilds the index instead.
const healMax = 256

var errIndexFarBehind = errors.New("the index is far behind the store")

// openIndex opens a loading space's index into sp.index. An index that
// cannot be opened (corrupt) or was written with another schema is set
// aside — every generation and CURRENT are deleted, the checkpoint is kept
// — and rebuilt from the store (its checkpoint when valid, else a full
// scan) before the load goes on, so the space answers queries as soon as it
// is loaded. This automatic rebuild runs without the maintenance lease: the
// space is not published yet, so no other rebuild or verify of it can run,
// and a load must not fail because a user's verify of another space holds
// the lease.
func (s *Service) openIndex(ctx context.Context, sp *Space, incarnation string) error {
	h, err := s.registry.Open(ctx, string(sp.id), incarnation, IndexConfig)
	if err == nil || !errors.Is(err, spaceindex.ErrCorrupt) && !errors.Is(err, spaceindex.ErrSchemaMismatch) {
		sp.index = h
		return err
	}
	s.cfg.Log.Warn("space index unusable: rebuilding it from the store", "space", sp.id, "err", err)
	if err := spaceindex.ClearGenerations(s.registry.IndexDir(string(sp.id), incarnation)); err != nil {
		return err
	}
	if sp.index, err = s.registry.Open(ctx, string(sp.id), incarnation, IndexConfig); err != nil {
		return err
	}
	s.rebuildOnLoad(ctx, sp, SourceAuto)
	return nil
}

// rebuildOnLoad rebuilds a loading space's index before its actor starts. A
// failure is logged: the space still loads (heal re-indexes what it can).
func (s *Service) rebuildOnLoad(ctx context.Context, sp *Space, src RebuildSource) {
	direct := func(_ context.Context, fn func() error) error { return fn() } // no actor yet
	st, err := sp.rebuild(ctx, s.registry, src, nil, direct)
	if err != nil {
		s.cfg.Log.Error("index rebuild on load failed", "space", sp.id, "err", err)
		return
	}
	s.cfg.Log.Info("index rebuilt on load", "space", sp.id, "source", st.Source.String(),
		"indexed", st.Indexed, "failed", st.Failed, "duration", st.Duration)
	if st.Source == SourceFullScan {
		sp.checkpointSoon()
	}
}

// checkpointEvery is how far (in store sequence numbers) the index's
// watermark must have moved past its checkpoint for an unload to write a
// new one: a checkpoint costs a pass over the index, so small changes wait.
const checkpointEvery = 1000

// checkpointOnUnload writes a checkpoint of a space's index as it unloads
// cleanly (the actor has stopped: the index is quiet), when its watermark
// moved at least checkpointEvery since the last checkpoint. Not during an
// offload: the index is about to be deleted.
func (s *Service) checkpointOnUnload(sp *Space) {
	s.mu.Lock()
	offloading := s.offloading[sp.id]
	s.mu.Unlock()
	if offloading {
		return
	}
	ctx := context.Background()
	wm, ok, err := sp.index.Watermark(ctx)
	if err != nil || !ok {
		return
	}
	last, err := sp.index.CheckpointWatermark()
	if err != nil && !errors.Is(err, spaceindex.ErrNoCheckpoint) && !errors.Is(err, spaceindex.ErrBadCheckpoint) {
		return
	}
	if wm >= last+checkpointEvery {
		sp.checkpoint(ctx)
	}
}
