package core

import (
	"context"
	"sync"
	"time"

	"github.com/hearth-sync/hearth/core/files"
	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Files (DESIGN §10) are wired here: the account's files.Service, one
// upload/delete worker per loaded space (started and stopped by the space
// hooks), the node adapter, and the operations the API calls.

// fileWorkers are the loaded spaces' file workers.
type fileWorkers struct {
	mu      sync.Mutex // guards workers
	workers map[crypto.SpaceID]*files.Worker
}

// startFiles starts a loaded space's worker (the Loaded hook).
func (s *accountServices) startFiles(sp *space.Space) {
	if !s.trackable(sp.ID()) || s.files == nil {
		return
	}
	id := sp.ID()
	w := files.StartWorker(files.WorkerConfig{
		Queue:       sp,
		Files:       s.files,
		Remote:      s.blobRemote,
		Pending:     func(n int) { s.status.FilesPending(id, n) },
		DeleteGrace: s.deleteGrace,
		Now:         s.now,
		CaughtUp:    func() bool { return s.caughtUp(id) },
		Log:         s.log,
	})
	s.fw.mu.Lock()
	old := s.fw.workers[id]
	s.fw.workers[id] = w
	s.fw.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// stopFiles stops an unloading space's worker (the Unloading hook).
func (s *accountServices) stopFiles(id crypto.SpaceID) {
	s.fw.mu.Lock()
	w := s.fw.workers[id]
	delete(s.fw.workers, id)
	s.fw.mu.Unlock()
	if w != nil {
		w.Close()
	}
}

func (s *accountServices) fileWorker(id crypto.SpaceID) *files.Worker {
	s.fw.mu.Lock()
	defer s.fw.mu.Unlock()
	return s.fw.workers[id]
}

// syncProgress says, per space, whether a sync cycle finished since the node
// connection last came up (file workers send remote deletes only then).
type syncProgress struct {
	mu     sync.Mutex // guards epoch, cycled
	epoch  uint64     // bumps when the connection comes up
	cycled map[crypto.SpaceID]uint64
}

// connected records that the node connection came up.
func (s *accountServices) connected() {
	s.sp.mu.Lock()
	s.sp.epoch++
	s.sp.mu.Unlock()
}

// cycled records a finished sync cycle of a space and wakes its worker.
func (s *accountServices) cycled(id crypto.SpaceID) {
	s.sp.mu.Lock()
	if s.sp.cycled == nil {
		s.sp.cycled = map[crypto.SpaceID]uint64{}
	}
	s.sp.cycled[id] = s.sp.epoch
	s.sp.mu.Unlock()
	// Only a worker with queued entries (deletes waiting for this gate) has
	// anything to do: an idle cycle wakes nothing and reads nothing.
	if w := s.fileWorker(id); w != nil && w.HasWork() {
		w.Nudge()
	}
}

// caughtUp reports whether space id finished a sync cycle on the current
// connection.
func (s *accountServices) caughtUp(id crypto.SpaceID) bool {
	s.sp.mu.Lock()
	defer s.sp.mu.Unlock()
	e, ok := s.sp.cycled[id]
	return ok && e == s.sp.epoch
}

// nudgeFiles wakes every worker (the node connection came up).
func (s *accountServices) nudgeFiles() {
	s.fw.mu.Lock()
	defer s.fw.mu.Unlock()
	for _, w := range s.fw.workers {
		w.Nudge()
	}
}

// blobRemote is the node's blob store, or nil while offline.
func (s *accountServices) blobRemote() files.Remote {
	if s.syncer == nil {
		return nil
	}
	if c, ok := s.syncer.Remote().(nodeConn); ok && c.c != nil {
		return c.c
	}
	return nil
}

// Files returns the selected account's file store.
func (a *App) Files() (*files.Service, error) {
	svc, err := a.services()
	if err != nil {
		return nil, err
	}
	return svc.files, nil
}

// FileAdded is what FileAdd made.
type FileAdded struct {
	FileID   string
	ObjectID crypto.ObjectID
	Size     int64
}

// FileAdd stores the file at path in the account's blobs and makes a file
// object for it in a space; the upload is queued with the object.
func (a *App) FileAdd(ctx context.Context, spaceID crypto.SpaceID, path string, progress *Progress) (FileAdded, error) {
	svc, err := a.services()
	if err != nil {
		return FileAdded{}, err
	}
	sp, err := svc.spaces.Get(ctx, spaceID)
	if err != nil {
		return FileAdded{}, err
	}
	key, err := sp.ReadKey(ctx)
	if err != nil {
		return FileAdded{}, err
	}
	im, err := svc.files.Import(ctx, path, key, func(done, total int64) { progress.Set("store", done, total) })
	if err != nil {
		return FileAdded{}, err
	}
	defer im.Release() // after the object (and the marker) exist
	obj, err := sp.CreateFile(ctx, space.FileSpec{FileID: im.FileID, Name: im.Name, Size: im.Size, KeyID: im.KeyID, RemoteID: im.RemoteID})
	if err != nil {
		return FileAdded{}, err
	}
	progress.Finish(im.Size, im.Size)
	if w := svc.fileWorker(spaceID); w != nil {
		w.Nudge()
	}
	return FileAdded{FileID: im.FileID, ObjectID: obj, Size: im.Size}, nil
}

// FileGet writes a file of a space to out, downloading its missing blobs
// first (one download for all concurrent callers).
func (a *App) FileGet(ctx context.Context, spaceID crypto.SpaceID, fileID, out string, progress *Progress) (int64, error) {
	svc, err := a.services()
	if err != nil {
		return 0, err
	}
	if err := files.CheckID(fileID); err != nil {
		return 0, err
	}
	sp, err := svc.spaces.Get(ctx, spaceID)
	if err != nil {
		return 0, err
	}
	ref, err := sp.FileRef(ctx, fileID)
	if err != nil {
		return 0, err
	}
	if !svc.files.Complete(fileID) {
		progress.Set("download", 0, 0)
		key, err := sp.FileKey(ctx, ref.KeyID)
		if err != nil {
			return 0, err
		}
		loc := files.Locator{Space: spaceID, FileID: fileID, Ref: ref, Key: key}
		if err := svc.files.Fetch(ctx, loc, svc.blobRemote()); err != nil {
			return 0, err
		}
	}
	n, err := svc.files.Export(ctx, fileID, out, func(done, total int64) { progress.Set("write", done, total) })
	if err != nil {
		return 0, err
	}
	progress.Finish(n, n)
	return n, nil
}

// FileGC collects unreferenced blobs older than grace (negative: the
// default), under the account's maintenance lease: never while a refcount
// repair rewrites the markers it reads.
func (a *App) FileGC(ctx context.Context, grace time.Duration, progress *Progress) (files.GCResult, error) {
	svc, err := a.maintenance()
	if err != nil {
		return files.GCResult{}, err
	}
	var res files.GCResult
	err = svc.maint.Run(ctx, "file garbage collection", func(ctx context.Context) error {
		res, err = svc.files.GC(ctx, grace, func(done, total int64) { progress.Set("collect", done, total) })
		return err
	})
	if err == nil {
		progress.Finish(int64(res.BlobsRemoved), int64(res.BlobsRemoved))
	}
	return res, err
}

// FileStatus is a file's upload state in a space, with the last error.
func (a *App) FileStatus(ctx context.Context, spaceID crypto.SpaceID, fileID string) (files.State, string, error) {
	svc, err := a.services()
	if err != nil {
		return 0, "", err
	}
	sp, err := svc.spaces.Get(ctx, spaceID)
	if err != nil {
		return 0, "", err
	}
	if _, err := sp.FileRef(ctx, fileID); err != nil {
		return 0, "", err
	}
	w := svc.fileWorker(spaceID)
	if w == nil {
		return 0, "", errkind.Errorf("files.status", errkind.Precondition, "space %s tracks no file status", spaceID)
	}
	return w.State(ctx, fileID)
}

// FileRepairRefcounts recounts every known space's file references and
// rewrites the markers. Run it under the maintenance lease.
func (a *App) FileRepairRefcounts(ctx context.Context) (files.RepairResult, error) {
	svc, err := a.maintenance()
	if err != nil {
		return files.RepairResult{}, err
	}
	var res files.RepairResult
	err = svc.maint.Run(ctx, "file refcount repair", func(ctx context.Context) error {
		res, err = svc.files.Repair(ctx, svc.spaces)
		return err
	})
	return res, err
}
