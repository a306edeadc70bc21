package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Capabilities of a store that several nodes use at once (DESIGN §5: many stateless nodes
// on one shared database). A node finds them by type assertion; the embedded stores
// (memory, badger) have none, since one node owns them.

// ACLHead reads the last stored ACL sequence number of a space (ErrNotFound for an unknown
// space). A node on a shared store re-checks its cached ACL against it before every
// membership decision, so a Remove another node accepted is never missed.
type ACLHead interface {
	LastACL(ctx context.Context, id crypto.SpaceID) (uint64, error)
}

// Feed tells a node of the writes other nodes made on the same store.
type Feed interface {
	// Watch calls fn for every write another store instance commits, in commit order,
	// until ctx ends; it returns ctx's error. fn is called from one goroutine, never
	// concurrently. Watch reconnects by itself when its link to the store drops and then
	// calls fn with an EventReset: writes made while it was gone were not told (the
	// caller drops caches and makes its devices resync). The first event is always an
	// EventReset, once Watch listens.
	Watch(ctx context.Context, fn func(Event)) error
}

// Leaser hands out named leases among the nodes of a shared store (the deletion janitor
// runs on one node at a time).
type Leaser interface {
	// Lease takes or renews the lease name for holder for ttl, by the store's clock; it
	// reports whether holder has it now. Another holder's lease is taken only once it
	// expired.
	Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
}

// EventKind says what an Event reports.
type EventKind byte

const (
	// EventReset: the feed reconnected; writes may have gone untold.
	EventReset EventKind = 'r'
	// EventACL: ACL record Seq of Space was stored (CreateSpace stores record 1).
	EventACL EventKind = 'a'
	// EventChanges: Object's changes numbered Prev+1..Seq in arrival order were stored.
	EventChanges EventKind = 'c'
	// EventStatus: Space's status changed.
	EventStatus EventKind = 's'
)

// Event is one write told through a Feed. Encode/ParseEvent are its text form (a
// PostgreSQL NOTIFY payload: space id, kind and sequence number; the receiver reads the
// data itself).
type Event struct {
	Kind   EventKind
	Origin string // the store instance that wrote it
	Space  crypto.SpaceID
	Seq    uint64
	Object crypto.ObjectID // EventChanges only
	Prev   uint64          // EventChanges only
}

// eventVersion is the first field of every encoded event.
const eventVersion = "1"

// maxOrigin bounds an origin's length (it is a short random hex id).
const maxOrigin = 64

// Encode returns the event's text form: fields separated by one space,
// "1 KIND ORIGIN SPACE SEQ" and, for changes, " OBJECT PREV".
func (e Event) Encode() string {
	s := fmt.Sprintf("%s %c %s %s %d", eventVersion, e.Kind, e.Origin, e.Space, e.Seq)
	if e.Kind == EventChanges {
		s += fmt.Sprintf(" %s %d", e.Object, e.Prev)
	}
	return s
}

// ParseEvent decodes Encode's form; anything else is an errkind.Invalid error.
func ParseEvent(s string) (Event, error) {
	bad := func(why string) (Event, error) {
		return Event{}, errkind.Errorf("store.event", errkind.Invalid, "event %.120q: %s", s, why)
	}
	f := strings.Split(s, " ")
	if len(f) < 5 || f[0] != eventVersion || len(f[1]) != 1 {
		return bad("not a version 1 event")
	}
	e := Event{Kind: EventKind(f[1][0]), Origin: f[2]}
	if e.Origin == "" || len(e.Origin) > maxOrigin {
		return bad("origin")
	}
	id, err := crypto.ParseSpaceID(f[3])
	if err != nil {
		return bad("space id")
	}
	e.Space = id
	if e.Seq, err = strconv.ParseUint(f[4], 10, 64); err != nil {
		return bad("sequence number")
	}
	switch e.Kind {
	case EventACL, EventStatus:
		if len(f) != 5 {
			return bad("extra fields")
		}
		if e.Kind == EventACL && e.Seq == 0 {
			return bad("ACL sequence numbers start at 1")
		}
	case EventChanges:
		if len(f) != 7 {
			return bad("a changes event names its object and previous number")
		}
		if e.Object, err = crypto.ParseObjectID(f[5]); err != nil {
			return bad("object id")
		}
		if e.Prev, err = strconv.ParseUint(f[6], 10, 64); err != nil || e.Prev >= e.Seq {
			return bad("previous number")
		}
	default:
		return bad("unknown kind")
	}
	return e, nil
}
