package spacestore

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, quiet)
	require.NoError(t, err)
	return s
}

func TestStoreRoundTripAndPushQueue(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	_, err := s.Header()
	assert.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, s.SetHeader([]byte("header")))
	require.NoError(t, s.AddAcl(1, [][]byte{[]byte("root")}, true))
	prov, err := s.Provisional()
	require.NoError(t, err)
	assert.True(t, prov)

	meta := Meta{Type: "task", Heads: []string{"c2"}}
	newly, err := s.WriteChanges("o1", []string{"c1", "c2"}, [][]byte{[]byte("one"), []byte("two")}, meta, true)
	require.NoError(t, err)
	assert.True(t, newly, "the object's first local write queues it")
	newly, err = s.WriteChanges("o1", nil, nil, meta, true)
	require.NoError(t, err)
	assert.False(t, newly, "it was queued already")
	newly, err = s.WriteChanges("o1", nil, nil, meta, false)
	require.NoError(t, err)
	assert.False(t, newly, "a remote write queues nothing")
	pending, err := s.Pending()
	require.NoError(t, err)
	assert.Equal(t, []string{"o1"}, pending)

	// Acked heads that do not cover the local heads keep the object queued.
	left, err := s.SetAcked("o1", []string{"c1"})
	require.NoError(t, err)
	assert.False(t, left)
	pending, _ = s.Pending()
	assert.Equal(t, []string{"o1"}, pending)
	left, err = s.SetAcked("o1", []string{"c2"})
	require.NoError(t, err)
	assert.True(t, left, "it was queued until now")
	pending, _ = s.Pending()
	assert.Empty(t, pending, "covered heads leave the push queue")
	left, err = s.SetAcked("o1", []string{"c2"})
	require.NoError(t, err)
	assert.False(t, left, "it had left already")
	require.NoError(t, s.Close())

	// Everything survives a reopen.
	s = open(t, dir)
	defer s.Close()
	h, err := s.Header()
	require.NoError(t, err)
	assert.Equal(t, "header", string(h))
	require.NoError(t, s.AddAcl(2, [][]byte{[]byte("invite")}, false))
	recs, err := s.AclRecords()
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("root"), []byte("invite")}, recs)
	prov, _ = s.Provisional()
	assert.False(t, prov, "a node-accepted record clears the provisional mark")
	changes, err := s.Changes("o1")
	require.NoError(t, err)
	assert.Len(t, changes, 2)
	got, err := s.Meta("o1")
	require.NoError(t, err)
	assert.Equal(t, meta, got)
	acked, err := s.Acked("o1")
	require.NoError(t, err)
	assert.Equal(t, []string{"c2"}, acked)
	var ids []string
	require.NoError(t, s.Objects(func(id string, _ Meta) error { ids = append(ids, id); return nil }))
	assert.Equal(t, []string{"o1"}, ids)
	// An object id that is a prefix of another does not see its changes.
	_, err = s.WriteChanges("o", []string{"x"}, [][]byte{[]byte("x")}, Meta{Heads: []string{"x"}}, false)
	require.NoError(t, err)
	changes, _ = s.Changes("o")
	assert.Len(t, changes, 1)
}

func TestMetaEncoding(t *testing.T) {
	for _, m := range []Meta{
		{},
		{Type: "note", Heads: []string{"a"}},
		{Type: "", Heads: []string{"a", "b", "c"}, Deleted: true},
		{Type: "ünïcode type", Heads: nil},
	} {
		got, err := decodeMeta(encodeMeta(m))
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(Meta{Type: "t", Heads: []string{"a", "b"}, Deleted: true}))
	f.Add([]byte{})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := decodeMeta(encodeMeta(m))
		if err != nil {
			t.Fatal(err)
		}
		if again.Type != m.Type || again.Deleted != m.Deleted || len(again.Heads) != len(m.Heads) {
			t.Fatalf("round trip changed %+v into %+v", m, again)
		}
	})
}

// TestGroupedSyncOnlyAfterWrites: a grouped store's Sync syncs what was
// written since the last one and is a no-op when nothing was.
func TestGroupedSyncOnlyAfterWrites(t *testing.T) {
	s, err := OpenGrouped(t.TempDir(), quiet)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Sync())
	require.False(t, s.dirty.Load(), "nothing written since the schema check was synced")
	_, err = s.WriteChanges("o1", []string{"c1"}, [][]byte{[]byte("x")}, Meta{Type: "t", Heads: []string{"c1"}}, true)
	require.NoError(t, err)
	require.True(t, s.dirty.Load())
	require.NoError(t, s.Sync())
	require.False(t, s.dirty.Load())
	_, err = s.Changes("o1") // reads leave it clean
	require.NoError(t, err)
	require.False(t, s.dirty.Load())
}
