// Package badgerdb opens badger databases with options tuned for a phone
// (DESIGN §6, §12): small memtables, no block or index cache, no
// compression, few compactors, and a logger that forwards to slog at
// warning level and above; ServerOptions size them for the standalone sync
// node instead. Beside options and opening it owns the dormant database,
// open only while used (dormant.go), the free-space guard that keeps badger
// from writing on a full disk, where its memory maps fault (disk.go), and
// writes split over several transactions (split.go).
//
// It never decides where a database lives.
package badgerdb

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Options returns phone-tuned options for a database at dir. sync makes
// every commit durable before it returns (use it for sources of truth; a
// derived index may skip it).
//
// No compression and no caches: what these databases hold is mostly
// sealed (encrypted) change bytes, which do not compress, and an
// uncompressed table's blocks are read in place from the mmapped file, so
// a block cache would only copy them. Measured on BenchmarkLoadedSpaceHeap
// (100k object writes): the two 256 KiB ristretto caches cost about 1 MiB
// of heap and four goroutines per database and saved no read.
func Options(dir string, sync bool, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(sync).
		WithMemTableSize(1 << 20).
		WithNumMemtables(1).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithNumCompactors(2).
		WithValueLogFileSize(16 << 20).
		WithValueThreshold(1 << 10).
		WithLogger(logger{log: log, dir: dir})
}

// ServerOptions are Options sized for a server (the standalone sync node, DESIGN §5): it
// serves many devices, so it trades memory for fewer, larger flushes and warmer caches.
// Always synced: a node's store is a source of truth.
func ServerOptions(dir string, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithMemTableSize(64 << 20).
		WithNumMemtables(3).
		WithNumLevelZeroTables(5).
		WithNumLevelZeroTablesStall(15).
		WithBlockCacheSize(256 << 20).
		WithIndexCacheSize(64 << 20).
		WithNumCompactors(4).
		WithValueLogFileSize(256 << 20).
		WithValueThreshold(1 << 10).
		WithLogger(logger{log: log, dir: dir})
}

// Open opens a database with Options.
func Open(dir string, sync bool, log *slog.Logger) (*badger.DB, error) {
	if err := DropTornValueLogs(dir); err != nil {
		return nil, err
	}
	db, err := badger.Open(Options(dir, sync, log))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", dir, err)
	}
	return db, nil
}

type logger struct {
	log *slog.Logger
	dir string
}

func (l logger) emit(level slog.Level, format string, args ...any) {
	if l.log == nil || !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...), "db", l.dir)
}

func (l logger) Errorf(format string, args ...any)   { l.emit(slog.LevelError, format, args...) }
func (l logger) Warningf(format string, args ...any) { l.emit(slog.LevelWarn, format, args...) }
func (l logger) Infof(string, ...any)                {}
func (l logger) Debugf(string, ...any)               {}
