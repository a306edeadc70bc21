package spaceindex

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/internal/fsutil"
)

// Checkpoints. A checkpoint is a consistent snapshot of one index database
// with its watermark, in one file under the index directory (index/checkpoint),
// so that a rebuild can restore it and apply only the store's changes after
// the watermark instead of scanning every object. It is written to a
// temporary file, synced and renamed over the previous one, so a crash leaves
// the old checkpoint or the new one, never a torn file; a checksum over the
// whole file catches damage on disk.
//
// Format (every integer is a uvarint unless said otherwise):
//
//	magic "hearth-index-checkpoint/1\n"
//	schemaVersion, len + config fingerprint, watermark (8 bytes BE)
//	entries: len(key) key len(value) value   (keys are never empty)
//	0                                          (end of entries)
//	entry count, then sha256 of everything before it (32 bytes), then EOF

const (
	checkpointFile   = "checkpoint"
	checkpointMagic  = "hearth-index-checkpoint/1\n"
	maxCheckpointKey = 1 << 16
	maxCheckpointVal = 1 << 26
)

var (
	// ErrNoCheckpoint: the index has no checkpoint file.
	ErrNoCheckpoint = errors.New("spaceindex: no checkpoint")
	// ErrBadCheckpoint: the checkpoint file is damaged, truncated, or of
	// another schema or configuration.
	ErrBadCheckpoint = errors.New("spaceindex: invalid checkpoint")
	// ErrNoWatermark: the index has no watermark, so a checkpoint of it
	// could not say which store changes it holds.
	ErrNoWatermark = errors.New("spaceindex: index has no watermark")
)

// CheckpointInfo describes a checkpoint.
type CheckpointInfo struct {
	Watermark uint64 // store sequence number the checkpoint reflects
	Entries   int64  // key/value pairs
	Bytes     int64  // file size
}

// Checkpoint writes a checkpoint of the open index (a consistent snapshot)
// over the previous one. It fails with ErrNoWatermark when the index has no
// watermark. Readers and writers are not blocked.
func (h *Handle) Checkpoint(ctx context.Context) (CheckpointInfo, error) {
	idx, err := h.acquire()
	if err != nil {
		return CheckpointInfo{}, err
	}
	defer h.release()
	return idx.writeCheckpoint(ctx)
}

// CheckpointWatermark returns the watermark of the index's checkpoint file
// from its header alone (cheap; the checksum is checked only on restore).
func (h *Handle) CheckpointWatermark() (uint64, error) {
	sp := h.sp
	sp.mu.Lock()
	open, dir, cfg := sp.state == StateOpen, "", sp.cfg
	if open {
		dir = sp.dir()
	}
	sp.mu.Unlock()
	if !open {
		return 0, ErrSpaceNotLoaded
	}
	f, err := os.Open(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, ErrNoCheckpoint
	}
	if err != nil {
		return 0, fmt.Errorf("spaceindex: %w", err)
	}
	defer f.Close()
	wm, err := readCheckpointHeader(bufio.NewReader(f), cfg)
	return wm, err
}

func (ix *index) writeCheckpoint(ctx context.Context) (CheckpointInfo, error) {
	txn := ix.db.NewTransaction(false)
	defer txn.Discard()
	wm, ok, err := readWatermark(txn)
	if err != nil {
		return CheckpointInfo{}, err
	}
	if !ok {
		return CheckpointInfo{}, ErrNoWatermark
	}
	f, err := os.CreateTemp(ix.dir, checkpointFile+".*.tmp")
	if err != nil {
		return CheckpointInfo{}, fmt.Errorf("spaceindex: checkpoint: %w", err)
	}
	tmp := f.Name()
	info, err := ix.streamCheckpoint(ctx, txn, f, wm)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(ix.dir, checkpointFile))
	}
	if err == nil {
		err = fsutil.SyncDir(ix.dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return CheckpointInfo{}, fmt.Errorf("spaceindex: checkpoint: %w", err)
	}
	return info, nil
}

func (ix *index) streamCheckpoint(ctx context.Context, txn *badger.Txn, f io.Writer, wm uint64) (CheckpointInfo, error) {
	sum := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, sum)}
	w := bufio.NewWriterSize(cw, 256<<10)
	var hdr []byte
	hdr = append(hdr, checkpointMagic...)
	hdr = binary.AppendUvarint(hdr, schemaVersion)
	fp := configFingerprint(ix.cfg)
	hdr = binary.AppendUvarint(hdr, uint64(len(fp)))
	hdr = append(hdr, fp...)
	hdr = binary.BigEndian.AppendUint64(hdr, wm)
	if _, err := w.Write(hdr); err != nil {
		return CheckpointInfo{}, err
	}
	it := txn.NewIterator(badger.IteratorOptions{}) // values read in place: badger prefetches with a goroutine per item
	defer it.Close()
	var n int64
	var lb []byte
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return CheckpointInfo{}, err
			}
		}
		item := it.Item()
		k := item.Key()
		err := item.Value(func(v []byte) error {
			lb = binary.AppendUvarint(lb[:0], uint64(len(k)))
			lb = append(lb, k...)
			lb = binary.AppendUvarint(lb, uint64(len(v)))
			if _, err := w.Write(lb); err != nil {
				return err
			}
			_, err := w.Write(v)
			return err
		})
		if err != nil {
			return CheckpointInfo{}, err
		}
	}
	tail := binary.AppendUvarint([]byte{0}, uint64(n))
	if _, err := w.Write(tail); err != nil {
		return CheckpointInfo{}, err
	}
	if err := w.Flush(); err != nil {
		return CheckpointInfo{}, err
	}
	if _, err := f.Write(sum.Sum(nil)); err != nil {
		return CheckpointInfo{}, err
	}
	return CheckpointInfo{Watermark: wm, Entries: n, Bytes: cw.n + sha256.Size}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// hashReader hashes what is read through it.
type hashReader struct {
	r   *bufio.Reader
	sum io.Writer
}

func (h *hashReader) ReadByte() (byte, error) {
	b, err := h.r.ReadByte()
	if err == nil {
		_, _ = h.sum.Write([]byte{b})
	}
	return b, err
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	_, _ = h.sum.Write(p[:n])
	return n, err
}

func badCheckpoint(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadCheckpoint, fmt.Sprintf(format, args...))
}

// readCheckpointHeader reads the header and returns the watermark; the
// schema and configuration must be cfg's.
func readCheckpointHeader(r io.ByteReader, cfg Config) (uint64, error) {
	rd, ok := r.(io.Reader)
	if !ok {
		return 0, badCheckpoint("reader")
	}
	magic := make([]byte, len(checkpointMagic))
	if _, err := io.ReadFull(rd, magic); err != nil || string(magic) != checkpointMagic {
		return 0, badCheckpoint("not a checkpoint file")
	}
	ver, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, badCheckpoint("schema version: %v", err)
	}
	fl, err := binary.ReadUvarint(r)
	if err != nil || fl > maxCheckpointKey {
		return 0, badCheckpoint("fingerprint length")
	}
	fp := make([]byte, fl)
	if _, err := io.ReadFull(rd, fp); err != nil {
		return 0, badCheckpoint("fingerprint: %v", err)
	}
	if ver != schemaVersion || string(fp) != configFingerprint(cfg) {
		return 0, badCheckpoint("schema version %d or configuration differs from this index's (%d)", ver, schemaVersion)
	}
	var wb [8]byte
	if _, err := io.ReadFull(rd, wb[:]); err != nil {
		return 0, badCheckpoint("watermark: %v", err)
	}
	return binary.BigEndian.Uint64(wb[:]), nil
}

// decodeCheckpoint reads a whole checkpoint, calling put for every entry (k
// and v are fresh slices), and returns its watermark. It checks the header
// against cfg, the entry count and the checksum, and fails with
// ErrBadCheckpoint on anything else; entries already put before a failure
// must be discarded by the caller. It never panics.
func decodeCheckpoint(r io.Reader, cfg Config, put func(k, v []byte) error) (wm uint64, entries int64, err error) {
	sum := sha256.New()
	hr := &hashReader{r: bufio.NewReaderSize(r, 256<<10), sum: sum}
	if wm, err = readCheckpointHeader(hr, cfg); err != nil {
		return 0, 0, err
	}
	for {
		kl, err := binary.ReadUvarint(hr)
		if err != nil {
			return 0, 0, badCheckpoint("truncated: %v", err)
		}
		if kl == 0 {
			break
		}
		if kl > maxCheckpointKey {
			return 0, 0, badCheckpoint("a key of %d bytes", kl)
		}
		k := make([]byte, kl)
		if _, err := io.ReadFull(hr, k); err != nil {
			return 0, 0, badCheckpoint("truncated key: %v", err)
		}
		vl, err := binary.ReadUvarint(hr)
		if err != nil || vl > maxCheckpointVal {
			return 0, 0, badCheckpoint("bad value length")
		}
		v := make([]byte, vl)
		if _, err := io.ReadFull(hr, v); err != nil {
			return 0, 0, badCheckpoint("truncated value: %v", err)
		}
		entries++
		if err := put(k, v); err != nil {
			return 0, 0, err
		}
	}
	n, err := binary.ReadUvarint(hr)
	if err != nil || n != uint64(entries) {
		return 0, 0, badCheckpoint("entry count %d, read %d", n, entries)
	}
	want := sum.Sum(nil)
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(hr.r, got); err != nil || !bytes.Equal(got, want) {
		return 0, 0, badCheckpoint("checksum does not match")
	}
	if _, err := hr.r.ReadByte(); err != io.EOF {
		return 0, 0, badCheckpoint("trailing bytes")
	}
	return wm, entries, nil
}

// restoreCheckpoint loads the checkpoint file of dir into ix (an empty
// generation) and returns its watermark.
func (ix *index) restoreCheckpoint(ctx context.Context, dir string) (uint64, error) {
	f, err := os.Open(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, ErrNoCheckpoint
	}
	if err != nil {
		return 0, fmt.Errorf("spaceindex: %w", err)
	}
	defer f.Close()
	wb := ix.db.NewWriteBatch()
	defer wb.Cancel()
	var n int64
	wm, _, err := decodeCheckpoint(f, ix.cfg, func(k, v []byte) error {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return wb.Set(k, v)
	})
	if err != nil {
		return 0, err
	}
	if err := wb.Flush(); err != nil {
		return 0, fmt.Errorf("spaceindex: restore checkpoint: %w", err)
	}
	ix.snaps.committed()
	if err := ix.checkSchema(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	return wm, nil
}
