package files

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/hearth-sync/hearth/internal/errkind"
)

// DefaultGrace is how old an unreferenced blob must be before the collector
// deletes it.
const DefaultGrace = 24 * time.Hour

// MaxGrace bounds a grace (100 years: a time.Duration reaches 292): a grace
// given in seconds past it would overflow on its way to a Duration and wrap
// round to a short one that deletes new blobs (issue 16.7).
const MaxGrace = 100 * 365 * 24 * time.Hour

// tmpGrace is the least age of a leftover temporary file the collector
// removes, whatever the grace: a younger one may be a write in progress.
const tmpGrace = 10 * time.Minute

// GCResult is what a collection freed.
type GCResult struct {
	BlobsRemoved int
	BytesFreed   int64
}

// liveSet is what the markers reach: the marked fileIds and their manifests'
// chunks. Manifests are content-addressed, so a decoded one never changes.
type liveSet struct {
	s       *Service
	marked  map[string]bool
	chunks  map[string]bool
	decoded map[string]bool // fileIds whose manifest was read (or found absent and rechecked)
}

// refresh re-reads the markers and adds what new ones reach. A marked
// manifest that exists but cannot be read is an error: the caller keeps
// everything (when in doubt, keep).
func (l *liveSet) refresh() error {
	all, err := l.s.markers.All()
	if err != nil {
		return errkind.E("files.gc", errkind.Other, err)
	}
	l.marked = make(map[string]bool, len(all))
	for fileID := range all {
		l.marked[fileID] = true
		if l.decoded[fileID] {
			continue
		}
		m, err := l.s.LocalManifest(fileID)
		if errkind.Is(err, errkind.NotFound) {
			continue // not fetched yet: it reaches no local chunk; re-read next time
		}
		if err != nil {
			return errkind.Errorf("files.gc", errkind.Of(err), "manifest %s of a marked file: %w", fileID, err)
		}
		for _, c := range m.Chunks {
			l.chunks[c.ID] = true
		}
		l.decoded[fileID] = true
	}
	return nil
}

func (l *liveSet) reaches(id string) bool { return l.marked[id] || l.chunks[id] }

// GC deletes blobs no marker reaches and whose mtime is older than grace.
// It re-reads the markers right before deleting each blob, while holding a
// claim that concurrent adds and fetches of that blob wait for. progress
// (may be nil) gets blobs looked at of the total.
func (s *Service) GC(ctx context.Context, grace time.Duration, progress func(done, total int64)) (GCResult, error) {
	if grace < 0 {
		grace = DefaultGrace
	}
	var res GCResult
	if grace > MaxGrace {
		return res, errkind.Errorf("files.gc", errkind.Invalid, "a grace of %v is more than the most, %v", grace, MaxGrace)
	}
	live := &liveSet{s: s, chunks: map[string]bool{}, decoded: map[string]bool{}}
	if err := live.refresh(); err != nil {
		return res, err
	}
	var candidates []BlobInfo
	now := s.cfg.Now()
	err := s.blobs.Walk(func(bi BlobInfo) error {
		switch {
		case bi.Tmp:
			if now.Sub(bi.MTime) >= max(grace, tmpGrace) {
				candidates = append(candidates, bi)
			}
		case !live.reaches(bi.ID) && now.Sub(bi.MTime) >= grace:
			candidates = append(candidates, bi)
		}
		return nil
	})
	if err != nil {
		return res, errkind.E("files.gc", errkind.Other, err)
	}
	for i, bi := range candidates {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if progress != nil {
			progress(int64(i+1), int64(len(candidates)))
		}
		if bi.Tmp {
			if err := os.Remove(bi.Path); err == nil {
				res.BlobsRemoved++
				res.BytesFreed += bi.Size
			}
			continue
		}
		freed, removed, err := s.collect(live, bi, grace)
		if err != nil {
			return res, err
		}
		if removed {
			res.BlobsRemoved++
			res.BytesFreed += freed
		}
	}
	if progress != nil {
		progress(int64(len(candidates)), int64(len(candidates)))
	}
	return res, nil
}

// collect deletes one candidate after the final re-check.
func (s *Service) collect(live *liveSet, bi BlobInfo, grace time.Duration) (int64, bool, error) {
	if !s.guard.claim(bi.ID) {
		return 0, false, nil // an add or fetch holds it
	}
	defer s.guard.release(bi.ID)
	if err := live.refresh(); err != nil {
		return 0, false, err
	}
	if live.reaches(bi.ID) {
		return 0, false, nil
	}
	st, err := os.Stat(bi.Path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil || s.cfg.Now().Sub(st.ModTime()) < grace {
		return 0, false, nil // touched since the walk (a re-add): keep
	}
	freed, err := s.blobs.Remove(bi.ID)
	if err != nil {
		return 0, false, errkind.E("files.gc", errkind.Other, err)
	}
	return freed, freed > 0, nil
}
