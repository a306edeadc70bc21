package spacestore

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func changed(t *testing.T, since uint64, list func(uint64, func(uint64, string) error) error) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	var last uint64
	require.NoError(t, list(since, func(seq uint64, id string) error {
		require.Greater(t, seq, last, "log entries come in sequence order")
		last = seq
		_, dup := out[id]
		require.False(t, dup, "an object has one log entry")
		out[id] = seq
		return nil
	}))
	return out
}

func TestSequenceLog(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	seq, err := s.Seq()
	require.NoError(t, err)
	assert.Zero(t, seq, "a store without log starts at 0")

	_, err = s.WriteChanges("a", []string{"a"}, [][]byte{[]byte("ra")}, Meta{Type: "t", Heads: []string{"a"}}, true)
	require.NoError(t, err)
	_, err = s.WriteChanges("b", []string{"b"}, [][]byte{[]byte("rb")}, Meta{Type: "t", Heads: []string{"b"}}, true)
	require.NoError(t, err)
	_, err = s.WriteChanges("a", []string{"a2"}, [][]byte{[]byte("ra2")}, Meta{Type: "t", Heads: []string{"a2"}}, true)
	require.NoError(t, err)
	seq, _ = s.Seq()
	assert.Equal(t, uint64(3), seq)
	assert.Equal(t, map[string]uint64{"b": 2, "a": 3}, changed(t, 0, s.ChangedSince))
	assert.Equal(t, map[string]uint64{"a": 3}, changed(t, 2, s.ChangedSince))

	// Acknowledged heads change the sync status: they are logged too.
	_, err = s.SetAcked("b", []string{"b"})
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"a": 3, "b": 4}, changed(t, 0, s.ChangedSince))
	_, err = s.SetAcked("missing", []string{"x"})
	require.Error(t, err)
	seq, _ = s.Seq()
	assert.Equal(t, uint64(4), seq, "a failed write takes no number")

	snap, err := s.Snapshot()
	require.NoError(t, err)
	_, err = s.WriteChanges("c", []string{"c"}, [][]byte{[]byte("rc")}, Meta{Heads: []string{"c"}}, false)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), snap.Seq())
	assert.Equal(t, map[string]uint64{"a": 3, "b": 4}, changed(t, 0, snap.ChangedSince), "the snapshot does not see later writes")
	n, err := snap.Count()
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	_, ok, err := snap.Object("c")
	require.NoError(t, err)
	assert.False(t, ok)
	snap.Close()
	require.NoError(t, s.Close())

	// The counter survives a reopen: numbers never restart.
	s = open(t, dir)
	defer s.Close()
	_, err = s.WriteChanges("d", []string{"d"}, [][]byte{[]byte("rd")}, Meta{Heads: []string{"d"}}, false)
	require.NoError(t, err)
	seq, _ = s.Seq()
	assert.Equal(t, uint64(6), seq)
	o, ok, err := s.Object("b")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, Object{ID: "b", Meta: Meta{Type: "t", Heads: []string{"b"}}, Changes: [][]byte{[]byte("rb")}, Acked: []string{"b"}}, o)
}

// TestSnapshotScanMatchesObject: the merged scan reads exactly what a lookup
// per object reads, whatever the ids (prefixes of each other included), and
// the log names every object once, at its latest write.
func TestSnapshotScanMatchesObject(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := open(t, t.TempDir())
		defer s.Close()
		ids := []string{"o", "o1", "o10", "p", "o\x01", "q"}
		latest := map[string]uint64{}
		var seq uint64
		for i, n := 0, rapid.IntRange(0, 30).Draw(rt, "writes"); i < n; i++ {
			id := rapid.SampledFrom(ids).Draw(rt, "id")
			if _, known := latest[id]; known && rapid.Bool().Draw(rt, "ack") {
				_, err := s.SetAcked(id, []string{fmt.Sprint("h", i)})
				require.NoError(t, err)
			} else {
				ch := fmt.Sprint("c", i)
				_, err := s.WriteChanges(id, []string{ch}, [][]byte{[]byte(ch)},
					Meta{Type: "t", Heads: []string{ch}, Deleted: rapid.Bool().Draw(rt, "deleted")}, false)
				require.NoError(t, err)
			}
			seq++
			latest[id] = seq
		}
		snap, err := s.Snapshot()
		require.NoError(t, err)
		defer snap.Close()
		var scanned []string
		require.NoError(t, snap.Scan(func(o Object) error {
			want, ok, err := snap.Object(o.ID)
			require.NoError(t, err)
			require.True(t, ok)
			o.Changes = slices.Clone(o.Changes)
			assert.Equal(t, want, o)
			scanned = append(scanned, o.ID)
			return nil
		}))
		var want []string
		for id := range latest {
			want = append(want, id)
		}
		slices.Sort(want)
		assert.Equal(t, want, scanned)
		assert.Equal(t, latest, changed(t, 0, snap.ChangedSince))
	})
}

func FuzzDecodeSeq(f *testing.F) {
	f.Add(binary.BigEndian.AppendUint64(nil, 7))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeSeq(b)
		if err != nil {
			return
		}
		if got := binary.BigEndian.AppendUint64(nil, n); string(got) != string(b) {
			t.Fatalf("decoded %x as %d, which encodes as %x", b, n, got)
		}
	})
}
