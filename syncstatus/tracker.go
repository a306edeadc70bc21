package syncstatus

import (
	"slices"
	"strings"
	"time"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// machine is what the tracker knows of one loaded space. It is a value:
// inputs change fields, status derives the visible Status. No I/O, no clock.
type machine struct {
	observed bool // anything reported since Loaded (else Unknown)
	pending  int  // objects with unacknowledged local changes
	files    int  // files waiting for upload
	// clean: a sync cycle finished while online with nothing pending, and
	// since then no local change, failure or connection change. Synced
	// needs it: pending == 0 alone says nothing about what is left to
	// download.
	clean     bool
	confirmed time.Time // the latest cycle that set clean
	cycleErr  Reason    // the last permanent cycle failure; a finished cycle clears it
	cycleMsg  string    // its detail
}

// status derives the visible status. The order is the rules' order: an
// error needs attention whatever the network; nothing is Synced offline or
// while anything is pending.
func (m machine) status(id crypto.SpaceID, net Network, netErr Reason, netMsg string) Status {
	st := Status{Space: id, SyncingObjects: m.pending, PendingFiles: m.files, LastSynced: m.confirmed, Network: net}
	switch {
	case netErr != ReasonNone:
		st.State, st.Reason, st.Detail = stateOf(netErr), netErr, netMsg
	case m.cycleErr != ReasonNone:
		st.State, st.Reason, st.Detail = stateOf(m.cycleErr), m.cycleErr, m.cycleMsg
	case !m.observed:
		st.State = Unknown
	case net != NetworkOnline:
		st.State = Offline
	case m.pending > 0 || m.files > 0 || !m.clean:
		st.State = Syncing
	default:
		st.State = Synced
	}
	return st
}

// entry is a loaded space: its machine and the last status emitted for it.
type entry struct {
	id   crypto.SpaceID
	m    machine
	last Status
}

// tracker is the thread-unsafe core: the machines of loaded spaces only, in
// a dense slice (a network change touches exactly the loaded spaces, however
// many spaces were ever loaded) with a map from id to position. Every input
// appends the statuses that changed to out and returns it.
type tracker struct {
	net       Network
	netErr    Reason // why the account cannot connect (ConnectFailed); a connection clears it
	netMsg    string
	localOnly bool
	spaces    []entry
	index     map[crypto.SpaceID]int
	stats     Stats
}

func newTracker(localOnly bool) *tracker {
	t := &tracker{index: make(map[crypto.SpaceID]int)}
	if localOnly {
		t.net, t.localOnly = NetworkLocalOnly, true
	}
	return t
}

// lookup finds a loaded space; a space not loaded costs a map lookup and a
// counter, nothing else.
func (t *tracker) lookup(id crypto.SpaceID) *entry {
	i, ok := t.index[id]
	if !ok {
		t.stats.Ignored++
		return nil
	}
	t.stats.Observations++
	return &t.spaces[i]
}

// settle re-derives e's status and appends it to out if it changed.
func (t *tracker) settle(e *entry, out []Status) []Status {
	t.stats.SpacesTouched++
	st := e.m.status(e.id, t.net, t.netErr, t.netMsg)
	if sameVisible(st, e.last) {
		return out
	}
	e.last = st
	t.stats.Events++
	return append(out, st)
}

// loaded starts tracking a space: Unknown until something is observed.
func (t *tracker) loaded(id crypto.SpaceID, out []Status) []Status {
	if _, ok := t.index[id]; ok {
		t.stats.Ignored++
		return out
	}
	t.stats.Observations++
	t.index[id] = len(t.spaces)
	t.spaces = append(t.spaces, entry{id: id})
	e := &t.spaces[len(t.spaces)-1]
	e.last = Status{Space: id, State: 0xff} // never equal: the first status is an event
	return t.settle(e, out)
}

// drop stops tracking a space, without an event (unload, removal and
// deletion are the lifecycle's events, not sync statuses).
func (t *tracker) drop(id crypto.SpaceID) {
	i, ok := t.index[id]
	if !ok {
		t.stats.Ignored++
		return
	}
	t.stats.Observations++
	last := len(t.spaces) - 1
	if i != last {
		t.spaces[i] = t.spaces[last]
		t.index[t.spaces[i].id] = i
	}
	t.spaces[last] = entry{}
	t.spaces = t.spaces[:last]
	delete(t.index, id)
}

// connected records the account's connection (all loaded spaces). Only a
// change touches the spaces; any change needs a fresh cycle before Synced.
func (t *tracker) connected(ok bool, out []Status) []Status {
	net := NetworkOffline
	if ok {
		net = NetworkOnline
	}
	cleared := ok && t.netErr != ReasonNone
	if ok {
		t.netErr, t.netMsg = ReasonNone, ""
	}
	if t.localOnly || net == t.net {
		if cleared {
			return t.settleAll(out) // the connection failure is over
		}
		t.stats.Ignored++
		return out
	}
	t.stats.Observations++
	t.net = net
	for i := range t.spaces {
		e := &t.spaces[i]
		e.m.observed, e.m.clean = true, false
		out = t.settle(e, out)
	}
	return out
}

// connectFailed records why the account cannot connect: a permanent reason
// shows as Error on every loaded space until a connection succeeds.
func (t *tracker) connectFailed(r Reason, msg string, out []Status) []Status {
	if t.localOnly || (r == t.netErr && msg == t.netMsg) {
		t.stats.Ignored++
		return out
	}
	t.stats.Observations++
	t.netErr, t.netMsg = r, msg
	for i := range t.spaces {
		t.spaces[i].m.observed = true
	}
	return t.settleAll(out)
}

// settleAll re-derives every loaded space's status.
func (t *tracker) settleAll(out []Status) []Status {
	for i := range t.spaces {
		out = t.settle(&t.spaces[i], out)
	}
	return out
}

// pendingObjects records the count of objects with unacknowledged local
// changes; a positive count needs a fresh cycle before Synced.
func (t *tracker) pendingObjects(id crypto.SpaceID, n int, out []Status) []Status {
	e := t.lookup(id)
	if e == nil {
		return out
	}
	n = max(n, 0)
	e.m.observed, e.m.pending = true, n
	if n > 0 {
		e.m.clean = false
	}
	return t.settle(e, out)
}

// pendingFiles records the count of files waiting for upload.
func (t *tracker) pendingFiles(id crypto.SpaceID, n int, out []Status) []Status {
	e := t.lookup(id)
	if e == nil {
		return out
	}
	e.m.observed, e.m.files = true, max(n, 0)
	return t.settle(e, out)
}

// cycleDone records a sync cycle that finished with nothing left to push or
// fetch. It makes the space clean only if it is online and nothing is
// pending; a cycle reported while offline (it used a connection that has
// since dropped, or the connect report is late) does not count.
func (t *tracker) cycleDone(id crypto.SpaceID, at time.Time, out []Status) []Status {
	e := t.lookup(id)
	if e == nil {
		return out
	}
	e.m.observed, e.m.cycleErr, e.m.cycleMsg = true, ReasonNone, ""
	if t.net == NetworkOnline && e.m.pending == 0 {
		e.m.clean = true
		if at.After(e.m.confirmed) {
			e.m.confirmed = at
		}
	}
	return t.settle(e, out)
}

// cycleFailed records a failed cycle: ReasonNone is transient (the engine
// retries; a permanent error already shown stays), any other reason is
// shown as Error until a cycle finishes.
func (t *tracker) cycleFailed(id crypto.SpaceID, r Reason, msg string, out []Status) []Status {
	e := t.lookup(id)
	if e == nil {
		return out
	}
	e.m.observed, e.m.clean = true, false
	if r != ReasonNone {
		e.m.cycleErr, e.m.cycleMsg = r, msg
	}
	return t.settle(e, out)
}

// nodeStatus records the node's status of the space: a deletion (pending or
// done) drops it without an event; the rest is not a sync status.
func (t *tracker) nodeStatus(id crypto.SpaceID, ns NodeState, out []Status) []Status {
	switch ns {
	case NodeDeleted, NodePendingDeletion:
		t.drop(id)
	default:
		if t.lookup(id) != nil {
			t.stats.SpacesTouched++ // looked at, nothing to change
		}
	}
	return out
}

// get returns a loaded space's current status.
func (t *tracker) get(id crypto.SpaceID) (Status, bool) {
	i, ok := t.index[id]
	if !ok {
		return Status{}, false
	}
	e := &t.spaces[i]
	return e.m.status(e.id, t.net, t.netErr, t.netMsg), true
}

// snapshot appends every loaded space's current status, sorted by id.
func (t *tracker) snapshot(out []Status) []Status {
	start := len(out)
	for i := range t.spaces {
		e := &t.spaces[i]
		out = append(out, e.m.status(e.id, t.net, t.netErr, t.netMsg))
	}
	slices.SortFunc(out[start:], func(a, b Status) int { return strings.Compare(string(a.Space), string(b.Space)) })
	return out
}
