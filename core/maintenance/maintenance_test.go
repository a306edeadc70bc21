package maintenance

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearth-sync/hearth/core/lease"
	"github.com/hearth-sync/hearth/internal/errkind"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOneJobAtATimeAndLossCancels(t *testing.T) {
	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil))
	require.NoError(t, err)
	defer db.Close()
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ticks := make(chan time.Time)
	r := New(lease.New(lease.Config{DB: db, Holder: "me", TTL: 30 * time.Second, Now: clock,
		Tick: func(time.Duration) <-chan time.Time { return ticks }}))

	started := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- r.Run(context.Background(), "rebuild of space S", func(ctx context.Context) error {
			close(started)
			<-ctx.Done() // a long job that only stops when told
			return ctx.Err()
		})
	}()
	<-started
	err = r.Run(context.Background(), "verify of space T", func(context.Context) error {
		t.Error("a second job ran while the first held the lease")
		return nil
	})
	require.True(t, errkind.Is(err, errkind.Busy), "%v", err)
	assert.Contains(t, err.Error(), "rebuild of space S")

	mu.Lock()
	now = now.Add(time.Minute) // the lease expires before its renewal
	mu.Unlock()
	ticks <- now
	select {
	case err := <-result:
		require.True(t, errkind.Is(err, errkind.Transient), "%v", err)
		require.ErrorIs(t, err, lease.ErrLost)
	case <-time.After(10 * time.Second):
		t.Fatal("losing the lease did not cancel the job")
	}
	// The lease is free again.
	ran := false
	require.NoError(t, r.Run(context.Background(), "verify", func(context.Context) error { ran = true; return nil }))
	assert.True(t, ran)
}
