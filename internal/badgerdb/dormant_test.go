package badgerdb

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func set(t *testing.T, d *Dormant, k, v string) {
	t.Helper()
	require.NoError(t, d.Update(func(txn *badger.Txn) error { return txn.Set([]byte(k), []byte(v)) }))
}

func get(t *testing.T, d *Dormant, k string) string {
	t.Helper()
	var out []byte
	require.NoError(t, d.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(k))
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	}))
	return string(out)
}

// The database opens on first use, closes once idle, and keeps its data
// across the sleep; a use in flight holds it open however long it takes.
func TestDormantSleepsWhenIdleAndWakesOnUse(t *testing.T) {
	d := NewDormantAt(t.TempDir(), true, nil, 50*time.Millisecond)
	defer d.Close()
	assert.False(t, d.Open(), "nothing opens before the first use")
	set(t, d, "k", "v1")
	assert.EqualValues(t, 1, d.Opens())
	require.Eventually(t, func() bool { return !d.Open() }, 5*time.Second, 5*time.Millisecond, "an idle database closes")

	assert.Equal(t, "v1", get(t, d, "k"), "the data survives the sleep")
	assert.EqualValues(t, 2, d.Opens())

	db, release, err := d.Acquire()
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // four idle periods
	assert.True(t, d.Open(), "a use in flight keeps the database open")
	require.NoError(t, db.View(func(*badger.Txn) error { return nil }))
	release()
	release() // idempotent
	require.Eventually(t, func() bool { return !d.Open() }, 5*time.Second, 5*time.Millisecond)
}

// Uses that overlap the open share it; Sleep refuses while a use is in
// flight; Close waits for uses and fails later ones.
func TestDormantConcurrentUseSleepAndClose(t *testing.T) {
	d := NewDormantAt(t.TempDir(), false, nil, time.Hour)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			set(t, d, "k", string(rune('a'+i)))
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1, d.Opens(), "concurrent first uses open the database once")

	_, release, err := d.Acquire()
	require.NoError(t, err)
	assert.False(t, d.Sleep(), "Sleep does not close a database in use")
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a use was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	require.NoError(t, <-closed)
	_, _, err = d.Acquire()
	assert.True(t, errors.Is(err, ErrClosed))
	assert.True(t, errors.Is(d.Update(func(*badger.Txn) error { return nil }), ErrClosed))
	require.NoError(t, d.Close(), "idempotent")
}

// Sleep closes an unused database at once; the next use reopens it.
func TestDormantSleepNow(t *testing.T) {
	d := NewDormantAt(t.TempDir(), true, nil, time.Hour)
	defer d.Close()
	set(t, d, "k", "v")
	assert.True(t, d.Sleep())
	assert.False(t, d.Open())
	assert.Equal(t, "v", get(t, d, "k"))
}

// A database that cannot open fails the use and is tried again next time.
func TestDormantOpenFailure(t *testing.T) {
	fail := true
	dir := t.TempDir()
	d := NewDormant(func() (*badger.DB, error) {
		if fail {
			return nil, errors.New("disk on fire")
		}
		return Open(dir, true, nil)
	}, time.Hour)
	defer d.Close()
	_, _, err := d.Acquire()
	require.ErrorContains(t, err, "disk on fire")
	fail = false
	set(t, d, "k", "v")
	assert.Equal(t, "v", get(t, d, "k"))
}
