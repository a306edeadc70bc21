package core

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearth-sync/hearth/core/files"
	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestMain(m *testing.M) {
	if os.Getenv(fileCrashChild) != "" {
		fileCrashChildMain()
		return
	}
	goleak.VerifyTestMain(m)
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func openApp(t testing.TB, dir string) *App {
	a, err := Open(Config{DataDir: dir, Logger: quietLog, SelectLast: true})
	require.NoError(t, err)
	return a
}

func testFile(t testing.TB, size int) string {
	data := make([]byte, size)
	_, _ = rand.Read(data)
	p := filepath.Join(t.TempDir(), "f.bin")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func countBlobs(t testing.TB, fs *files.Service) int {
	n := 0
	require.NoError(t, fs.Blobs().Walk(func(bi files.BlobInfo) error {
		if !bi.Tmp {
			n++
		}
		return nil
	}))
	return n
}

// twoSpaces opens a local-only account with two spaces.
func twoSpaces(t *testing.T) (a *App, c context.Context, spaces *space.Service, s1, s2 crypto.SpaceID) {
	a = openApp(t, t.TempDir())
	t.Cleanup(func() { a.Close() })
	_, _, err := a.Accounts().Create("me")
	require.NoError(t, err)
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	spaces, err = a.Spaces()
	require.NoError(t, err)
	s1, err = spaces.Create(c, "one")
	require.NoError(t, err)
	s2, err = spaces.Create(c, "two")
	require.NoError(t, err)
	return a, c, spaces, s1, s2
}

func TestFileSharedByTwoSpacesIsStoredOnce(t *testing.T) {
	a, c, spaces, s1, s2 := twoSpaces(t)
	p := testFile(t, files.ChunkSize+100)
	add1, err := a.FileAdd(c, s1, p, nil)
	require.NoError(t, err)
	add2, err := a.FileAdd(c, s2, p, nil)
	require.NoError(t, err)
	assert.Equal(t, add1.FileID, add2.FileID)
	fs, err := a.Files()
	require.NoError(t, err)
	assert.Equal(t, 3, countBlobs(t, fs), "two chunks and a manifest, once for both spaces")

	st, _, err := a.FileStatus(c, s1, add1.FileID)
	require.NoError(t, err)
	assert.Equal(t, files.Queued, st, "local-only: waiting for a node")

	// Deleting it in one space keeps the blob for the other.
	sp1, _ := spaces.Get(c, s1)
	require.NoError(t, sp1.DeleteObject(c, add1.ObjectID))
	res, err := a.FileGC(c, 0, nil)
	require.NoError(t, err)
	assert.Zero(t, res.BlobsRemoved)
	out := filepath.Join(t.TempDir(), "out")
	n, err := a.FileGet(c, s2, add2.FileID, out, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(files.ChunkSize+100), n)
	_, err = a.FileGet(c, s1, add1.FileID, out, nil)
	assert.Error(t, err, "the deleted space's file is gone from it")

	// Offloading the other space (as after a kick) releases its marker
	// locally: now the blob is garbage.
	require.NoError(t, spaces.Offload(c, s2))
	res, err = a.FileGC(c, 0, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, res.BlobsRemoved)
	assert.Zero(t, countBlobs(t, fs))
}

func TestOffloadKeepsABlobAnotherSpaceUses(t *testing.T) {
	a, c, spaces, s1, s2 := twoSpaces(t)
	p := testFile(t, 1000)
	add1, err := a.FileAdd(c, s1, p, nil)
	require.NoError(t, err)
	_, err = a.FileAdd(c, s2, p, nil)
	require.NoError(t, err)
	require.NoError(t, spaces.SetAccountStatus(c, s1, space.AccountRemoved)) // kicked
	require.NoError(t, spaces.Offload(c, s1))
	res, err := a.FileGC(c, 0, nil)
	require.NoError(t, err)
	assert.Zero(t, res.BlobsRemoved)
	out := filepath.Join(t.TempDir(), "out")
	_, err = a.FileGet(c, s2, add1.FileID, out, nil)
	require.NoError(t, err)
	rep, err := a.FileRepairRefcounts(c)
	require.NoError(t, err)
	assert.Zero(t, rep.Added+rep.Removed, "the incremental markers were right")
}

// The crash test: a child adds and deletes files in a loop and is killed at
// a random moment; after restart, every reference has its marker and its
// blobs, and repair finds no missing marker.

const (
	fileCrashChild = "HEARTH_FILES_CRASH_CHILD"
	fileCrashDir   = "HEARTH_FILES_CRASH_DIR"
)

func fileCrashChildMain() {
	dir := os.Getenv(fileCrashDir)
	a, err := Open(Config{DataDir: dir, Logger: quietLog, SelectLast: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c := context.Background()
	spaces, err := a.Spaces()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	list, _ := spaces.List()
	var live []struct {
		sp  crypto.SpaceID
		obj crypto.ObjectID
	}
	src := filepath.Join(dir, "src")
	_ = os.MkdirAll(src, 0o700)
	fmt.Println("ready")
	for i := 0; ; i++ {
		sp := list[i%len(list)].ID
		if len(live) > 2 && i%3 == 0 {
			l := live[0]
			live = live[1:]
			s, err := spaces.Get(c, l.sp)
			if err == nil {
				_ = s.DeleteObject(c, l.obj)
			}
			continue
		}
		p := filepath.Join(src, fmt.Sprint(i%5))
		data := make([]byte, 1000+(i%5)*files.ChunkSize/2)
		copy(data, fmt.Sprint(i%5))
		_ = os.WriteFile(p, data, 0o600)
		res, err := a.FileAdd(c, sp, p, nil)
		if err == nil {
			live = append(live, struct {
				sp  crypto.SpaceID
				obj crypto.ObjectID
			}{sp, res.ObjectID})
		}
	}
}

func TestFilesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	a := openApp(t, dir)
	_, _, err := a.Accounts().Create("me")
	require.NoError(t, err)
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	spaces, _ := a.Spaces()
	for _, n := range []string{"one", "two"} {
		_, err := spaces.Create(c, n)
		require.NoError(t, err)
	}
	require.NoError(t, a.Close())

	for iter := range 10 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fileCrashChild+"=1", fileCrashDir+"="+dir)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		buf := make([]byte, 6)
		_, err = io.ReadFull(stdout, buf) // "ready\n"
		require.NoError(t, err, "iteration %d", iter)
		d, _ := rand.Int(rand.Reader, big.NewInt(400))
		time.Sleep(time.Duration(20+d.Int64()) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()

		a := openApp(t, dir)
		checkFilesAgree(t, c, a)
		require.NoError(t, a.Close())
	}
}

// checkFilesAgree: every reference in every space store has its marker and
// its blobs; repair adds no marker (none was missing).
func checkFilesAgree(t *testing.T, c context.Context, a *App) {
	t.Helper()
	spaces, err := a.Spaces()
	require.NoError(t, err)
	fs, err := a.Files()
	require.NoError(t, err)
	all, err := fs.Markers().All()
	require.NoError(t, err)
	list, err := spaces.List()
	require.NoError(t, err)
	refs := 0
	for _, e := range list {
		err := spaces.RepairFileMarkers(c, e.ID, func(ids []string) error {
			for _, id := range ids {
				refs++
				assert.Contains(t, all[id], e.ID, "file %s of space %s has no marker", id, e.ID)
				assert.True(t, fs.Complete(id), "file %s of space %s lost blobs", id, e.ID)
			}
			return nil
		})
		require.NoError(t, err)
	}
	_, err = fs.GC(c, 0, nil) // nothing referenced may go
	require.NoError(t, err)
	for _, e := range list {
		require.NoError(t, spaces.RepairFileMarkers(c, e.ID, func(ids []string) error {
			for _, id := range ids {
				assert.True(t, fs.Complete(id), "gc removed blobs of file %s", id)
			}
			return nil
		}))
	}
	rep, err := a.FileRepairRefcounts(c)
	require.NoError(t, err)
	assert.Zero(t, rep.Added, "a marker was missing")
	t.Logf("%d references, %d markers, repair removed %d extra", refs, rep.Markers, rep.Removed)
}
