package syncstatus

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// A tiny command language for the tracker's inputs, one command a line:
//
//	load a | unload a | remove a | conn on | conn off
//	pending a 3 | files a 1 | done a 10 (at = Unix(10))
//	fail a storageLimit [detail words] | connfail nodeKeyMismatch [detail words]
//	node a ok|pendingDeletion|deleted|notFound

var reasons = func() map[string]Reason {
	m := map[string]Reason{}
	for r := ReasonNone; r <= ReasonOther; r++ {
		m[r.String()] = r
	}
	return m
}()

var nodeStates = map[string]NodeState{"ok": NodeOK, "pendingDeletion": NodePendingDeletion, "deleted": NodeDeleted, "notFound": NodeNotFound}

// fataler is what apply needs of testing.TB and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// apply runs one command against the Service.
func apply(t fataler, s *Service, cmd string) {
	t.Helper()
	f := strings.Fields(cmd)
	arg := func(i int) string {
		if i >= len(f) {
			t.Fatalf("%q: missing argument %d", cmd, i)
		}
		return f[i]
	}
	num := func(i int) int {
		n, err := strconv.Atoi(arg(i))
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		return n
	}
	reason := func(i int) Reason {
		r, ok := reasons[arg(i)]
		if !ok {
			t.Fatalf("%q: unknown reason", cmd)
		}
		return r
	}
	detail := func(i int) string {
		if i >= len(f) {
			return ""
		}
		return strings.Join(f[i:], " ")
	}
	if f[0] == "connfail" {
		s.ConnectFailed(reason(1), detail(2))
		return
	}
	id := crypto.SpaceID(arg(1))
	switch f[0] {
	case "load":
		s.Loaded(id)
	case "unload":
		s.Unloaded(id)
	case "remove":
		s.Removed(id)
	case "conn":
		s.Connected(arg(1) == "on")
	case "pending":
		s.Pending(id, num(2))
	case "files":
		s.FilesPending(id, num(2))
	case "done":
		s.CycleDone(id, at(num(2)))
	case "fail":
		s.CycleFailed(id, reason(2), detail(3))
	case "node":
		ns, ok := nodeStates[arg(2)]
		if !ok {
			t.Fatalf("%q: unknown node state", cmd)
		}
		s.NodeStatus(id, ns)
	default:
		t.Fatalf("unknown command %q", cmd)
	}
}

func at(sec int) time.Time { return time.Unix(int64(sec), 0).UTC() }

// show prints a status compactly: "a synced objs=0 files=0 online @10";
// the reason follows the state after a colon, @ is LastSynced (omitted
// when zero).
func show(st Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", st.Space, st.State)
	if st.Reason != ReasonNone {
		fmt.Fprintf(&b, ":%s", st.Reason)
	}
	if st.Detail != "" {
		fmt.Fprintf(&b, "(%s)", st.Detail)
	}
	fmt.Fprintf(&b, " objs=%d files=%d %s", st.SyncingObjects, st.PendingFiles, st.Network)
	if !st.LastSynced.IsZero() {
		fmt.Fprintf(&b, " @%d", st.LastSynced.Unix())
	}
	return b.String()
}

// recorder collects events from a sink.
type recorder struct{ got []string }

func (r *recorder) sink(st Status) { r.got = append(r.got, show(st)) }

func (r *recorder) take() []string {
	got := r.got
	r.got = nil
	return got
}
