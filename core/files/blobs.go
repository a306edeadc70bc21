package files

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zeebo/blake3"

	"github.com/hearth-sync/hearth/core/datadir"
	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/errkind"
)

// ChunkSize is the size of every chunk but a file's last.
const ChunkSize = 1 << 20

// idLen is the length of a blob id: lowercase hex of a 32-byte blake3 hash.
const idLen = 64

// BlobID returns the id of data: lowercase hex blake3-256.
func BlobID(data []byte) string {
	sum := blake3.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// CheckID refuses anything that is not a blob id.
func CheckID(id string) error {
	if len(id) != idLen {
		return errkind.Errorf("files", errkind.Invalid, "blob id %q: want %d hex characters", trunc(id), idLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return errkind.Errorf("files", errkind.Invalid, "blob id %q: not lowercase hex", trunc(id))
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Blobs is the content-addressed blob directory. It holds no state but its
// path: every method is safe for concurrent use, and a write is atomic
// (tmp + fsync + rename + directory fsync).
type Blobs struct {
	dir  string
	disk *badgerdb.Disk // nil: the operating system's free space
}

// NewBlobs returns the blob store at dir (created on first write).
func NewBlobs(dir string) *Blobs { return &Blobs{dir: dir} }

// NewBlobsOn is NewBlobs with the free space disk reports.
func NewBlobsOn(disk *badgerdb.Disk, dir string) *Blobs { return &Blobs{dir: dir, disk: disk} }

func (b *Blobs) path(id string) string { return filepath.Join(b.dir, id[:2], id) }

// Has reports whether a blob is stored (its content is not checked).
func (b *Blobs) Has(id string) bool {
	if CheckID(id) != nil {
		return false
	}
	_, err := os.Stat(b.path(id))
	return err == nil
}

// Put stores data under its id, if not already stored, and returns the id.
// An existing blob's mtime is refreshed, so a concurrent collector's grace
// period starts again.
func (b *Blobs) Put(data []byte) (string, error) {
	id := BlobID(data)
	return id, b.put(id, data)
}

// PutVerified stores data under id after checking that id is its hash.
func (b *Blobs) PutVerified(id string, data []byte) error {
	if err := CheckID(id); err != nil {
		return err
	}
	if got := BlobID(data); got != id {
		return errkind.Errorf("files.put", errkind.Corrupt, "blob %s: content hashes to %s", id, got)
	}
	return b.put(id, data)
}

func (b *Blobs) put(id string, data []byte) error {
	p := b.path(id)
	now := time.Now()
	if err := os.Chtimes(p, now, now); err == nil {
		return nil
	}
	// A blob never takes the room the account's databases need (badgerdb.Reserve):
	// a database written on a full disk faults (issue 16.7).
	if err := b.disk.Room(b.dir, badgerdb.PhoneReserve+uint64(len(data))); err != nil {
		return errkind.E("files.put", errkind.NoSpace, err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return errkind.E("files.put", errkind.Other, err)
	}
	if err := datadir.WriteFileAtomic(p, data, 0o600); err != nil {
		return errkind.E("files.put", errkind.Other, err)
	}
	return nil
}

// Get returns a blob's content after checking it against its id: NotFound
// when absent, Corrupt when the content does not match.
func (b *Blobs) Get(id string) ([]byte, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(b.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errkind.Errorf("files.get", errkind.NotFound, "blob %s is not stored here", id)
	}
	if err != nil {
		return nil, errkind.E("files.get", errkind.Other, err)
	}
	if got := BlobID(data); got != id {
		return nil, errkind.Errorf("files.get", errkind.Corrupt, "blob %s: stored content hashes to %s", id, got)
	}
	return data, nil
}

// Remove deletes a blob and returns the bytes freed ("already gone" frees 0).
func (b *Blobs) Remove(id string) (int64, error) {
	if err := CheckID(id); err != nil {
		return 0, err
	}
	p := b.path(id)
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	return st.Size(), nil
}

// BlobInfo describes a stored blob, or a leftover temporary file (Tmp, whose
// Path is the only way to name it).
type BlobInfo struct {
	ID    string
	Path  string
	Size  int64
	MTime time.Time
	Tmp   bool
}

// Walk calls fn for every blob and leftover temporary file. Files that are
// neither are skipped (never deleted: they are not ours).
func (b *Blobs) Walk(fn func(BlobInfo) error) error {
	err := filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		name := d.Name()
		bi := BlobInfo{Path: p, Size: info.Size(), MTime: info.ModTime()}
		switch {
		case CheckID(name) == nil && filepath.Base(filepath.Dir(p)) == name[:2]:
			bi.ID = name
		case strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp"):
			bi.Tmp = true
		default:
			return nil
		}
		return fn(bi)
	})
	if err != nil {
		return fmt.Errorf("files: walking %s: %w", b.dir, err)
	}
	return nil
}
