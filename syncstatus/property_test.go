package syncstatus

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hearth-sync/hearth/protocol/crypto"
	"pgregory.net/rapid"
)

// modelObs is one observation in a space's history since its load.
type modelObs struct {
	cmd string // pending, files, done, fail, node, conn
	n   int    // pending/files count, done time
	r   Reason
	ns  NodeState
	net Network // conn: the new network
}

// modelSpace is a loaded space in the model: the network at load and every
// observation since. Its status is computed from the whole history, a
// different formulation from the tracker's incremental fields.
type modelSpace struct {
	netAtLoad Network
	hist      []modelObs
	lastKey   string // visible key of the last expected event
}

func (m *modelSpace) status(id crypto.SpaceID, net Network, netErr Reason) Status {
	st := Status{Space: id, Network: net}
	pendingAt := make([]int, len(m.hist)) // pending count when obs i arrived
	netAt := make([]Network, len(m.hist)) // network when obs i arrived
	curPending, curNet := 0, m.netAtLoad
	var cycleErr Reason
	for i, o := range m.hist {
		switch o.cmd {
		case "pending":
			curPending = o.n
		case "conn":
			curNet = o.net
		case "files":
			st.PendingFiles = o.n
		case "done":
			cycleErr = ReasonNone
		case "fail":
			if o.r != ReasonNone {
				cycleErr = o.r
			}
		}
		pendingAt[i], netAt[i] = curPending, curNet
	}
	st.SyncingObjects = curPending
	// A "qualifying" done: online, nothing pending when it arrived.
	qualifies := func(i int) bool {
		return m.hist[i].cmd == "done" && netAt[i] == NetworkOnline && pendingAt[i] == 0
	}
	// The space is clean when the last of {qualifying done, write, failure,
	// connection change} is a qualifying done.
	clean := false
	for i, o := range m.hist {
		switch {
		case qualifies(i):
			clean = true
			if t := at(o.n); t.After(st.LastSynced) {
				st.LastSynced = t
			}
		case o.cmd == "pending" && o.n > 0, o.cmd == "conn", o.cmd == "fail":
			clean = false
		}
	}
	switch {
	case netErr != ReasonNone:
		st.State, st.Reason = stateOf(netErr), netErr
	case cycleErr != ReasonNone:
		st.State, st.Reason = stateOf(cycleErr), cycleErr
	case len(m.hist) == 0:
		st.State = Unknown
	case net != NetworkOnline:
		st.State = Offline
	case curPending == 0 && st.PendingFiles == 0 && clean:
		st.State = Synced
	default:
		st.State = Syncing
	}
	return st
}

// visibleKey is the test's own notion of "the same visible status".
func visibleKey(st Status) string {
	s := show(st)
	if st.State == Synced {
		s, _, _ = strings.Cut(s, " @")
	}
	return s
}

func genCommand(t *rapid.T, spaces []string) string {
	id := rapid.SampledFrom(spaces).Draw(t, "space")
	switch rapid.IntRange(0, 13).Draw(t, "kind") {
	case 13:
		return "connfail " + rapid.SampledFrom([]Reason{ReasonNone, ReasonNodeKey, ReasonOther}).Draw(t, "reason").String()
	case 0, 1:
		return "load " + id
	case 2:
		return "unload " + id
	case 3:
		return "remove " + id
	case 4:
		return "conn " + rapid.SampledFrom([]string{"on", "off"}).Draw(t, "conn")
	case 5, 6:
		return fmt.Sprintf("pending %s %d", id, rapid.IntRange(0, 3).Draw(t, "n"))
	case 7:
		return fmt.Sprintf("files %s %d", id, rapid.IntRange(0, 2).Draw(t, "n"))
	case 8, 9:
		return fmt.Sprintf("done %s %d", id, rapid.IntRange(1, 100).Draw(t, "at"))
	case 10:
		return fmt.Sprintf("fail %s %s", id, rapid.SampledFrom([]Reason{ReasonNone, ReasonNone, ReasonStorageLimit, ReasonRejected}).Draw(t, "reason"))
	default:
		return fmt.Sprintf("node %s %s", id, rapid.SampledFrom([]string{"ok", "pendingDeletion", "deleted", "notFound"}).Draw(t, "node"))
	}
}

func TestPropertyStatus(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spaces := []string{"a", "b", "c", "d"}
		var got []Status
		s := New(Config{Sink: func(st Status) { got = append(got, st) }})
		defer s.Close()

		net, netErr := NetworkOffline, ReasonNone
		loaded := map[crypto.SpaceID]*modelSpace{}
		want := map[crypto.SpaceID][]string{}  // expected events per space, in order
		gotBy := map[crypto.SpaceID][]string{} // received events per space
		n := rapid.IntRange(1, 120).Draw(t, "steps")
		for step := 0; step < n; step++ {
			cmd := genCommand(t, spaces)
			got = got[:0]
			apply(t, s, cmd)

			// Advance the model.
			f := strings.Fields(cmd)
			id := crypto.SpaceID(f[1])
			sp := loaded[id]
			switch f[0] {
			case "connfail":
				if r := reasons[f[1]]; r != netErr {
					netErr = r
					for _, m := range loaded {
						m.hist = append(m.hist, modelObs{cmd: "connfail"})
					}
				}
			case "load":
				if sp == nil {
					loaded[id] = &modelSpace{netAtLoad: net}
				}
			case "unload", "remove":
				delete(loaded, id)
			case "conn":
				newNet := NetworkOffline
				if f[1] == "on" {
					newNet = NetworkOnline
				}
				if newNet == NetworkOnline {
					netErr = ReasonNone
				}
				if newNet != net {
					net = newNet
					for _, m := range loaded {
						m.hist = append(m.hist, modelObs{cmd: "conn", net: net})
					}
				}
			default:
				if sp == nil {
					break // not loaded: ignored
				}
				o := modelObs{cmd: f[0]}
				switch f[0] {
				case "pending", "files", "done":
					fmt.Sscan(f[2], &o.n)
				case "fail":
					o.r = reasons[f[2]]
				case "node":
					o.ns = nodeStates[f[2]]
				}
				switch {
				case o.cmd == "node" && (o.ns == NodeDeleted || o.ns == NodePendingDeletion):
					delete(loaded, id) // dropped without an event
				case o.cmd == "node":
					// not a sync status: nothing changes
				default:
					sp.hist = append(sp.hist, o)
				}
			}

			// Events only for loaded spaces, only on visible changes.
			for _, st := range got {
				if loaded[st.Space] == nil {
					t.Fatalf("step %d %q: event for a space not loaded: %s", step, cmd, show(st))
				}
				if st.State == Synced && (net != NetworkOnline || st.SyncingObjects != 0 || st.PendingFiles != 0) {
					t.Fatalf("step %d %q: synced while offline or pending: %s", step, cmd, show(st))
				}
				gotBy[st.Space] = append(gotBy[st.Space], show(st))
			}
			for _, id := range spaces {
				m := loaded[crypto.SpaceID(id)]
				cur, ok := s.Get(crypto.SpaceID(id))
				if m == nil {
					if ok {
						t.Fatalf("step %d %q: Get(%s) answers for a space not loaded", step, cmd, id)
					}
					continue
				}
				exp := m.status(crypto.SpaceID(id), net, netErr)
				if !ok || show(cur) != show(exp) {
					t.Fatalf("step %d %q: Get(%s) = %s (%v), model %s", step, cmd, id, show(cur), ok, show(exp))
				}
				if k := visibleKey(exp); k != m.lastKey { // a fresh load has no last key
					m.lastKey = k
					want[crypto.SpaceID(id)] = append(want[crypto.SpaceID(id)], show(exp))
				}
			}
		}
		for _, id := range spaces {
			w, g := want[crypto.SpaceID(id)], gotBy[crypto.SpaceID(id)]
			if strings.Join(w, "\n") != strings.Join(g, "\n") {
				t.Fatalf("space %s: events\n%s\nwant\n%s", id, strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
		}
	})
}
