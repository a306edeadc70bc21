package space

import (
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/hearth-sync/hearth/core/files"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// withFiles gives an env's service the account's file markers.
func withFiles(e *env) *files.Markers {
	m := files.NewMarkers(e.db)
	e.svc.cfg.Files = m
	return m
}

func spec(n int, key crypto.KeyID) FileSpec {
	return FileSpec{
		FileID: files.BlobID(fmt.Appendf(nil, "file %d", n)), Name: fmt.Sprintf("f%d", n), Size: int64(n),
		KeyID: key, RemoteID: files.BlobID(fmt.Appendf(nil, "remote %d %s", n, key)),
	}
}

func queues(t *testing.T, sp *Space) (ups []files.QueuedUpload, dels []files.QueuedDelete) {
	ups, dels, err := sp.FileQueue(ctx(t))
	require.NoError(t, err)
	return ups, dels
}

func marked(t *testing.T, m *files.Markers) map[string][]crypto.SpaceID {
	all, err := m.All()
	require.NoError(t, err)
	for _, sps := range all {
		sort.Slice(sps, func(i, j int) bool { return sps[i] < sps[j] })
	}
	return all
}

func TestFileReferencesFollowTheChanges(t *testing.T) {
	e := newEnv(t)
	m := withFiles(e)
	c := ctx(t)
	idA, err := e.svc.Create(c, "A")
	require.NoError(t, err)
	idB, err := e.svc.Create(c, "B")
	require.NoError(t, err)
	spA, _ := e.svc.Get(c, idA)
	spB, _ := e.svc.Get(c, idB)
	keyA, err := spA.ReadKey(c)
	require.NoError(t, err)
	keyB, _ := spB.ReadKey(c)

	f := spec(1, keyA.ID())
	objA, err := spA.CreateFile(c, f)
	require.NoError(t, err)
	fB := f
	fB.KeyID, fB.RemoteID = keyB.ID(), files.BlobID([]byte("b's copy"))
	objB, err := spB.CreateFile(c, fB)
	require.NoError(t, err)
	objA2, err := spA.CreateFile(c, f) // the same file twice in A
	require.NoError(t, err)

	assert.ElementsMatch(t, []crypto.SpaceID{idA, idB}, marked(t, m)[f.FileID], "one marker per space")
	ups, _ := queues(t, spA)
	assert.Len(t, ups, 1, "one upload per remote copy, however many objects")
	got, err := spA.FileRef(c, f.FileID)
	require.NoError(t, err)
	assert.Equal(t, files.RefValue{KeyID: keyA.ID(), RemoteID: f.RemoteID}, got)

	// File details cannot change; files are not made as plain objects.
	err = spA.UpdateObject(c, objA, Details{FileKeyID: str(spec(2, "k").FileID)}, nil)
	assert.True(t, errkind.Is(err, errkind.Invalid))
	_, err = spA.CreateObject(c, FileType, nil)
	assert.True(t, errkind.Is(err, errkind.Invalid))
	require.NoError(t, spA.UpdateObject(c, objA, Details{"name": str("renamed")}, nil), "other details can")

	// Deleting one of A's two objects keeps everything.
	require.NoError(t, spA.DeleteObject(c, objA))
	_, dels := queues(t, spA)
	assert.Empty(t, dels)
	assert.Len(t, marked(t, m)[f.FileID], 2)

	// Deleting the last one in A: A's marker goes, the remote delete is
	// queued with the delete, the pending upload is cancelled; B keeps it.
	require.NoError(t, spA.DeleteObject(c, objA2))
	ups, dels = queues(t, spA)
	assert.Empty(t, ups)
	require.Len(t, dels, 1)
	assert.Equal(t, f.RemoteID, dels[0].RemoteID)
	assert.Equal(t, []crypto.SpaceID{idB}, marked(t, m)[f.FileID])
	_, err = spA.FileRef(c, f.FileID)
	assert.True(t, errkind.Is(err, errkind.NotFound))

	// Adding it again cancels the queued delete and queues an upload.
	_, err = spA.CreateFile(c, f)
	require.NoError(t, err)
	ups, dels = queues(t, spA)
	assert.Len(t, ups, 1)
	assert.Empty(t, dels)

	// Everything survives a restart.
	e.reopen()
	m = withFiles(e)
	spB, _ = e.svc.Get(c, idB)
	require.NoError(t, spB.DeleteObject(c, objB))
	assert.Equal(t, []crypto.SpaceID{idA}, marked(t, m)[f.FileID])
}

func TestReplicatedFileDeleteQueuesNothing(t *testing.T) {
	a, b, node := twoDevices(t)
	ma, mb := withFiles(a), withFiles(b)
	c := ctx(t)
	id, err := a.svc.Create(c, "Shared")
	require.NoError(t, err)
	spA, _ := a.svc.Get(c, id)
	header, records := register(t, c, spA, node)
	_, err = b.svc.Import(c, header, records, "Shared")
	require.NoError(t, err)
	spB, err := b.svc.Get(c, id)
	require.NoError(t, err)
	k, _ := spA.ReadKey(c)
	f := spec(7, k.ID())

	obj, err := spA.CreateFile(c, f)
	require.NoError(t, err)
	relay(t, c, spA, spB, obj)
	assert.Equal(t, []crypto.SpaceID{id}, marked(t, mb)[f.FileID], "a file that arrives is marked")
	ups, dels := queues(t, spB)
	assert.Empty(t, ups, "the device that added it uploads it")
	assert.Empty(t, dels)
	ref, err := spB.FileRef(c, f.FileID)
	require.NoError(t, err)
	assert.Equal(t, f.RemoteID, ref.RemoteID)

	require.NoError(t, spA.DeleteObject(c, obj))
	_, dels = queues(t, spA)
	assert.Len(t, dels, 1, "the deleting device sends the remote delete")
	relay(t, c, spA, spB, obj)
	ups, dels = queues(t, spB)
	assert.Empty(t, ups)
	assert.Empty(t, dels, "a delete from another device is not sent again")
	assert.Empty(t, marked(t, mb))
	assert.Empty(t, marked(t, ma)[f.FileID], "A dropped its marker too")
}

// TestRepairEqualsIncrementalCounts: after any sequence of adds and deletes
// across spaces, repair finds the markers the incremental path wrote.
func TestRepairEqualsIncrementalCounts(t *testing.T) {
	e := newEnv(t)
	m := withFiles(e)
	c := ctx(t)
	var spaces []*Space
	for i := range 2 {
		id, err := e.svc.Create(c, fmt.Sprint("s", i))
		require.NoError(t, err)
		sp, err := e.svc.Get(c, id)
		require.NoError(t, err)
		spaces = append(spaces, sp)
	}
	type live struct {
		sp  *Space
		obj crypto.ObjectID
	}
	rapid.Check(t, func(rt *rapid.T) {
		var objs []live
		steps := rapid.IntRange(1, 12).Draw(rt, "steps")
		for range steps {
			if len(objs) > 0 && rapid.Bool().Draw(rt, "delete") {
				i := rapid.IntRange(0, len(objs)-1).Draw(rt, "which")
				require.NoError(rt, objs[i].sp.DeleteObject(c, objs[i].obj))
				objs = append(objs[:i], objs[i+1:]...)
				continue
			}
			sp := spaces[rapid.IntRange(0, len(spaces)-1).Draw(rt, "space")]
			k, err := sp.ReadKey(c)
			require.NoError(rt, err)
			obj, err := sp.CreateFile(c, spec(rapid.IntRange(0, 3).Draw(rt, "file"), k.ID()))
			require.NoError(rt, err)
			objs = append(objs, live{sp, obj})
		}
		want := map[string][]crypto.SpaceID{}
		seen := map[string]bool{}
		for _, o := range objs {
			ref, err := o.sp.store.FileOfObject(string(o.obj))
			require.NoError(rt, err)
			if !seen[ref+string(o.sp.ID())] {
				seen[ref+string(o.sp.ID())] = true
				want[ref] = append(want[ref], o.sp.ID())
			}
		}
		for _, sps := range want {
			sort.Slice(sps, func(i, j int) bool { return sps[i] < sps[j] })
		}
		assert.Equal(rt, want, marked(t, m), "incremental markers")
		s := files.New(files.Config{Dir: t.TempDir(), DB: e.db, Log: quiet})
		defer s.Close()
		res, err := s.Repair(c, e.svc)
		require.NoError(rt, err)
		assert.Zero(rt, res.Added, "repair found a missing marker")
		assert.Zero(rt, res.Removed, "repair found an extra marker")
		assert.Equal(rt, want, marked(t, m), "markers after repair")
		for _, o := range objs { // start the next case empty
			require.NoError(rt, o.sp.DeleteObject(c, o.obj))
		}
	})
}

func TestRepairFixesLeaksAndKeepsUnreadableSpaces(t *testing.T) {
	e := newEnv(t)
	m := withFiles(e)
	c := ctx(t)
	id, err := e.svc.Create(c, "A")
	require.NoError(t, err)
	sp, _ := e.svc.Get(c, id)
	k, _ := sp.ReadKey(c)
	f := spec(1, k.ID())
	_, err = sp.CreateFile(c, f)
	require.NoError(t, err)
	leak := spec(2, k.ID()).FileID
	require.NoError(t, m.Mark(id, leak))           // a crash between mark and commit
	require.NoError(t, m.Mark("gone-space", leak)) // a space the account forgot
	require.NoError(t, m.Unmark(id, f.FileID))     // damage repair must undo
	require.NoError(t, e.svc.Unload(id))           // repair reads unloaded stores too

	s := files.New(files.Config{Dir: t.TempDir(), DB: e.db, Log: quiet})
	defer s.Close()
	res, err := s.Repair(c, e.svc)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Added)
	assert.Equal(t, 2, res.Removed)
	assert.Equal(t, map[string][]crypto.SpaceID{f.FileID: {id}}, marked(t, m))
}
