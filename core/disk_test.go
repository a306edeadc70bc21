package core

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/spaceindex"
)

// fullDisk is a free-space probe a test turns: plenty of room, or less than any
// database of the data dir needs.
type fullDisk struct{ full atomic.Bool }

func (f *fullDisk) probe(string) (uint64, error) {
	if f.full.Load() {
		return badgerdb.PhoneReserve / 2, nil
	}
	return 1 << 40, nil
}

func openAppOn(t *testing.T, dir string, probe func(string) (uint64, error)) *App {
	a, err := Open(Config{DataDir: dir, Logger: quietLog, SelectLast: true, FreeSpace: probe})
	require.NoError(t, err)
	return a
}

// homeOn opens an app on dir with the free-space probe (nil: the operating system's),
// with an account, a space and an object in it.
func homeOn(t *testing.T, c context.Context, dir string, probe func(string) (uint64, error)) (*App, *space.Service, crypto.SpaceID, *space.Space, crypto.ObjectID) {
	a := openAppOn(t, dir, probe)
	_, _, err := a.Accounts().Create("me")
	require.NoError(t, err)
	spaces, err := a.Spaces()
	require.NoError(t, err)
	id, err := spaces.Create(c, "Home")
	require.NoError(t, err)
	sp, err := spaces.Get(c, id)
	require.NoError(t, err)
	obj, err := sp.CreateObject(c, "task", space.Details{"name": objtree.String("before")})
	require.NoError(t, err)
	return a, spaces, id, sp, obj
}

// TestFullDisk (issue 16.7, with a fake probe through Config.FreeSpace): on a full disk
// writes fail with NoSpace and write nothing, reads go on; the app opened again on the
// full disk starts, with its databases read-only; once there is room, writes work again.
func TestFullDisk(t *testing.T) {
	var disk fullDisk
	dir := t.TempDir()
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, spaces, id, sp, obj := homeOn(t, c, dir, disk.probe)
	var err error

	disk.full.Store(true)
	requireNoSpace := func(what string, err error) {
		t.Helper()
		require.Error(t, err, what)
		assert.True(t, errkind.Is(err, errkind.NoSpace), "%s: %v", what, err)
		assert.Contains(t, err.Error(), "disk is full", what)
	}
	_, err = sp.CreateObject(c, "task", space.Details{"name": objtree.String("after")})
	requireNoSpace("create", err)
	requireNoSpace("update", sp.UpdateObject(c, obj, space.Details{"name": objtree.String("x")}, nil))
	_, err = a.FileAdd(c, id, testFile(t, 1000), nil)
	requireNoSpace("file add", err)
	_, err = spaces.Create(c, "Two")
	requireNoSpace("space create", err)
	got, err := sp.Get(c, obj)
	require.NoError(t, err, "reads go on")
	assert.Equal(t, objtree.String("before"), got.Details["name"])
	require.NoError(t, a.Close())

	// Started again on the full disk: up, read-only.
	a = openAppOn(t, dir, disk.probe)
	defer func() { a.Close() }()
	spaces, err = a.Spaces()
	require.NoError(t, err)
	sp, err = spaces.Get(c, id)
	require.NoError(t, err, "a space loads on a full disk")
	res, err := sp.Query(c, spaceindex.Query{})
	require.NoError(t, err)
	require.Equal(t, 1, res.Total)
	_, err = sp.CreateObject(c, "task", nil)
	requireNoSpace("create after a restart", err)

	disk.full.Store(false)
	_, err = sp.CreateObject(c, "task", space.Details{"name": objtree.String("room again")})
	require.NoError(t, err, "writes work again once there is room")
	_, err = a.FileAdd(c, id, testFile(t, 1000), nil)
	require.NoError(t, err)
}

// TestFullTmpfs is the attack of issue 16.7 on a real filesystem: a data dir on a small
// tmpfs filled up (badger faults with SIGBUS writing to, and on tmpfs even reading, a
// mapped file the filesystem cannot back). It needs root to mount; elsewhere it skips,
// except under CI=true, where it must run.
func TestFullTmpfs(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=192m"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: mounting a tmpfs failed (%v): this test needs root", err)
		}
		t.Skipf("mounting a tmpfs needs root: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	dir := filepath.Join(mnt, "data")
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, spaces, id, sp, obj := homeOn(t, c, dir, nil) // the operating system's free space
	var err error

	// Something else fills the disk, leaving less than the databases need.
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(mnt, &st))
	free := st.Bavail * uint64(st.Bsize)
	leave := badgerdb.PhoneReserve / 2
	filler := filepath.Join(mnt, "filler")
	fillTo(t, filler, int64(free-leave))
	big := strings.Repeat("x", 4000)
	var failed error
	for i := range 20_000 { // far more than the room left
		_, err := sp.CreateObject(c, "task", space.Details{"name": objtree.String(fmt.Sprint(big, i))})
		if err != nil {
			failed = err
			break
		}
	}
	require.Error(t, failed, "writes stop")
	require.True(t, errkind.Is(failed, errkind.NoSpace), "%v", failed)
	_, err = a.FileAdd(c, id, testFile(t, 1<<20), nil)
	require.True(t, errkind.Is(err, errkind.NoSpace), "%v", err)
	got, err := sp.Get(c, obj)
	require.NoError(t, err)
	assert.Equal(t, objtree.String("before"), got.Details["name"])
	require.NoError(t, a.Close())

	a = openAppOn(t, dir, nil)
	defer func() { a.Close() }()
	spaces, err = a.Spaces()
	require.NoError(t, err)
	sp, err = spaces.Get(c, id)
	require.NoError(t, err, "starts on the full disk")
	got, err = sp.Get(c, obj)
	require.NoError(t, err)
	assert.Equal(t, objtree.String("before"), got.Details["name"])
	_, err = sp.CreateObject(c, "task", nil)
	require.True(t, errkind.Is(err, errkind.NoSpace), "%v", err)

	require.NoError(t, os.Remove(filler))
	_, err = sp.CreateObject(c, "task", space.Details{"name": objtree.String("room again")})
	require.NoError(t, err)
}

// fillTo writes a file of n bytes (real blocks, not a hole).
func fillTo(t *testing.T, path string, n int64) {
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n > 0 {
		w := min(int64(len(buf)), n)
		_, err := f.Write(buf[:w])
		require.NoError(t, err)
		n -= w
	}
}
