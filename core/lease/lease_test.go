package lease

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearth-sync/hearth/internal/errkind"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func never(time.Duration) <-chan time.Time { return nil } // tests renew by hand

func setup(t *testing.T) (*badger.DB, *clock, func(holder string) *Manager) {
	db, err := badger.Open(badger.DefaultOptions("").WithInMemory(true).WithLogger(nil))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	clk := &clock{t: time.Unix(1_000_000, 0)}
	return db, clk, func(holder string) *Manager {
		return New(Config{DB: db, Holder: holder, TTL: 30 * time.Second, Now: clk.Now, Tick: never})
	}
}

func TestSecondAgentIsRefused(t *testing.T) {
	_, _, mgr := setup(t)
	a, b := mgr("a"), mgr("b")
	ctx := context.Background()
	held, err := a.Acquire(ctx, "maintenance", "rebuild of space S")
	require.NoError(t, err)
	for _, m := range []*Manager{b, a} {
		_, err = m.Acquire(ctx, "maintenance", "verify of space T")
		require.True(t, errkind.Is(err, errkind.Busy), "%v", err)
		assert.Contains(t, err.Error(), "another maintenance task is running: rebuild of space S")
	}
	other, err := b.Acquire(ctx, "other", "x")
	require.NoError(t, err, "leases of other names are independent")
	require.NoError(t, other.Release())
	require.NoError(t, held.Release())
	require.NoError(t, held.Release(), "idempotent")
	assert.ErrorIs(t, context.Cause(held.Context()), context.Canceled)
	_, ok, err := a.Current("maintenance")
	require.NoError(t, err)
	assert.False(t, ok, "release deletes the record")
	again, err := b.Acquire(ctx, "maintenance", "verify")
	require.NoError(t, err)
	require.NoError(t, again.Release())
}

func TestExpiredLeaseCancelsItsWork(t *testing.T) {
	_, clk, mgr := setup(t)
	held, err := mgr("a").Acquire(context.Background(), "m", "rebuild")
	require.NoError(t, err)
	defer held.Release()
	clk.Add(20 * time.Second)
	require.NoError(t, held.Renew(), "renewed in time")
	require.NoError(t, held.Context().Err())
	clk.Add(31 * time.Second) // the owner stalled past the expiry
	err = held.Renew()
	require.ErrorIs(t, err, ErrLost)
	<-held.Context().Done()
	assert.ErrorIs(t, context.Cause(held.Context()), ErrLost)
	assert.ErrorIs(t, held.Lost(), ErrLost)
}

func TestStolenLeaseCancelsItsWork(t *testing.T) {
	_, clk, mgr := setup(t)
	a, b := mgr("a"), mgr("b")
	held, err := a.Acquire(context.Background(), "m", "rebuild")
	require.NoError(t, err)
	defer held.Release()
	clk.Add(31 * time.Second) // expired, but the owner has not noticed yet
	thief, err := b.Acquire(context.Background(), "m", "verify")
	require.NoError(t, err)
	defer thief.Release()
	err = held.Renew()
	require.ErrorIs(t, err, ErrLost)
	assert.Contains(t, err.Error(), `taken by "b"`)
	<-held.Context().Done()
	require.NoError(t, held.Release())
	cur, ok, err := b.Current("m")
	require.NoError(t, err)
	require.True(t, ok, "the loser's release leaves the thief's lease alone")
	assert.Equal(t, "b", cur.Holder)
}

func TestCrashedHolderLeaseExpires(t *testing.T) {
	_, clk, mgr := setup(t)
	held, err := mgr("a").Acquire(context.Background(), "m", "rebuild")
	require.NoError(t, err)
	// The holder dies: its renewals stop, its record stays.
	close(held.stop)
	<-held.done
	b := mgr("b")
	_, err = b.Acquire(context.Background(), "m", "verify")
	require.True(t, errkind.Is(err, errkind.Busy))
	clk.Add(30 * time.Second)
	next, err := b.Acquire(context.Background(), "m", "verify")
	require.NoError(t, err)
	require.NoError(t, next.Release())
}

func TestRenewalRunsOnItsOwn(t *testing.T) {
	db, clk, _ := setup(t)
	ticks := make(chan time.Time)
	m := New(Config{DB: db, Holder: "a", TTL: 30 * time.Second, Now: clk.Now, Tick: func(time.Duration) <-chan time.Time { return ticks }})
	held, err := m.Acquire(context.Background(), "m", "rebuild")
	require.NoError(t, err)
	before, _, _ := m.Current("m")
	clk.Add(10 * time.Second)
	ticks <- time.Time{}
	require.Eventually(t, func() bool {
		cur, _, _ := m.Current("m")
		return cur.ExpiresAt.After(before.ExpiresAt)
	}, 10*time.Second, time.Millisecond)
	// A record another agent overwrote is noticed at the next tick.
	require.NoError(t, db.Update(func(txn *badger.Txn) error {
		return txn.Set(key("m"), []byte(`{"holder":"x","what":"y","expiresAt":"2100-01-01T00:00:00Z"}`))
	}))
	ticks <- time.Time{}
	select {
	case <-held.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a stolen lease did not cancel the work")
	}
	require.NoError(t, held.Release())
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"holder":"a","what":"rebuild","expiresAt":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decode(b)
		if err == nil && r.Holder == "" {
			t.Fatal("accepted a lease without holder")
		}
	})
}
