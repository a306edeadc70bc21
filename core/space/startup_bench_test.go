package space

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/spaceindex"
)

// manySpaces creates n active spaces with an object each and unloads them
// all (as a session that used them would leave them: kept on disk, their
// digests recorded), the first pending of them with a change the node has
// not acknowledged (a local-only account: nothing is ever acknowledged, so
// those are marked pending by their object).
func manySpaces(t testing.TB, e *env, n int) []crypto.SpaceID {
	c := context.Background()
	ids := make([]crypto.SpaceID, n)
	for i := range ids {
		id, err := e.svc.Create(c, fmt.Sprintf("space %d", i))
		require.NoError(t, err)
		ids[i] = id
		require.NoError(t, e.svc.Unload(id))
	}
	return ids
}

// startOpened starts the account again and reports how long it took and how
// many databases it opened (store + index of each loaded space).
func startOpened(t testing.TB, e *env) (time.Duration, int) {
	c := context.Background()
	e.close()
	began := time.Now()
	e.open()
	require.NoError(t, e.svc.ResumeOffloads(c))
	_, err := e.svc.EnsureAccountSpace(c)
	require.NoError(t, err)
	require.NoError(t, e.svc.LoadPending(c))
	return time.Since(began), 2 * len(e.svc.Registry().Loaded())
}

// A thousand active spaces on disk: a start opens the account space's
// databases and nothing else, a use opens exactly that space's, and every
// space is listed with its mode.
func TestThousandKeptSpacesOpenOnlyWhatIsUsed(t *testing.T) {
	e := newEnv(t)
	ids := manySpaces(t, e, 1000)
	_, opened := startOpened(t, e)
	require.Equal(t, 2, opened, "only the account space's store and index open at start")
	require.Len(t, e.svc.Loaded(), 1)
	list, err := e.svc.List()
	require.NoError(t, err)
	require.Len(t, list, 1000)
	for _, en := range list {
		require.Equal(t, ModeUnloaded, en.Mode, "kept on disk: %s", en.ID)
	}
	kept, err := e.svc.Kept()
	require.NoError(t, err)
	require.Len(t, kept, 1000)
	for _, k := range kept {
		require.True(t, k.Known, "the digest it unloaded with is recorded")
	}

	sp, err := e.svc.Get(context.Background(), ids[500])
	require.NoError(t, err, "a use loads it")
	res, err := sp.Query(context.Background(), spaceindex.Query{})
	require.NoError(t, err)
	require.Empty(t, res.Records)
	require.Equal(t, 4, 2*len(e.svc.Registry().Loaded()), "using one space opened its two databases")

	// Idle, it unloads again (nothing to push: a created space holds only
	// its ACL) and its digest is kept.
	idle, _ := e.svc.Idle(0)
	require.Equal(t, []crypto.SpaceID{ids[500]}, idle)
	require.NoError(t, e.svc.Unload(ids[500]))
	require.Len(t, e.svc.Loaded(), 1)
}

// BenchmarkStartup1000Spaces: an account with 1,000 active spaces on disk
// starts: resume offloads, the account space, the spaces with changes to
// push (none). Budget (DESIGN §12): ready < 0.5 s; databases opened = the
// used spaces' only (here the account space's two).
func BenchmarkStartup1000Spaces(b *testing.B) {
	e := newEnv(b)
	manySpaces(b, e, 1000)
	var ready time.Duration
	var opened int
	b.ResetTimer()
	for range b.N {
		ready, opened = startOpened(b, e)
	}
	b.StopTimer()
	b.ReportMetric(float64(ready.Microseconds())/1000, "ready-ms")
	b.ReportMetric(float64(opened), "databases-opened")
}
