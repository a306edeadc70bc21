package store

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestEventRoundTrip(t *testing.T) {
	sp := crypto.SpaceID(crypto.Sum([]byte("s")))
	obj := crypto.ObjectID(crypto.Sum([]byte("o")))
	for _, e := range []Event{
		{Kind: EventACL, Origin: "ab12", Space: sp, Seq: 1},
		{Kind: EventStatus, Origin: "x", Space: sp},
		{Kind: EventChanges, Origin: "n1", Space: sp, Seq: 9, Object: obj, Prev: 3},
	} {
		got, err := ParseEvent(e.Encode())
		require.NoError(t, err, e.Encode())
		require.Equal(t, e, got)
	}
	for _, bad := range []string{
		"", "1", "2 a o " + string(sp) + " 1", "1 a o " + string(sp) + " 0", "1 a  " + string(sp) + " 1",
		"1 z o " + string(sp) + " 1", "1 a o nospace 1", "1 a o " + string(sp) + " -1",
		"1 a o " + string(sp) + " 1 extra", "1 c o " + string(sp) + " 5",
		"1 c o " + string(sp) + " 5 " + string(obj) + " 5", "1 c o " + string(sp) + " 5 bad 1",
	} {
		_, err := ParseEvent(bad)
		require.True(t, errkind.Is(err, errkind.Invalid), "%q: %v", bad, err)
	}
}

// FuzzParseEvent: any payload decodes cleanly or fails Invalid, and what decodes
// round-trips.
func FuzzParseEvent(f *testing.F) {
	sp := crypto.SpaceID(crypto.Sum([]byte("s")))
	f.Add(Event{Kind: EventACL, Origin: "ab12", Space: sp, Seq: 2}.Encode())
	f.Add(Event{Kind: EventChanges, Origin: "ab12", Space: sp, Seq: 2, Object: crypto.ObjectID(sp), Prev: 1}.Encode())
	f.Add("1 s x " + string(sp) + " 0")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEvent(s)
		if err != nil {
			if !errkind.Is(err, errkind.Invalid) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		back, err := ParseEvent(e.Encode())
		if err != nil || back != e {
			t.Fatalf("round trip of %q: %+v %v", s, back, err)
		}
	})
}
