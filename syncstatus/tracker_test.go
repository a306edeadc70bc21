package syncstatus

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each case runs its steps on a fresh Service; a step is "command => events"
// (events separated by " | "; nothing after => means no event).
func TestStateMachine(t *testing.T) {
	cases := []struct {
		name  string
		steps []string
	}{
		{"loaded unknown syncing synced", []string{
			"load a => a unknown objs=0 files=0 offline",
			"conn on => a syncing objs=0 files=0 online",
			"pending a 2 => a syncing objs=2 files=0 online",
			"pending a 0 => a syncing objs=0 files=0 online",
			"done a 10 => a synced objs=0 files=0 online @10",
		}},
		{"unknown until first observation", []string{
			"conn on =>",
			"load a => a unknown objs=0 files=0 online",
			"pending a 0 => a syncing objs=0 files=0 online",
			"done a 5 => a synced objs=0 files=0 online @5",
		}},
		{"pending never synced", []string{
			"load a => a unknown objs=0 files=0 offline",
			"conn on => a syncing objs=0 files=0 online",
			"pending a 3 => a syncing objs=3 files=0 online",
			"done a 10 =>",
			"pending a 1 => a syncing objs=1 files=0 online",
			"done a 11 =>",
			"pending a 0 => a syncing objs=0 files=0 online",
			"done a 12 => a synced objs=0 files=0 online @12",
		}},
		{"a write after synced needs a new cycle", []string{
			"load a => a unknown objs=0 files=0 offline",
			"conn on => a syncing objs=0 files=0 online",
			"done a 10 => a synced objs=0 files=0 online @10",
			"pending a 1 => a syncing objs=1 files=0 online @10",
			"pending a 0 => a syncing objs=0 files=0 online @10",
			"done a 20 => a synced objs=0 files=0 online @20",
		}},
		{"offline and back online", []string{
			"load a => a unknown objs=0 files=0 offline",
			"load b => b unknown objs=0 files=0 offline",
			"conn on => a syncing objs=0 files=0 online | b syncing objs=0 files=0 online",
			"done a 10 => a synced objs=0 files=0 online @10",
			"conn off => a offline objs=0 files=0 offline @10 | b offline objs=0 files=0 offline",
			"pending a 1 => a offline objs=1 files=0 offline @10",
			"done a 11 =>", // a cycle over the dropped connection
			"conn on => a syncing objs=1 files=0 online @10 | b syncing objs=0 files=0 online",
			"pending a 0 => a syncing objs=0 files=0 online @10",
			"done a 30 => a synced objs=0 files=0 online @30",
		}},
		{"a cycle reported before the connect report does not count", []string{
			"load a => a unknown objs=0 files=0 offline",
			"pending a 0 => a offline objs=0 files=0 offline",
			"done a 10 =>",
			"conn on => a syncing objs=0 files=0 online",
		}},
		{"dedup: the same observation twice emits once", []string{
			"load a => a unknown objs=0 files=0 offline",
			"load a =>",
			"conn on => a syncing objs=0 files=0 online",
			"conn on =>",
			"pending a 2 => a syncing objs=2 files=0 online",
			"pending a 2 =>",
			"pending a 0 => a syncing objs=0 files=0 online",
			"done a 10 => a synced objs=0 files=0 online @10",
			"done a 10 =>",
			"done a 40 =>", // still synced: LastSynced refreshes silently
			"conn off => a offline objs=0 files=0 offline @40",
			"conn off =>",
		}},
		{"files pending keep syncing", []string{
			"load a => a unknown objs=0 files=0 offline",
			"conn on => a syncing objs=0 files=0 online",
			"files a 2 => a syncing objs=0 files=2 online",
			"done a 10 => a syncing objs=0 files=2 online @10",
			"files a 0 => a synced objs=0 files=0 online @10",
		}},
		{"error reasons", []string{
			"load a => a unknown objs=0 files=0 offline",
			"conn on => a syncing objs=0 files=0 online",
			"fail a storageLimit => a limited:storageLimit objs=0 files=0 online",
			"fail a none =>", // transient: the permanent error stays
			"conn off => a limited:storageLimit objs=0 files=0 offline",
			"conn on => a limited:storageLimit objs=0 files=0 online",
			"done a 10 => a synced objs=0 files=0 online @10",
			"fail a incompatibleVersion => a error:incompatibleVersion objs=0 files=0 online @10",
			"fail a rejected => a error:rejected objs=0 files=0 online @10",
			"done a 11 => a synced objs=0 files=0 online @11",
			"fail a none => a syncing objs=0 files=0 online @11",
		}},
		{"a deletion is not a sync status: pending deletion drops the space silently", []string{
			"load a => a unknown objs=0 files=0 offline",
			"conn on => a syncing objs=0 files=0 online",
			"node a notFound =>",
			"node a ok =>",
			"node a pendingDeletion =>",
			"done a 10 =>",
		}},
		{"a connection that cannot work is an error with its reason on every space, until a connection", []string{
			"load a => a unknown objs=0 files=0 offline",
			"load b => b unknown objs=0 files=0 offline",
			"connfail none =>",
			"connfail nodeKeyMismatch the node's key is not the pinned one => a error:nodeKeyMismatch(the node's key is not the pinned one) objs=0 files=0 offline | b error:nodeKeyMismatch(the node's key is not the pinned one) objs=0 files=0 offline",
			"connfail nodeKeyMismatch the node's key is not the pinned one =>", // the same failure again: no event
			"done a 10 =>", // offline: nothing changes what shows
			"conn on => a syncing objs=0 files=0 online | b syncing objs=0 files=0 online",
			"done a 11 => a synced objs=0 files=0 online @11",
		}},
		{"quotas show as limited, storage on a space, sessions on every space", []string{
			"load a => a unknown objs=0 files=0 offline",
			"load b => b unknown objs=0 files=0 offline",
			"connfail sessionLimit 32 devices => a limited:sessionLimit(32 devices) objs=0 files=0 offline | b limited:sessionLimit(32 devices) objs=0 files=0 offline",
			"conn on => a syncing objs=0 files=0 online | b syncing objs=0 files=0 online",
			"pending a 1 => a syncing objs=1 files=0 online",
			"fail a storageLimit used 1 of 1 => a limited:storageLimit(used 1 of 1) objs=1 files=0 online",
			"done b 4 => b synced objs=0 files=0 online @4",
			"pending a 0 => a limited:storageLimit(used 1 of 1) objs=0 files=0 online",
			"done a 5 => a synced objs=0 files=0 online @5",
		}},
		{"a cycle failure carries its detail", []string{
			"load a => a unknown objs=0 files=0 offline",
			"conn on => a syncing objs=0 files=0 online",
			"fail a noReadKey no read key opens it => a error:noReadKey(no read key opens it) objs=0 files=0 online",
			"fail a noReadKey no read key opens it =>",
			"done a 3 => a synced objs=0 files=0 online @3",
		}},
		{"removal and deletion drop the space silently", []string{
			"load a => a unknown objs=0 files=0 offline",
			"load b => b unknown objs=0 files=0 offline",
			"conn on => a syncing objs=0 files=0 online | b syncing objs=0 files=0 online",
			"node a deleted =>",
			"remove b =>",
			"done a 10 =>",
			"pending b 1 =>",
			"conn off =>",
		}},
		{"unloaded and never-loaded spaces are ignored", []string{
			"load a => a unknown objs=0 files=0 offline",
			"unload a =>",
			"pending a 1 =>",
			"files z 1 =>",
			"done z 1 =>",
			"fail z rejected =>",
			"node z pendingDeletion =>",
			"conn on =>",
			"load a => a unknown objs=0 files=0 online", // a new load starts afresh
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			s := New(Config{Sink: rec.sink})
			defer s.Close()
			for _, step := range tc.steps {
				cmd, want, ok := strings.Cut(step, "=>")
				require.True(t, ok, "step %q has no =>", step)
				apply(t, s, cmd)
				var wantEvents []string
				if w := strings.TrimSpace(want); w != "" {
					wantEvents = strings.Split(w, " | ")
				}
				require.Equal(t, wantEvents, rec.take(), "after %q", strings.TrimSpace(cmd))
			}
		})
	}
}

func TestLocalOnly(t *testing.T) {
	var rec recorder
	s := New(Config{Sink: rec.sink, LocalOnly: true})
	defer s.Close()
	for _, cmd := range []string{"load a", "conn on", "pending a 0", "done a 10"} {
		apply(t, s, cmd)
	}
	assert.Equal(t, []string{
		"a unknown objs=0 files=0 localOnly",
		"a offline objs=0 files=0 localOnly",
	}, rec.take())
}

func TestGetAndSnapshot(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	for _, cmd := range []string{"load b", "load a", "load c", "conn on", "done a 10", "done a 50", "pending b 4", "unload c"} {
		apply(t, s, cmd)
	}
	st, ok := s.Get("a")
	require.True(t, ok)
	assert.Equal(t, "a synced objs=0 files=0 online @50", show(st), "Get sees the latest confirmation")
	_, ok = s.Get("c")
	assert.False(t, ok, "an unloaded space has no status")
	var snap []string
	for _, st := range s.Snapshot() {
		snap = append(snap, show(st))
	}
	assert.Equal(t, []string{"a synced objs=0 files=0 online @50", "b syncing objs=4 files=0 online"}, snap)
}

func TestStrings(t *testing.T) {
	var words []string
	for st := Unknown; st <= Limited; st++ {
		words = append(words, st.String())
	}
	assert.Equal(t, "unknown syncing synced offline error limited", strings.Join(words, " "))
	assert.Equal(t, "state(9)", State(9).String())
	assert.Equal(t, "offline online localOnly", NetworkOffline.String()+" "+NetworkOnline.String()+" "+NetworkLocalOnly.String())
	assert.Equal(t, "storageLimit", ReasonStorageLimit.String())
	assert.Equal(t, "sessionLimit", ReasonSessionLimit.String())
}
