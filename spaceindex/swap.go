package spaceindex

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hearth-sync/hearth/internal/fsutil"
)

// Rebuilds. A rebuild writes a new generation directory (g<N+1>) beside the
// one in use while the old one keeps serving, then switches: the new
// database is synced, CURRENT is rewritten (temp file, fsync, rename, fsync
// of the directory), the handle's entry is pointed at the new database
// (calls arriving during the pointer switch wait for it; calls in flight on
// the old database finish first), and only then is the old database closed
// and its directory deleted. A crash before the rename leaves CURRENT naming
// the old generation; after it, the new one; either way the generation
// CURRENT does not name is deleted on the next open (removeStaleGenerations).

// Generation is a new generation of a space's index being built beside the
// open one. Only its builder uses it; it is not safe for concurrent use.
type Generation struct {
	reg  *Registry
	sp   *space
	base *index // the open index it will replace
	dir  string // the index directory
	name string // e.g. "g2"
	idx  *index
	done bool
}

// NewGeneration creates an empty generation of spaceID's open index. Commit
// switches to it; Abort discards it. It fails with ErrSpaceNotLoaded when the
// index is not open (so a deleted index is never brought back). The caller
// must Commit or Abort before it closes or deletes the space's index: Close,
// Open and Delete remove generation directories, and a database whose
// directory is gone cannot be closed cleanly. (core/space finishes every
// rebuild of a space before it unloads it.)
func (r *Registry) NewGeneration(ctx context.Context, spaceID string) (*Generation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sp := r.lookup(spaceID)
	if sp == nil {
		return nil, ErrSpaceNotLoaded
	}
	sp.mu.Lock()
	for sp.busy {
		sp.cond.Wait()
	}
	if sp.state != StateOpen {
		st := sp.state
		sp.mu.Unlock()
		if st == StateRemoved {
			return nil, ErrSpaceRemoved
		}
		return nil, ErrSpaceNotLoaded
	}
	if sp.idx == nil { // asleep: the generation is built beside the open database
		if err := sp.wakeLocked(); err != nil {
			sp.mu.Unlock()
			return nil, err
		}
		for sp.busy {
			sp.cond.Wait()
		}
		if sp.state != StateOpen || sp.idx == nil {
			sp.mu.Unlock()
			return nil, ErrSpaceNotLoaded
		}
	}
	base, cfg, dir := sp.idx, sp.cfg, r.IndexDir(sp.id, sp.incarnation)
	sp.busy = true   // no Close, Delete or other generation while the directory is made
	sp.generations++ // and no sleep until it is committed or aborted
	sp.mu.Unlock()

	name, err := nextGeneration(dir)
	var idx *index
	if err == nil {
		idx, err = openGeneration(dir, name, cfg, r.tune)
	}

	sp.mu.Lock()
	sp.busy = false
	if err != nil {
		sp.generations--
	}
	sp.cond.Broadcast()
	sp.mu.Unlock()
	if err != nil {
		if name != "" {
			_ = os.RemoveAll(filepath.Join(dir, name))
		}
		return nil, fmt.Errorf("spaceindex: new generation of %s: %w", spaceID, err)
	}
	return &Generation{reg: r, sp: sp, base: base, dir: dir, name: name, idx: idx}, nil
}

// nextGeneration names the generation after every one in dir.
func nextGeneration(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	top := 0
	for _, e := range ents {
		if n, ok := generationNumber(e.Name()); ok && e.IsDir() {
			top = max(top, n)
		}
	}
	return "g" + strconv.Itoa(top+1), nil
}

func generationNumber(name string) (int, bool) {
	if !strings.HasPrefix(name, "g") {
		return 0, false
	}
	n, err := strconv.Atoi(name[1:])
	return n, err == nil && n > 0
}

// removeStaleGenerations deletes the generation directories of dir that
// CURRENT does not name (left by a crash during a rebuild) and temporary
// files of interrupted checkpoints or switches. Best effort: what cannot be
// removed now is removed on a later open.
func removeStaleGenerations(dir, current string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		_, isGen := generationNumber(name)
		stale := isGen && name != current && e.IsDir() ||
			name == currentFile+".tmp" || strings.HasPrefix(name, checkpointFile+".") && strings.HasSuffix(name, ".tmp")
		if stale {
			_ = os.RemoveAll(filepath.Join(dir, name))
		}
	}
}

// Name is the generation's directory name.
func (g *Generation) Name() string { return g.name }

// Put writes records into the new generation (see Handle.Put).
func (g *Generation) Put(ctx context.Context, recs ...Record) error { return g.idx.put(ctx, recs) }

// Load writes records whose ids are not in the generation yet, without
// reading what is there (a full scan's bulk write: each object once). A
// record whose id is already in the generation leaves its old secondary
// entries behind: use Put for those.
func (g *Generation) Load(ctx context.Context, recs ...Record) error { return g.idx.load(ctx, recs) }

// PutAt writes records at store sequence number seq (see Handle.PutAt).
func (g *Generation) PutAt(ctx context.Context, seq uint64, recs ...Record) error {
	return g.idx.put(withWatermark(ctx, seq), recs)
}

// DeleteAt removes records at store sequence number seq.
func (g *Generation) DeleteAt(ctx context.Context, seq uint64, ids ...string) error {
	return g.idx.delete(withWatermark(ctx, seq), ids)
}

// SetWatermark sets the generation's watermark.
func (g *Generation) SetWatermark(ctx context.Context, seq uint64) error {
	return g.idx.put(withWatermark(ctx, seq), nil)
}

// RestoreCheckpoint loads the index's checkpoint into the (empty) new
// generation and returns its watermark: ErrNoCheckpoint when there is none,
// ErrBadCheckpoint when it is damaged or of another schema (the generation
// must then be aborted).
func (g *Generation) RestoreCheckpoint(ctx context.Context) (uint64, error) {
	return g.idx.restoreCheckpoint(ctx, g.dir)
}

// ForEachHead is Handle.ForEachHead over the new generation.
func (g *Generation) ForEachHead(ctx context.Context, fn func(id string, heads []byte) error) error {
	return g.idx.forEachHead(ctx, fn)
}

// Abort closes and deletes the new generation. Idempotent.
func (g *Generation) Abort() error {
	if g.done {
		return nil
	}
	g.done = true
	g.finished()
	err := g.idx.close()
	if rerr := os.RemoveAll(filepath.Join(g.dir, g.name)); err == nil {
		err = rerr
	}
	return err
}

// finished ends the generation's hold on the entry (it may sleep again).
func (g *Generation) finished() {
	g.sp.mu.Lock()
	g.sp.generations--
	g.sp.cond.Broadcast()
	g.sp.mu.Unlock()
}

// Commit switches the space's index to the new generation (swapGeneration).
// On failure the generation is aborted and the old one keeps serving.
func (g *Generation) Commit() error {
	if g.done {
		return fmt.Errorf("spaceindex: generation %s already committed or aborted", g.name)
	}
	err := g.reg.swapGeneration(g)
	if err != nil {
		_ = g.Abort()
	}
	return err
}

// swapGeneration is the one place where a space's open index is replaced by
// a rebuilt generation. The entry must still be open on the index the
// generation was built beside (a close, reopen or delete in between makes the
// rebuild moot). Steps: sync the new database; with the entry busy (no Open,
// Close or Delete meanwhile) write CURRENT naming it; then, with new calls
// held back, wait for the calls in flight on the old database, switch the
// pointer and release the calls; finally close the old database and delete
// its directory. The change feed is continued: the new index's sequence
// number starts after the old one's and watchers are told to reset.
func (r *Registry) swapGeneration(g *Generation) error {
	if err := g.idx.db.Sync(); err != nil {
		return fmt.Errorf("spaceindex: swap: sync %s: %w", g.name, err)
	}
	sp := g.sp
	sp.mu.Lock()
	for sp.busy {
		sp.cond.Wait()
	}
	if sp.state != StateOpen || sp.idx != g.base {
		sp.mu.Unlock()
		return fmt.Errorf("spaceindex: swap: the index of %s was closed or reopened during the rebuild: %w", sp.id, ErrSpaceNotLoaded)
	}
	sp.busy = true
	sp.mu.Unlock()

	old, err := readCurrent(g.dir)
	if err == nil {
		err = writeCurrent(g.dir, g.name)
	}

	sp.mu.Lock()
	if err != nil {
		sp.busy = false
		sp.cond.Broadcast()
		sp.mu.Unlock()
		return fmt.Errorf("spaceindex: swap: %w", err)
	}
	sp.swapping = true
	for sp.inflight > 0 {
		sp.cond.Wait()
	}
	prev := sp.idx
	g.idx.seq = max(g.idx.seq, prev.seq, sp.feed.seqFloor())
	g.idx.feed = &sp.feed
	sp.idx = g.idx
	sp.swapping, sp.busy = false, false
	sp.generations--
	sp.cond.Broadcast()
	sp.mu.Unlock()
	g.done = true

	g.idx.writeMu.Lock()
	reset := g.idx.told(true, nil) // every record may have changed: watchers re-read
	g.idx.writeMu.Unlock()
	reset.deliver()

	// The switch is done and durable: failing to close or delete the old
	// generation only leaves a directory that the next open deletes.
	_ = prev.close()
	if old != g.name {
		_ = os.RemoveAll(filepath.Join(g.dir, old))
	}
	return nil
}

// readCurrent returns the generation CURRENT names.
func readCurrent(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, currentFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// writeCurrent names gen in CURRENT durably: temp file, fsync, rename, fsync
// of the directory.
func writeCurrent(dir, gen string) error {
	return fsutil.WriteFileAtomic(filepath.Join(dir, currentFile), []byte(gen+"\n"), 0o600)
}

// ClearGenerations deletes every generation of the index at dir, and
// CURRENT, keeping its checkpoint: the index is unusable (ErrCorrupt or
// ErrSchemaMismatch from Open) and will be rebuilt. The space's index must
// not be open. A missing directory is fine.
func ClearGenerations(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("spaceindex: %w", err)
	}
	for _, e := range ents {
		if e.Name() == checkpointFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("spaceindex: %w", err)
		}
	}
	return nil
}
