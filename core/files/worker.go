package files

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// QueuedUpload is an upload queue entry with its unit.
type QueuedUpload struct {
	Unit
	UploadEntry
}

// QueuedDelete is a delete outbox entry with its unit.
type QueuedDelete struct {
	Unit
	DeleteEntry
}

// Queue is the space side a worker drives (core/space implements it on the
// space's actor, so the queue never races the space's own writes).
type Queue interface {
	ID() crypto.SpaceID
	// FileKey returns the read key with this id.
	FileKey(ctx context.Context, id crypto.KeyID) (crypto.SymKey, error)
	// FileQueue lists the queued uploads and deletes.
	FileQueue(ctx context.Context) ([]QueuedUpload, []QueuedDelete, error)
	// FileUploadProgress records that done blobs of a unit were acknowledged
	// (nothing if the entry is gone: the file was deleted meanwhile).
	FileUploadProgress(ctx context.Context, u Unit, done int) error
	// FileUploaded removes a finished upload entry.
	FileUploaded(ctx context.Context, u Unit) error
	// FileDeleted removes a sent delete entry.
	FileDeleted(ctx context.Context, u Unit) error
}

// State is a file's upload state in one space.
type State uint8

// States, as FileStatus shows them.
const (
	Synced  State = iota // nothing to upload
	Syncing              // uploading now
	Queued               // waiting (offline, or backing off)
	Limited              // the space's storage quota on the node is full
	Failed               // the node refused it for another reason
)

var stateNames = [...]string{"synced", "syncing", "queued", "limited", "error"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	Queue Queue
	Files *Service
	// Remote returns the current node connection (nil while offline).
	Remote func() Remote
	// Pending is told the number of queued uploads after every pass (may be nil).
	Pending func(n int)
	// MinBackoff and MaxBackoff bound the retry delay (0: 1 s and 5 min).
	MinBackoff, MaxBackoff time.Duration
	// DeleteGrace is how long a queued remote delete waits before it is
	// sent (0: none). Another member adding the same file to the space
	// meanwhile reuses the same remote copy; when that reference reaches
	// this device it cancels the delete, and the grace gives it time to.
	DeleteGrace time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// CaughtUp, when set, gates remote deletes: they are sent only while it
	// reports that the space finished a sync cycle since the node
	// connection came up (so references other devices made while this one
	// was away, which cancel queued deletes, have arrived). The owner nudges
	// the worker when that changes.
	CaughtUp func() bool
	Log      *slog.Logger
}

// Worker uploads a space's queued files and sends its queued remote
// deletes, one at a time, deletes first; failures back off exponentially.
// One goroutine, owned by the Worker: Close stops it.
type Worker struct {
	cfg  WorkerConfig
	wake chan struct{} // capacity 1
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu     sync.Mutex // guards states, idle
	states map[Unit]unitState
	// idle: the last pass found nothing queued and nothing failed, so a
	// sync cycle's nudge has nothing to send (HasWork).
	idle bool
}

type unitState struct {
	state State
	err   string
}

// StartWorker starts a space's worker.
func StartWorker(cfg WorkerConfig) *Worker {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Worker{cfg: cfg, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), states: map[Unit]unitState{}}
	go w.run()
	w.Nudge()
	return w
}

// HasWork reports whether the worker may have something to send: its last
// pass found queued entries, failed, or has not run yet. A new entry is
// told with Nudge, which always wakes it.
func (w *Worker) HasWork() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.idle
}

// Nudge tells the worker there may be work (a new entry, a connection).
func (w *Worker) Nudge() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Close stops the worker and waits for it; an upload or delete in flight is
// cancelled and resumes from the queue on the next start. Idempotent.
func (w *Worker) Close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// State returns a file's upload state in this space (Synced when no unit of
// it is queued) and the last error.
func (w *Worker) State(ctx context.Context, fileID string) (State, string, error) {
	ups, _, err := w.cfg.Queue.FileQueue(ctx)
	if err != nil {
		return Failed, "", err
	}
	st, msg := Synced, ""
	for _, u := range ups {
		if u.FileID != fileID {
			continue
		}
		w.mu.Lock()
		us, ok := w.states[u.Unit]
		w.mu.Unlock()
		cur := Queued
		if ok {
			cur, msg = us.state, us.err
		}
		if cur == Syncing && w.cfg.Remote() == nil {
			cur = Queued
		}
		st = max(st, cur)
	}
	return st, msg, nil
}

func (w *Worker) setState(u Unit, st State, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st == Synced {
		delete(w.states, u)
		return
	}
	us := unitState{state: st}
	if err != nil {
		us.err = errkind.Message(err)
	}
	w.states[u] = us
}

func (w *Worker) run() {
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := time.Duration(0)
	var retry <-chan time.Time
	for {
		select {
		case <-w.stop:
			return
		case <-w.wake:
		case <-retry:
		}
		retry = nil
		wait, err := w.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = 0
			if wait > 0 { // a delete still in its grace period
				retry = time.After(wait)
			}
			continue
		}
		backoff = min(max(2*backoff, w.cfg.MinBackoff), w.cfg.MaxBackoff)
		w.cfg.Log.Info("file sync will retry", "space", w.cfg.Queue.ID(), "in", backoff, "err", err)
		retry = time.After(backoff)
	}
}

// pass sends every queued delete past its grace period, then every queued
// upload. It stops at the first failure of a delete batch or at a quota or
// transient upload failure. wait is how long until the next delete in its
// grace period is due (0: none).
func (w *Worker) pass(ctx context.Context) (wait time.Duration, err error) {
	ups, dels, err := w.cfg.Queue.FileQueue(ctx)
	if err != nil {
		return 0, err
	}
	queued := len(ups) + len(dels)
	defer func() { w.settle(ctx, queued, err) }()
	remote := w.cfg.Remote()
	if remote == nil {
		return 0, nil // offline: a connection nudges the worker
	}
	if len(dels) > 0 && w.cfg.CaughtUp != nil && !w.cfg.CaughtUp() {
		dels = nil // after the space's next sync cycle (it nudges)
	}
	now := w.cfg.Now()
	for _, d := range dels {
		if due := time.UnixMilli(d.QueuedAt).Add(w.cfg.DeleteGrace); now.Before(due) {
			if left := due.Sub(now); wait == 0 || left < wait {
				wait = left
			}
			continue
		}
		if err := w.sendDelete(ctx, remote, d); err != nil {
			return wait, err
		}
	}
	var errs []error
uploads:
	for _, u := range ups {
		err := w.upload(ctx, remote, u)
		if err == nil {
			continue
		}
		errs = append(errs, err)
		switch errkind.Of(err) {
		case errkind.Permission, errkind.Invalid, errkind.Corrupt, errkind.NotFound:
			continue // this file is stuck (and says so); the others may go
		}
		break uploads
	}
	return wait, errors.Join(errs...)
}

// settle records what a pass left: the uploads still queued (for Pending)
// and whether anything is left at all (HasWork). A pass that found the queue
// empty reads nothing more.
func (w *Worker) settle(ctx context.Context, queued int, passErr error) {
	ups, left := 0, 0
	if queued > 0 {
		u, d, err := w.cfg.Queue.FileQueue(ctx)
		if err != nil {
			w.mu.Lock()
			w.idle = false
			w.mu.Unlock()
			return // the next pass reports
		}
		ups, left = len(u), len(u)+len(d)
	}
	w.mu.Lock()
	w.idle = passErr == nil && left == 0
	w.mu.Unlock()
	if w.cfg.Pending != nil {
		w.cfg.Pending(ups)
	}
}

// sendDelete deletes a unit's remote blobs: the chunks the remote manifest
// lists, then the manifest (so a failed delete can always be resumed).
func (w *Worker) sendDelete(ctx context.Context, remote Remote, d QueuedDelete) error {
	sp := w.cfg.Queue.ID()
	ids := []string{d.RemoteID}
	sealed, err := remote.GetBlob(ctx, sp, d.RemoteID)
	switch {
	case errkind.Is(err, errkind.NotFound):
		// Nothing was uploaded, or a previous attempt finished.
	case err != nil:
		return fmt.Errorf("remote delete of file %s: reading its manifest: %w", d.FileID, err)
	default:
		key, err := w.cfg.Queue.FileKey(ctx, d.KeyID)
		if err != nil {
			return fmt.Errorf("remote delete of file %s: %w", d.FileID, err)
		}
		sealer, err := NewSealer(key)
		if err != nil {
			return err
		}
		plain, err := sealer.Open(d.FileID, sealed)
		if err != nil {
			return fmt.Errorf("remote delete of file %s: %w", d.FileID, err)
		}
		_, m, err := decodeRemote(plain)
		if err != nil {
			return fmt.Errorf("remote delete of file %s: %w", d.FileID, err)
		}
		ids = remoteIDs(m, d.RemoteID)
	}
	n, err := remote.DeleteBlobs(ctx, sp, ids)
	if err != nil {
		failed := "?"
		if n >= 0 && n < len(ids) {
			failed = ids[n]
		}
		return fmt.Errorf("remote delete of file %s: blob %s (%d of %d done): %w", d.FileID, failed, n, len(ids), err)
	}
	return w.cfg.Queue.FileDeleted(ctx, d.Unit)
}

// remoteIDs are a unit's remote blobs, chunks first (deduplicated, sorted),
// the manifest last.
func remoteIDs(m Manifest, manifest string) []string {
	set := map[string]bool{}
	for _, c := range m.Chunks {
		set[c.Remote] = true
	}
	out := make([]string, 0, len(set)+1)
	for id := range set {
		if id != manifest {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return append(out, manifest)
}

// upload sends a unit's blobs from where the node's acknowledgements left
// off: the remote manifest first, then the chunks in order.
func (w *Worker) upload(ctx context.Context, remote Remote, q QueuedUpload) (err error) {
	sp := w.cfg.Queue.ID()
	w.setState(q.Unit, Syncing, nil)
	defer func() {
		switch {
		case err == nil:
			w.setState(q.Unit, Synced, nil)
		case errkind.Is(err, errkind.Quota):
			w.setState(q.Unit, Limited, err)
		case errkind.Is(err, errkind.Transient) || ctx.Err() != nil:
			w.setState(q.Unit, Queued, err)
		default:
			w.setState(q.Unit, Failed, err)
		}
	}()
	key, err := w.cfg.Queue.FileKey(ctx, q.KeyID)
	if err != nil {
		return err
	}
	sealer, err := NewSealer(key)
	if err != nil {
		return err
	}
	m, err := w.cfg.Files.LocalManifest(q.FileID)
	if err != nil {
		return fmt.Errorf("upload of file %s: %w", q.FileID, err)
	}
	layout, sealedManifest, err := sealer.RemoteLayout(q.FileID, m, w.cfg.Files.blobs.Get)
	if err != nil {
		return fmt.Errorf("upload of file %s: %w", q.FileID, err)
	}
	if got := BlobID(sealedManifest); got != q.RemoteID {
		return errkind.Errorf("files.upload", errkind.Corrupt, "file %s seals to %s, its object names %s", q.FileID, got, q.RemoteID)
	}
	total := len(layout.Chunks) + 1
	for i := q.Done; i < total; i++ {
		var id string
		var data []byte
		if i == 0 {
			id, data = q.RemoteID, sealedManifest
		} else {
			c := layout.Chunks[i-1]
			plain, err := w.cfg.Files.blobs.Get(c.ID)
			if err != nil {
				return fmt.Errorf("upload of file %s: %w", q.FileID, err)
			}
			id, data = c.Remote, sealer.Seal(q.FileID, plain)
		}
		if err := remote.PutBlob(ctx, sp, id, data); err != nil {
			return fmt.Errorf("upload of file %s: blob %d of %d: %w", q.FileID, i+1, total, err)
		}
		if i+1 < total {
			if err := w.cfg.Queue.FileUploadProgress(ctx, q.Unit, i+1); err != nil {
				return err
			}
		}
	}
	return w.cfg.Queue.FileUploaded(ctx, q.Unit)
}
