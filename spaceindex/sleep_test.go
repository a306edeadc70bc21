package spaceindex

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// An open index that nobody calls closes its database and keeps serving:
// the next call wakes it with its data, the change feed continues across the
// sleep, and closing or deleting a sleeping index works like an awake one.
func TestIdleIndexSleepsAndWakes(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	root := t.TempDir()
	reg := NewRegistry(root, WithValueLogGC(0), WithBadgerOptions(tinyOptions), WithIdleClose(30*time.Millisecond))
	defer func() { require.NoError(t, reg.CloseAll()) }()
	h, err := reg.Open(ctx, "s1", "inc1", Config{})
	require.NoError(t, err)
	var seqs []uint64
	cancel := h.Watch(func(b Batch) { seqs = append(seqs, b.Seq) })
	defer cancel()
	require.NoError(t, h.Put(ctx, fixture()...))
	require.Eventually(t, h.Asleep, 10*time.Second, 5*time.Millisecond, "an idle index sleeps")
	opened := reg.opened.Load()
	require.Equal(t, StateOpen, h.State(), "a sleeping index is still open to its handles")
	require.Equal(t, []string{"s1"}, reg.Loaded())

	res, err := h.Query(ctx, Query{Filter: Eq("type", String("task"))})
	require.NoError(t, err, "a call wakes it")
	require.Len(t, res.Records, 2)
	require.Equal(t, opened+1, reg.opened.Load())
	require.False(t, h.Asleep())

	require.True(t, h.Sleep(), "Sleep closes it at once")
	require.NoError(t, h.Put(ctx, Record{ID: "z", Details: Details{"type": String("task")}}))
	require.Len(t, seqs, 2, "the feed told both writes")
	require.Greater(t, seqs[1], seqs[0], "the sequence continues across the sleep")

	// A generation is built beside a sleeping index, and it does not sleep
	// while one is built.
	require.True(t, h.Sleep())
	g, err := reg.NewGeneration(ctx, "s1")
	require.NoError(t, err)
	require.False(t, h.Sleep(), "no sleep while a generation is being built")
	require.NoError(t, g.Load(ctx, fixture()...))
	require.NoError(t, g.Commit())
	res, err = h.Query(ctx, Query{})
	require.NoError(t, err)
	require.Len(t, res.Records, len(fixture()))

	// Close and Delete of a sleeping index.
	require.True(t, h.Sleep())
	require.NoError(t, reg.Close(ctx, "s1"))
	_, err = h.Query(ctx, Query{})
	require.ErrorIs(t, err, ErrSpaceNotLoaded, "a closed index does not wake")
	h, err = reg.Open(ctx, "s1", "inc1", Config{})
	require.NoError(t, err)
	require.True(t, h.Sleep())
	require.NoError(t, reg.Delete(ctx, "s1"))
	_, err = h.Query(ctx, Query{})
	require.ErrorIs(t, err, ErrSpaceRemoved, "a deleted index never wakes")
	require.False(t, exists(reg.IndexDir("s1", "inc1")))
}

// Value-log GC does not wake a sleeping index.
func TestGCDoesNotWakeASleepingIndex(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	reg := NewRegistry(t.TempDir(), WithValueLogGC(5*time.Millisecond), WithBadgerOptions(tinyOptions), WithIdleClose(time.Hour))
	defer func() { require.NoError(t, reg.CloseAll()) }()
	h, err := reg.Open(ctx, "s1", "inc1", Config{})
	require.NoError(t, err)
	require.True(t, h.Sleep())
	opened := reg.opened.Load()
	time.Sleep(100 * time.Millisecond) // twenty GC rounds
	require.True(t, h.Asleep())
	require.Equal(t, opened, reg.opened.Load())
}
