package badgerdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/internal/errkind"
)

// Free space (issue 16.7). Badger writes its memtables and value logs through memory
// maps of files it sizes up front; when the disk fills, a write to such a page faults
// (SIGBUS) and the process dies, and on a filesystem that allocates on read (tmpfs) even
// opening the database again faults. So a database of this package is never written
// while its disk has less than Reserve free: a write is refused with ErrNoSpace (nothing
// written, the process keeps running), and a database opened then is opened read-only
// (reads work; writes are refused the same way). Once there is room again the next
// write reopens it for writing.

// ErrNoSpace refuses a write on a disk with too little room left.
var ErrNoSpace = errkind.E("disk", errkind.NoSpace, errors.New("the disk is full: free some space, then try again"))

// Disk tells how much room a path's filesystem has; the zero or nil Disk asks the
// operating system (statfs). Tests give it a probe of their own.
type Disk struct {
	// Probe returns the bytes free to this process on path's filesystem.
	Probe func(path string) (uint64, error)
}

// Free returns the bytes free on path's filesystem. An error from the probe is returned
// as is (callers keep writing: when in doubt whether the disk is full, do not refuse).
func (d *Disk) Free(path string) (uint64, error) {
	if d != nil && d.Probe != nil {
		return d.Probe(path)
	}
	free, err := statFree(path) // the database's dir exists once it is open: one call per write
	if errors.Is(err, fs.ErrNotExist) {
		return statFree(existing(path))
	}
	return free, err
}

// existing is path or its nearest existing parent (a database dir may not exist yet).
func existing(path string) string {
	for {
		if _, err := os.Stat(path); err == nil {
			return path
		}
		parent := filepath.Dir(path)
		if parent == path {
			return path
		}
		path = parent
	}
}

// Room returns nil when path's filesystem has at least need bytes free, else an error
// of kind NoSpace saying how much it has. An unreadable probe counts as room.
func (d *Disk) Room(path string, need uint64) error {
	free, err := d.Free(path)
	if err != nil || free >= need {
		return nil
	}
	return errkind.E("disk", errkind.NoSpace, fmt.Errorf("the disk holding %s has %d bytes free, writing needs %d: %w", path, free, need, ErrNoSpace))
}

// Reserve is the room a database with opts needs to be written without faulting: the
// files badger maps ahead (the memtables, new ones included, and the value log it writes
// to, both at twice their size) and a margin for what others write meanwhile.
func Reserve(opts badger.Options) uint64 {
	mem := uint64(opts.MemTableSize) * 2 * uint64(opts.NumMemtables+1)
	vlog := uint64(opts.ValueLogFileSize) * 2
	return mem + vlog + 8<<20
}

// PhoneReserve is Reserve of Options: what the other files of a device's data dir (the
// blobs) leave free for its databases.
var PhoneReserve = Reserve(Options("", false, nil))
