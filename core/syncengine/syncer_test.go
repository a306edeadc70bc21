package syncengine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBackoffIsBoundedAndGrows(t *testing.T) {
	for n := 1; n <= 30; n++ {
		d := Backoff(n)
		assert.GreaterOrEqual(t, d, 125*time.Millisecond, "n=%d", n)
		assert.LessOrEqual(t, d, 10*time.Second, "capped at 10 s (CLI.md), n=%d", n)
	}
	assert.GreaterOrEqual(t, Backoff(10), 5*time.Second, "late retries wait long")
}

// offlineLocal is a space the engine never reaches (it stays offline), so
// only ID is ever called.
type offlineLocal struct {
	Local
	id crypto.SpaceID
}

func (o offlineLocal) ID() crypto.SpaceID { return o.id }

func TestSyncerOfflineStartsAndStopsCleanly(t *testing.T) {
	dials := make(chan struct{}, 100)
	s := NewSyncer(SyncerConfig{Dial: func(context.Context) (Conn, error) {
		dials <- struct{}{}
		return nil, errors.New("the node is unreachable")
	}})
	e := s.Add(offlineLocal{id: "a"})
	e.LocalChanged() // offline: the change waits, nothing is called
	<-dials          // it keeps trying to connect
	assert.Nil(t, s.Remote())
	s.Close()
	s.Close() // idempotent

	// A space that finished loading after Close gets a stopped engine.
	late := s.Add(offlineLocal{id: "b"})
	late.LocalChanged()
	assert.Nil(t, s.Engine("b"))
}

// Pause stops dialing (no attempt while paused, however long), Resume dials
// at once, and a network change cuts a backoff short.
func TestSyncerPauseResumeAndNetworkHint(t *testing.T) {
	var dials atomic.Int32
	s := NewSyncer(SyncerConfig{Dial: func(context.Context) (Conn, error) {
		dials.Add(1)
		return nil, errors.New("the node is unreachable")
	}})
	defer s.Close()
	require.Eventually(t, func() bool { return dials.Load() >= 1 }, 10*time.Second, time.Millisecond)
	s.Pause()
	time.Sleep(50 * time.Millisecond) // a dial in flight finishes
	paused := dials.Load()
	time.Sleep(1500 * time.Millisecond) // several backoff steps
	assert.Equal(t, paused, dials.Load(), "no dialing while paused")
	assert.True(t, s.Paused())

	s.Resume()
	require.Eventually(t, func() bool { return dials.Load() > paused }, time.Second, time.Millisecond, "Resume dials at once")

	// Let the backoff grow, then hint: the next dial comes at once.
	require.Eventually(t, func() bool { return dials.Load() >= paused+5 }, 30*time.Second, time.Millisecond)
	before := dials.Load()
	s.NetworkChanged()
	require.Eventually(t, func() bool { return dials.Load() > before }, 500*time.Millisecond, time.Millisecond, "a network change cuts the backoff short")
}

// A Syncer started paused (an account opened while the app is in the
// background) dials nothing until Resume: before, it was paused after it
// had started and could dial in between.
func TestSyncerStartedPausedNeverDials(t *testing.T) {
	var dials atomic.Int32
	s := NewSyncer(SyncerConfig{Paused: true, Dial: func(context.Context) (Conn, error) {
		dials.Add(1)
		return nil, errors.New("the node is unreachable")
	}})
	defer s.Close()
	s.Add(offlineLocal{id: "a"}).LocalChanged()
	s.NetworkChanged()                 // a hint is not a resume
	time.Sleep(200 * time.Millisecond) // a short look for a wrong dial, not a timing assertion
	assert.Zero(t, dials.Load(), "started paused: no dial")
	assert.True(t, s.Paused())
	s.Resume()
	require.Eventually(t, func() bool { return dials.Load() >= 1 }, 10*time.Second, time.Millisecond, "Resume dials")
}
