package badgerdb

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/internal/errkind"
)

// fakeDisk reports free bytes that a test sets.
type fakeDisk struct{ free atomic.Uint64 }

func (f *fakeDisk) disk() *Disk {
	return &Disk{Probe: func(string) (uint64, error) { return f.free.Load(), nil }}
}

// TestDormantFullDisk: with less free room than Reserve a write is refused with NoSpace
// and writes nothing, reads go on; a database opened then opens read-only (reads work,
// writes are refused the same way); once there is room the next write reopens it for
// writing. A database that does not exist yet is not made on a full disk.
func TestDormantFullDisk(t *testing.T) {
	var f fakeDisk
	f.free.Store(1 << 40)
	dir := t.TempDir()
	d := NewDormantOn(f.disk(), dir, true, nil, time.Hour)
	defer d.Close()
	set(t, d, "a", "1")

	f.free.Store(Reserve(Options(dir, true, nil)) - 1)
	err := d.Update(func(txn *badger.Txn) error { return txn.Set([]byte("b"), []byte("2")) })
	require.ErrorIs(t, err, ErrNoSpace)
	require.True(t, errkind.Is(err, errkind.NoSpace), "%v", err)
	require.Equal(t, "1", get(t, d, "a"), "reads go on")
	require.ErrorIs(t, d.UpdateSplit([]Entry{{Key: []byte("c"), Value: nil}}, func(*badger.Txn) error { return nil }), ErrNoSpace)

	require.True(t, d.Sleep())
	require.Equal(t, "1", get(t, d, "a"), "opened read-only on a full disk")
	d.mu.Lock()
	require.True(t, d.readOnly)
	d.mu.Unlock()
	require.ErrorIs(t, d.Update(func(txn *badger.Txn) error { return txn.Set([]byte("b"), []byte("2")) }), ErrNoSpace)

	f.free.Store(1 << 40)
	set(t, d, "b", "2") // room again: reopened for writing
	require.Equal(t, "2", get(t, d, "b"))
	d.mu.Lock()
	require.False(t, d.readOnly)
	d.mu.Unlock()

	f.free.Store(0)
	fresh := NewDormantOn(f.disk(), t.TempDir(), true, nil, time.Hour)
	defer fresh.Close()
	err = fresh.View(func(*badger.Txn) error { return nil })
	require.ErrorIs(t, err, ErrNoSpace, "no new database on a full disk")
}

func TestDiskProbe(t *testing.T) {
	free, err := (*Disk)(nil).Free(t.TempDir() + "/not/yet")
	require.NoError(t, err, "the nearest existing parent is asked")
	require.Positive(t, free)
	require.NoError(t, (*Disk)(nil).Room(t.TempDir(), 1))
	require.Greater(t, Reserve(ServerOptions("", nil)), PhoneReserve)
}
