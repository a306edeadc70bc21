package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hearth-sync/hearth/internal/badgerdb"
	"golang.org/x/sync/singleflight"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// DefaultFetchTimeout bounds one shared fetch of a file's missing blobs.
const DefaultFetchTimeout = 2 * time.Minute

// Config configures a Service.
type Config struct {
	// Dir is <account>/blobs.
	Dir string
	// DB is the account database (markers).
	DB badgerdb.KV
	// FetchTimeout bounds a shared fetch (0: DefaultFetchTimeout).
	FetchTimeout time.Duration
	// Disk reports free space (nil: the operating system's): no blob is written
	// into the room the account's databases need.
	Disk *badgerdb.Disk
	Now  func() time.Time
	Log  *slog.Logger
}

// Service is an account's file store: blobs, markers, fetches and the
// collector. Safe for concurrent use.
type Service struct {
	cfg     Config
	blobs   *Blobs
	markers *Markers
	guard   *guard

	fetches singleflight.Group // one fetch per (space, file) for all callers
	fetchMu sync.Mutex         // guards closed; held while a fetch joins wg
	closed  bool

	ctx    context.Context // cancelled by Close: the detached fetches' parent
	cancel context.CancelFunc
	wg     sync.WaitGroup // the fetch goroutines
}

// New makes the service; it starts nothing.
func New(cfg Config) *Service {
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg: cfg, blobs: NewBlobsOn(cfg.Disk, cfg.Dir), markers: NewMarkers(cfg.DB), guard: newGuard(),
		ctx: ctx, cancel: cancel,
	}
}

// Close cancels running fetches and waits for them. Idempotent.
func (s *Service) Close() {
	s.fetchMu.Lock()
	s.closed = true
	s.fetchMu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Blobs is the blob store.
func (s *Service) Blobs() *Blobs { return s.blobs }

// Markers are the account's (blob, space) markers.
func (s *Service) Markers() *Markers { return s.markers }

// Imported is a file stored locally and sealed for a space, ready to become
// a file object. Its blobs stay pinned against the collector until Release,
// which the caller runs once the object (and so the marker) exists.
type Imported struct {
	FileID   string
	Name     string
	Size     int64
	KeyID    crypto.KeyID
	RemoteID string
	Manifest Manifest // with remote ids

	pins *pinSet
}

// Release unpins the imported blobs (idempotent).
func (im *Imported) Release() {
	if im != nil && im.pins != nil {
		im.pins.release()
	}
}

// Import cuts the file at path into chunks, stores them and the manifest,
// and computes the remote layout under readKey. progress (may be nil) gets
// bytes done of the total, twice over (store, then seal).
func (s *Service) Import(ctx context.Context, path string, readKey crypto.SymKey, progress func(done, total int64)) (*Imported, error) {
	const op = "files.add"
	sealer, err := NewSealer(readKey)
	if err != nil {
		return nil, err
	}
	f, st, err := openRegular(op, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	total := st.Size() * 2
	pins := &pinSet{g: s.guard}
	ok := false
	defer func() {
		if !ok {
			pins.release()
		}
	}()
	var m Manifest
	buf := make([]byte, ChunkSize)
	var done int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			id := BlobID(buf[:n])
			pins.pin(id)
			if err := s.blobs.PutVerified(id, buf[:n]); err != nil {
				return nil, err
			}
			m.Chunks = append(m.Chunks, Chunk{ID: id, Size: int64(n)})
			if len(m.Chunks) > maxChunks {
				return nil, errkind.Errorf(op, errkind.Invalid, "%s is too large: more than %d chunks", path, maxChunks)
			}
			done += int64(n)
			if progress != nil {
				progress(done, total)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return nil, errkind.E(op, errkind.Other, err)
		}
	}
	raw := encodeManifest(m)
	fileID := BlobID(raw)
	pins.pin(fileID)
	if err := s.blobs.PutVerified(fileID, raw); err != nil {
		return nil, err
	}
	layout, sealed, err := sealer.RemoteLayout(fileID, m, func(id string) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err // the seal pass stops too (a daemon's shutdown cuts a large add)
		}
		data, err := s.blobs.Get(id)
		if err == nil && progress != nil {
			done += int64(len(data))
			progress(done, total)
		}
		return data, err
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return &Imported{
		FileID: fileID, Name: filepath.Base(path), Size: m.Size(), KeyID: sealer.KeyID(),
		RemoteID: BlobID(sealed), Manifest: layout, pins: pins,
	}, nil
}

// LocalManifest returns a file's manifest if it is stored here.
func (s *Service) LocalManifest(fileID string) (Manifest, error) {
	raw, err := s.blobs.Get(fileID)
	if err != nil {
		return Manifest{}, err
	}
	return decodeManifest(raw)
}

// Complete reports whether a file's manifest and every chunk are stored.
func (s *Service) Complete(fileID string) bool {
	m, err := s.LocalManifest(fileID)
	if err != nil {
		return false
	}
	for _, c := range m.Chunks {
		if !s.blobs.Has(c.ID) {
			return false
		}
	}
	return true
}

// Export writes a complete local file to out (tmp + fsync + rename) and
// returns its size; every chunk is checked against its id on the way.
func (s *Service) Export(ctx context.Context, fileID, out string, progress func(done, total int64)) (int64, error) {
	const op = "files.get"
	m, err := s.LocalManifest(fileID)
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(out)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return 0, errkind.E(op, errkind.Invalid, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	var done int64
	total := m.Size()
	for _, c := range m.Chunks {
		if err := ctx.Err(); err != nil {
			tmp.Close()
			return 0, err
		}
		data, err := s.blobs.Get(c.ID)
		if err != nil {
			tmp.Close()
			return 0, err
		}
		if _, err := tmp.Write(data); err != nil {
			tmp.Close()
			return 0, errkind.E(op, errkind.Other, err)
		}
		done += int64(len(data))
		if progress != nil {
			progress(done, total)
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, errkind.E(op, errkind.Other, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, errkind.E(op, errkind.Other, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return 0, errkind.E(op, errkind.Other, err)
	}
	return total, nil
}

// ReleaseSpace drops a space's markers: the offload's "release files" step.
// Local only — it sends nothing to the node — and idempotent.
func (s *Service) ReleaseSpace(sp crypto.SpaceID) error {
	if err := s.markers.Release(sp); err != nil {
		return fmt.Errorf("releasing the files of space %s: %w", sp, err)
	}
	return nil
}
