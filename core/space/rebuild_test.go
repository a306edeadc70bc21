package space

import (
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/spaceindex"
)

// homeSpace creates and loads a space.
func homeSpace(t testing.TB, e *env) (crypto.SpaceID, *Space) {
	t.Helper()
	id, err := e.svc.Create(ctx(t), "Home")
	require.NoError(t, err)
	sp, err := e.svc.Get(ctx(t), id)
	require.NoError(t, err)
	return id, sp
}

// records returns every record of the space's index, by id.
func records(t testing.TB, sp *Space) map[string]spaceindex.Record {
	t.Helper()
	res, err := sp.Query(ctx(t), spaceindex.Query{})
	require.NoError(t, err)
	out := map[string]spaceindex.Record{}
	for _, r := range res.Records {
		out[r.ID] = r
	}
	return out
}

func generationDirs(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "g") {
			out = append(out, e.Name())
		}
	}
	return out
}

func (e *env) indexDir(id crypto.SpaceID) string {
	in, err := e.svc.Info(id)
	require.NoError(e.t, err)
	return e.svc.Registry().IndexDir(string(id), in.Incarnation)
}

// writeOps applies n random writes to the space: creates, updates, deletes.
func writeOps(tb testing.TB, t *rapid.T, sp *Space, objs *[]crypto.ObjectID, n int) {
	c := ctx(tb)
	for i := range n {
		switch op := rapid.IntRange(0, 3).Draw(t, "op"); {
		case op == 0 || len(*objs) == 0:
			id, err := sp.CreateObject(c, rapid.SampledFrom([]string{"note", "task"}).Draw(t, "type"),
				Details{"name": str(fmt.Sprint("obj ", i)), "n": num(float64(rapid.IntRange(0, 9).Draw(t, "n")))})
			require.NoError(t, err)
			*objs = append(*objs, id)
		case op == 3:
			k := rapid.IntRange(0, len(*objs)-1).Draw(t, "del")
			require.NoError(t, sp.DeleteObject(c, (*objs)[k]))
			*objs = slices.Delete(*objs, k, k+1)
		default:
			id := rapid.SampledFrom(*objs).Draw(t, "upd")
			require.NoError(t, sp.UpdateObject(c, id, Details{"n": num(float64(i))}, nil))
		}
	}
}

// TestCheckpointRebuildEqualsFullScan: after any writes, a rebuild from the
// checkpoint (taken by an earlier rebuild) plus the store's log gives the
// same index as a full scan, and both hold what the live index holds.
func TestCheckpointRebuildEqualsFullScan(t *testing.T) {
	e := newEnv(t)
	rapid.Check(t, func(rt *rapid.T) {
		c := ctx(t)
		id, sp := homeSpace(t, e)
		var objs []crypto.ObjectID
		writeOps(t, rt, sp, &objs, rapid.IntRange(0, 12).Draw(rt, "before"))
		st, err := e.svc.RebuildIndex(c, id, SourceFullScan, nil)
		require.NoError(t, err)
		assert.Equal(t, SourceFullScan, st.Source)
		writeOps(t, rt, sp, &objs, rapid.IntRange(0, 12).Draw(rt, "after"))
		live := records(t, sp)

		st, err = e.svc.RebuildIndex(c, id, SourceCheckpoint, nil)
		require.NoError(t, err)
		assert.Equal(t, SourceCheckpoint, st.Source)
		fromCheckpoint := records(t, sp)
		st, err = e.svc.RebuildIndex(c, id, SourceFullScan, nil)
		require.NoError(t, err)
		assert.Zero(t, st.Failed)
		fromScan := records(t, sp)
		assert.Equal(t, fromScan, fromCheckpoint)
		assert.Len(t, fromScan, len(objs))
		for id, r := range live {
			r.SyncStatus = fromScan[id].SyncStatus // derived from the store on rebuild
			assert.Equal(t, r, fromScan[id])
		}
		rep, err := e.svc.VerifyIndex(c, id, false, nil)
		require.NoError(t, err)
		assert.Empty(t, rep.Mismatches)
		assert.Equal(t, int64(len(objs)), rep.Objects)
		require.NoError(t, e.svc.Unload(id))
	})
}

func TestRebuildSources(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, sp := homeSpace(t, e)
	_, err := sp.CreateObject(c, "note", Details{"name": str("one")})
	require.NoError(t, err)
	_, err = e.svc.RebuildIndex(c, id, SourceCheckpoint, nil)
	require.True(t, errkind.Is(err, errkind.Precondition), "%v", err)
	assert.Contains(t, err.Error(), "no valid checkpoint")
	var stages []string
	st, err := e.svc.RebuildIndex(c, id, SourceAuto, func(stage string, done, total int64) {
		stages = append(stages, stage)
	})
	require.NoError(t, err)
	assert.Equal(t, SourceFullScan, st.Source, "auto scans without a checkpoint")
	assert.Equal(t, RebuildStats{Source: SourceFullScan, Scanned: 1, Indexed: 1}, RebuildStats{Source: st.Source, Scanned: st.Scanned, Indexed: st.Indexed})
	assert.Contains(t, stages, "scan")
	st, err = e.svc.RebuildIndex(c, id, SourceAuto, nil)
	require.NoError(t, err)
	assert.Equal(t, SourceCheckpoint, st.Source, "the last rebuild left a checkpoint")
	require.NoError(t, sp.awaitCheckpoint(c)) // this rebuild's, written in the background
	// A damaged checkpoint: auto falls back, checkpoint fails clearly.
	path := filepath.Join(e.indexDir(id), "checkpoint")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	raw[len(raw)/2] ^= 0xff
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	_, err = e.svc.RebuildIndex(c, id, SourceCheckpoint, nil)
	require.True(t, errkind.Is(err, errkind.Precondition), "%v", err)
	st, err = e.svc.RebuildIndex(c, id, SourceAuto, nil)
	require.NoError(t, err)
	assert.Equal(t, SourceFullScan, st.Source)
	assert.Len(t, generationDirs(t, e.indexDir(id)), 1)
	_, err = ParseRebuildSource("sideways")
	require.True(t, errkind.Is(err, errkind.Invalid))
}

// TestRebuildWhileWriting: writes and queries go on during rebuilds and
// none is lost.
func TestRebuildWhileWriting(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, sp := homeSpace(t, e)
	writeNotes(t, sp, "before ", 50)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	written := 0
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := sp.CreateObject(c, "note", Details{"name": str("during")})
			if !assert.NoError(t, err) {
				return
			}
			written++
			_, err = sp.Query(c, spaceindex.Query{Limit: 5})
			if !assert.NoError(t, err) {
				return
			}
		}
	}()
	for range 3 {
		_, err := e.svc.RebuildIndex(c, id, SourceAuto, nil)
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
	assert.Len(t, records(t, sp), 50+written)
	rep, err := e.svc.VerifyIndex(c, id, false, nil)
	require.NoError(t, err)
	assert.Empty(t, rep.Mismatches)
}

func TestVerifyFindsAndRepairs(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, sp := homeSpace(t, e)
	var objs []crypto.ObjectID
	for i := range 4 {
		o, err := sp.CreateObject(c, "note", Details{"name": str(fmt.Sprint("n", i))})
		require.NoError(t, err)
		objs = append(objs, o)
	}
	require.NoError(t, sp.DeleteObject(c, objs[3]))
	want := records(t, sp)
	// Damage the index behind the space's back.
	require.NoError(t, sp.index.Delete(c, string(objs[0])))
	stale := want[string(objs[1])]
	stale.HeadsHash = []byte("old")
	require.NoError(t, sp.index.Put(c, stale, spaceindex.Record{ID: "stranger"}, spaceindex.Record{ID: string(objs[3])}))

	rep, err := e.svc.VerifyIndex(c, id, false, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(3), rep.Objects)
	assert.ElementsMatch(t, []Mismatch{
		{ID: string(objs[0]), What: mismatchMissing},
		{ID: string(objs[1]), What: mismatchHeads},
		{ID: string(objs[3]), What: mismatchDeleted},
		{ID: "stranger", What: mismatchUnknown},
	}, rep.Mismatches)
	assert.Zero(t, rep.Repaired)

	rep, err = e.svc.VerifyIndex(c, id, true, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(4), rep.Repaired)
	rep, err = e.svc.VerifyIndex(c, id, false, nil)
	require.NoError(t, err)
	assert.Empty(t, rep.Mismatches)
	got := records(t, sp)
	for id, r := range want {
		assert.Equal(t, r.Details, got[id].Details)
	}
	assert.Len(t, got, 3)
}

// TestCorruptIndexIsRebuiltOnLoad: whatever happened to the index on disk,
// the space loads and its queries answer what the store holds.
func TestCorruptIndexIsRebuiltOnLoad(t *testing.T) {
	damage := map[string]func(t *testing.T, dir, gen string){
		"truncated table": func(t *testing.T, dir, gen string) {
			for _, f := range filesWith(t, filepath.Join(dir, gen), ".sst") {
				require.NoError(t, os.Truncate(f, 100))
			}
		},
		"garbled table": func(t *testing.T, dir, gen string) {
			for _, f := range filesWith(t, filepath.Join(dir, gen), ".sst") {
				garble(t, f)
			}
		},
		"garbled manifest": func(t *testing.T, dir, gen string) {
			garble(t, filepath.Join(dir, gen, "MANIFEST"))
		},
		"truncated value log": func(t *testing.T, dir, gen string) {
			for _, f := range filesWith(t, filepath.Join(dir, gen), ".vlog") {
				require.NoError(t, os.Truncate(f, 10))
			}
		},
		"CURRENT's target deleted": func(t *testing.T, dir, gen string) {
			require.NoError(t, os.RemoveAll(filepath.Join(dir, gen)))
		},
		"garbled CURRENT": func(t *testing.T, dir, gen string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "CURRENT"), []byte("../../x\n"), 0o600))
		},
	}
	for name, hurt := range damage {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			c := ctx(t)
			id, sp := homeSpace(t, e)
			for i := range 300 { // past healMax: the rebuild, not heal, must restore it
				_, err := sp.CreateObject(c, "note", Details{"name": str(fmt.Sprint("note ", i)), "n": num(float64(i))})
				require.NoError(t, err)
			}
			want := records(t, sp)
			dir := e.indexDir(id)
			e.close()
			gens := generationDirs(t, dir)
			require.Len(t, gens, 1)
			hurt(t, dir, gens[0])

			e.open()
			sp, err := e.svc.Get(c, id)
			require.NoError(t, err, "the space loads")
			got := records(t, sp)
			require.Len(t, got, len(want))
			for id, r := range want {
				assert.Equal(t, r.Details, got[id].Details)
				assert.Equal(t, r.HeadsHash, got[id].HeadsHash)
			}
			res, err := sp.Query(c, spaceindex.Query{Filter: spaceindex.Eq("n", spaceindex.Number(7))})
			require.NoError(t, err)
			require.Len(t, res.Records, 1)
			assert.Equal(t, spaceindex.String("note 7"), res.Records[0].Details["name"])
		})
	}
}

func filesWith(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	require.NotEmpty(t, out, "no %s file in %s", suffix, dir)
	return out
}

func garble(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for i := 0; i < len(b); i += 7 {
		b[i] ^= 0x5a
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// The crash test re-executes the test binary: the child loads the space and
// kills itself with SIGKILL in the middle of a full-scan rebuild.
const (
	crashRebuildEnv = "HEARTH_TEST_CRASH_REBUILD" // data dir of the child
	crashKeysEnv    = "HEARTH_TEST_CRASH_KEYS"    // account and device keys, hex
	crashSpaceEnv   = "HEARTH_TEST_CRASH_SPACE"
)

func TestCrashDuringRebuildChild(t *testing.T) {
	dir := os.Getenv(crashRebuildEnv)
	if dir == "" {
		t.Skip("run by TestCrashDuringRebuild")
	}
	keys := strings.Split(os.Getenv(crashKeysEnv), ",")
	e := &env{t: t, dir: dir, account: unhexKey(t, keys[0]), device: unhexKey(t, keys[1])}
	e.open()
	c := ctx(t)
	id := crypto.SpaceID(os.Getenv(crashSpaceEnv))
	_, err := e.svc.RebuildIndex(c, id, SourceFullScan, func(stage string, done, total int64) {
		if stage == "scan" && done > 0 {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	})
	t.Fatalf("the rebuild ended (%v) instead of being killed", err)
}

func unhexKey(t *testing.T, s string) crypto.PrivKey {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	k, err := crypto.UnmarshalPrivKey(b)
	require.NoError(t, err)
	return k
}

func TestCrashDuringRebuild(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, sp := homeSpace(t, e)
	for i := range 1200 { // several write batches, so progress is told mid-scan
		_, err := sp.CreateObject(c, "note", Details{"name": str(fmt.Sprint("note ", i))})
		require.NoError(t, err)
	}
	want := records(t, sp)
	dir := e.indexDir(id)
	e.close()

	cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashDuringRebuildChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashRebuildEnv+"="+e.dir, crashSpaceEnv+"="+string(id),
		crashKeysEnv+"="+hex.EncodeToString(e.account.Marshal())+","+hex.EncodeToString(e.device.Marshal()))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal(), "%s", out)
	require.Len(t, generationDirs(t, dir), 2, "the child died with a half-built generation")

	e.open()
	sp, err = e.svc.Get(c, id)
	require.NoError(t, err)
	assert.Len(t, generationDirs(t, dir), 1, "the stray generation is gone after the open")
	got := records(t, sp)
	assert.Len(t, got, len(want), "the old index still serves")
	st, err := e.svc.RebuildIndex(c, id, SourceFullScan, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(len(want)), st.Indexed)
	assert.Len(t, generationDirs(t, dir), 1)
	assert.Len(t, records(t, sp), len(want))
}

// TestRebuildCheckpointsInTheBackground: a rebuild returns once its index is
// live and writes the checkpoint after it; a rebuild from the checkpoint
// waits for that one, and an unload while it runs stops it (and waits for
// it: no goroutine outlives the space, TestMain checks) without leaving a
// temporary file behind.
func TestRebuildCheckpointsInTheBackground(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, sp := homeSpace(t, e)
	writeNotes(t, sp, "note ", 300)
	_, err := e.svc.RebuildIndex(c, id, SourceFullScan, nil)
	require.NoError(t, err)
	st, err := e.svc.RebuildIndex(c, id, SourceCheckpoint, nil) // waits for the first one's
	require.NoError(t, err)
	assert.Equal(t, SourceCheckpoint, st.Source)
	assert.Len(t, records(t, sp), 300)

	_, err = e.svc.RebuildIndex(c, id, SourceFullScan, nil)
	require.NoError(t, err)
	require.NoError(t, e.svc.Unload(id)) // as soon as it returned: its checkpoint may still run
	sp.maint.mu.Lock()
	running := sp.maint.ckpt != nil
	sp.maint.mu.Unlock()
	assert.False(t, running, "the unload waited for the checkpoint")
	tmps, err := filepath.Glob(filepath.Join(e.indexDir(id), "checkpoint.*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, tmps)

	sp, err = e.svc.Get(c, id)
	require.NoError(t, err)
	res, err := sp.Query(c, spaceindex.Query{Filter: spaceindex.Eq(spaceindex.KeyType, spaceindex.String("note")), ExactTotal: true})
	require.NoError(t, err)
	assert.Equal(t, 300, res.Total)
}

// writeNotes creates n notes named prefix and their number.
func writeNotes(t *testing.T, sp *Space, prefix string, n int) {
	for i := range n {
		_, err := sp.CreateObject(ctx(t), "note", Details{"name": str(fmt.Sprint(prefix, i))})
		require.NoError(t, err)
	}
}
