package files

import (
	"context"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Remote is what this package needs of the node (core adapts the sync
// client to it). ids are lowercase hex blake3-256 of the data.
type Remote interface {
	// PutBlob stores a sealed blob: errkind Quota, Permission, Invalid, Transient.
	PutBlob(ctx context.Context, sp crypto.SpaceID, id string, data []byte) error
	// GetBlob returns a sealed blob, errkind NotFound when absent.
	GetBlob(ctx context.Context, sp crypto.SpaceID, id string) ([]byte, error)
	// DeleteBlobs deletes in order; not found counts as done; it stops at the
	// first failure, and err is then about ids[done].
	DeleteBlobs(ctx context.Context, sp crypto.SpaceID, ids []string) (done int, err error)
}

// Locator is what a fetch needs: a reference of the file in a space and the
// read key its RefValue names.
type Locator struct {
	Space  crypto.SpaceID
	FileID string
	Ref    RefValue
	Key    crypto.SymKey
}

// Fetch makes a file complete locally, downloading what is missing. All
// concurrent callers for one (space, file) share one download, which runs
// under a context detached from theirs (bounded by FetchTimeout, cancelled by
// Close): a caller that gives up returns ctx's error and the others still get
// the file. Every blob is checked against its id before it is stored.
func (s *Service) Fetch(ctx context.Context, loc Locator, remote Remote) error {
	if s.Complete(loc.FileID) {
		return nil
	}
	if remote == nil {
		return errkind.Errorf("files.get", errkind.Transient, "file %s is not stored here and the node is not connected", loc.FileID)
	}
	ch := s.fetches.DoChan(string(loc.Space)+"/"+loc.FileID, func() (any, error) {
		s.fetchMu.Lock()
		if s.closed {
			s.fetchMu.Unlock()
			return nil, errkind.Errorf("files.get", errkind.Precondition, "the account is stopping")
		}
		s.wg.Add(1)
		s.fetchMu.Unlock()
		defer s.wg.Done()
		fctx, cancel := context.WithTimeout(s.ctx, s.cfg.FetchTimeout)
		defer cancel()
		return nil, s.download(fctx, loc, remote)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// download fetches the remote manifest and the missing chunks.
func (s *Service) download(ctx context.Context, loc Locator, remote Remote) error {
	const op = "files.get"
	sealer, err := NewSealer(loc.Key)
	if err != nil {
		return err
	}
	if sealer.KeyID() != loc.Ref.KeyID {
		return errkind.Errorf(op, errkind.Invalid, "file %s is sealed with key %s, not %s", loc.FileID, loc.Ref.KeyID, sealer.KeyID())
	}
	pins := &pinSet{g: s.guard}
	defer pins.release()
	plain, err := s.getSealed(ctx, loc, remote, sealer, loc.Ref.RemoteID)
	if err != nil {
		return err
	}
	fileID, m, err := decodeRemote(plain)
	if err != nil {
		return err
	}
	if fileID != loc.FileID {
		return errkind.Errorf(op, errkind.Corrupt, "the node's manifest %s is of file %s, not %s", loc.Ref.RemoteID, fileID, loc.FileID)
	}
	// The manifest first: once stored, the marker reaches the chunks.
	pins.pin(fileID)
	if err := s.blobs.PutVerified(fileID, encodeManifest(m)); err != nil {
		return err
	}
	for _, c := range m.Chunks {
		if s.blobs.Has(c.ID) {
			if _, err := s.blobs.Get(c.ID); err == nil {
				continue
			}
		}
		data, err := s.getSealed(ctx, loc, remote, sealer, c.Remote)
		if err != nil {
			return err
		}
		if got := BlobID(data); got != c.ID {
			return errkind.Errorf(op, errkind.Corrupt, "chunk %s of file %s: content hashes to %s", c.ID, loc.FileID, got)
		}
		pins.pin(c.ID)
		if err := s.blobs.PutVerified(c.ID, data); err != nil {
			return err
		}
	}
	return nil
}

// getSealed downloads one sealed blob, checks its id, and opens it.
func (s *Service) getSealed(ctx context.Context, loc Locator, remote Remote, sealer *Sealer, id string) ([]byte, error) {
	const op = "files.get"
	sealed, err := remote.GetBlob(ctx, loc.Space, id)
	if errkind.Is(err, errkind.NotFound) {
		return nil, errkind.Errorf(op, errkind.NotFound, "the node does not have blob %s of file %s (not uploaded yet?)", id, loc.FileID)
	}
	if err != nil {
		return nil, errkind.E(op, errkind.Of(err), err)
	}
	if got := BlobID(sealed); got != id {
		return nil, errkind.Errorf(op, errkind.Corrupt, "the node's blob %s hashes to %s", id, got)
	}
	return sealer.Open(loc.FileID, sealed)
}
