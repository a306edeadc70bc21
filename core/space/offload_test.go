package space

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/spaceindex"
)

func TestOffloadDeletesEverythingAndNothingComesBack(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, err := e.svc.Create(c, "Home")
	require.NoError(t, err)
	sp, err := e.svc.Get(c, id)
	require.NoError(t, err)
	obj, err := sp.CreateObject(c, "note", Details{"name": str("x")})
	require.NoError(t, err)
	handle := e.svc.Registry().Handle(string(id))
	require.True(t, e.svc.SpaceDirExists(id))

	// 100 late callers race the offload: queries, writes, reloads.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch i % 4 {
				case 0:
					_, _ = handle.Query(context.Background(), spaceindex.Query{})
				case 1:
					_ = sp.UpdateObject(context.Background(), obj, Details{"k": num(1)}, nil)
				case 2:
					_, _ = e.svc.Get(context.Background(), id)
				case 3:
					_, _ = sp.ApplyRemote(context.Background(), obj, nil, nil)
				}
			}
		}()
	}
	require.NoError(t, e.svc.Offload(c, id))
	close(stop)
	wg.Wait()

	assert.False(t, e.svc.SpaceDirExists(id), "no file of the space stays on disk")
	in, err := e.svc.Info(id)
	require.NoError(t, err)
	assert.Equal(t, LocalMissing, in.LocalStatus)
	entries, err := e.svc.List()
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, ModeOffloaded, entries[0].Mode)

	// Nothing can bring it back: not a reader, not a writer, not a load.
	_, err = handle.Query(c, spaceindex.Query{})
	assert.ErrorIs(t, err, spaceindex.ErrSpaceRemoved)
	assert.Error(t, sp.UpdateObject(c, obj, Details{"k": num(2)}, nil))
	_, err = e.svc.Get(c, id)
	assert.True(t, errkind.Is(err, errkind.Precondition), "%v", err)
	assert.False(t, e.svc.SpaceDirExists(id), "late callers re-created nothing")

	// Offloading again is a no-op; after a restart nothing loads it either.
	require.NoError(t, e.svc.Offload(c, id))
	e.reopen()
	require.NoError(t, e.svc.ResumeOffloads(c))
	require.NoError(t, e.svc.LoadPending(c))
	assert.False(t, e.svc.SpaceDirExists(id))
	assert.NotContains(t, e.svc.Registry().Loaded(), string(id))
}

// TestOffloadResumesAfterACrashAtEveryStep: the process dies before each
// step in turn; on the next start ResumeOffloads finishes the job.
func TestOffloadResumesAfterACrashAtEveryStep(t *testing.T) {
	for step := StepStopSync; step <= StepMarkMissing; step++ {
		t.Run(step.String(), func(t *testing.T) {
			e := newEnv(t)
			c := ctx(t)
			id, err := e.svc.Create(c, "Home")
			require.NoError(t, err)
			sp, err := e.svc.Get(c, id)
			require.NoError(t, err)
			_, err = sp.CreateObject(c, "note", Details{"name": str("x")})
			require.NoError(t, err)

			crashed := fmt.Errorf("crash at %s", step)
			e.svc.cfg.Offload.Crash = func(at OffloadStep) {
				if at == step {
					panic(crashed)
				}
			}
			func() {
				defer func() {
					r := recover() // singleflight re-panics with the stack attached
					require.NotNil(t, r)
					assert.Contains(t, fmt.Sprint(r), crashed.Error())
				}()
				_ = e.svc.Offload(c, id)
			}()
			// "Restart": a new Service over the same disk.
			e.reopen()
			require.NoError(t, e.svc.ResumeOffloads(c))
			assert.False(t, e.svc.SpaceDirExists(id), "the offload finished")
			in, err := e.svc.Info(id)
			require.NoError(t, err)
			assert.Equal(t, LocalMissing, in.LocalStatus)
			require.NoError(t, e.svc.LoadPending(c))
			assert.False(t, e.svc.SpaceDirExists(id), "no index re-created")
			pending, err := e.svc.journals()
			require.NoError(t, err)
			assert.Empty(t, pending, "the journal is cleared")
		})
	}
}

func TestRejoinGetsAFreshIncarnation(t *testing.T) {
	a, b, node := twoDevices(t)
	c := ctx(t)
	id, err := a.svc.Create(c, "Shared")
	require.NoError(t, err)
	spA, err := a.svc.Get(c, id)
	require.NoError(t, err)
	header, records := register(t, c, spA, node)
	_, err = b.svc.Import(c, header, records, "Shared")
	require.NoError(t, err)
	old, err := b.svc.Info(id)
	require.NoError(t, err)
	spB, err := b.svc.Get(c, id)
	require.NoError(t, err)
	_, err = spB.CreateObject(c, "note", Details{"name": str("stale")})
	require.NoError(t, err)

	require.NoError(t, b.svc.SetAccountStatus(c, id, AccountRemoved))
	require.NoError(t, b.svc.Offload(c, id))
	_, err = b.svc.Import(c, header, records, "")
	require.NoError(t, err, "a removed, offloaded space can come back")
	fresh, err := b.svc.Info(id)
	require.NoError(t, err)
	assert.NotEqual(t, old.Incarnation, fresh.Incarnation)
	assert.Equal(t, "Shared", fresh.Name)
	_, err = os.Stat(filepath.Join(b.dir, "spaces", string(id), old.Incarnation))
	assert.True(t, os.IsNotExist(err), "the old incarnation stays gone")
	spB, err = b.svc.Get(c, id)
	require.NoError(t, err)
	res, err := spB.Query(c, spaceindex.Query{})
	require.NoError(t, err)
	assert.Equal(t, 0, res.Total, "nothing stale is reused")
}

// A failed offload step is retried with backoff from where it stopped: the
// space does not stay "offloading" until the next start.
func TestFailedOffloadStepIsRetried(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	id, err := e.svc.Create(c, "Home")
	require.NoError(t, err)
	var calls atomic.Int32
	e.svc.cfg.Offload.ReleaseFiles = func(crypto.SpaceID) error {
		if calls.Add(1) <= 2 {
			return errors.New("the disk hiccupped")
		}
		return nil
	}
	require.Error(t, e.svc.Offload(c, id), "the first attempt fails and says so")
	list, err := e.svc.List()
	require.NoError(t, err)
	require.Equal(t, ModeOffloading, list[0].Mode)
	require.Eventually(t, func() bool {
		in, err := e.svc.Info(id)
		pending, jerr := e.svc.journals()
		// The journal entry goes last, after the space is marked missing.
		return err == nil && in.LocalStatus == LocalMissing && jerr == nil && len(pending) == 0
	}, 30*time.Second, 20*time.Millisecond, "the retries finish it (1 s, then 2 s)")
	require.EqualValues(t, 3, calls.Load())
	require.False(t, e.svc.SpaceDirExists(id))
}
