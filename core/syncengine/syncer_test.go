package syncengine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
