package syncstatus

import (
	"strconv"
	"time"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// State is a loaded space's sync state. The zero value is Unknown: loaded,
// nothing observed yet.
type State uint8

// Space sync states.
const (
	Unknown State = iota
	Syncing
	Synced
	Offline
	Error
	// Limited: the node refuses this space's writes over a quota (storage: spaces,
	// changes or files; or sessions of the account). Like Error it stops sync until
	// something changes; Reason says which limit and Detail the numbers.
	Limited
)

// String returns the state's CLI word (CLI.md `hearth space status`).
func (s State) String() string {
	switch s {
	case Unknown:
		return "unknown"
	case Syncing:
		return "syncing"
	case Synced:
		return "synced"
	case Offline:
		return "offline"
	case Error:
		return "error"
	case Limited:
		return "limited"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// stateOf is the state a permanent failure's reason shows: Limited for a quota, Error
// otherwise.
func stateOf(r Reason) State {
	if r == ReasonStorageLimit || r == ReasonSessionLimit {
		return Limited
	}
	return Error
}

// Reason qualifies Error. ReasonNone everywhere else.
type Reason uint8

// Error reasons: failures that stop sync until something changes. Each has
// a CLI word (String) and the status carries a message for people (Detail).
const (
	ReasonNone Reason = iota
	// ReasonStorageLimit: the node refuses writes over a storage quota (the spaces,
	// changes or files the space's owner may keep there).
	ReasonStorageLimit
	// ReasonIncompatibleVersion: the node speaks a protocol this build does not.
	ReasonIncompatibleVersion
	// ReasonRemoved: the node refuses this member (the window before the
	// lifecycle processes the kick and unloads the space).
	ReasonRemoved
	// ReasonRejected: the node rejected changes or records of the space, or
	// sent records that fail their checks.
	ReasonRejected
	// ReasonNodeKey: the node's key is not the one this device pinned (a
	// different or impostor node): nothing is sent to it.
	ReasonNodeKey
	// ReasonNoReadKey: this member holds no key that opens the space's
	// current read key.
	ReasonNoReadKey
	// ReasonSessionLimit: the node refuses this device a session or a stream: the
	// account holds as many as it may there.
	ReasonSessionLimit
	// ReasonOther: a permanent failure with no reason of its own.
	ReasonOther
)

// String returns the reason's CLI word; ReasonNone is "none".
func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonStorageLimit:
		return "storageLimit"
	case ReasonIncompatibleVersion:
		return "incompatibleVersion"
	case ReasonRemoved:
		return "removed"
	case ReasonRejected:
		return "rejected"
	case ReasonNodeKey:
		return "nodeKeyMismatch"
	case ReasonNoReadKey:
		return "noReadKey"
	case ReasonSessionLimit:
		return "sessionLimit"
	case ReasonOther:
		return "other"
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Network is the account's connection to its node. The zero value is
// NetworkOffline: not connected until the caller reports it.
type Network uint8

// Network states.
const (
	NetworkOffline Network = iota
	NetworkOnline
	// NetworkLocalOnly: the account runs without a node (serve --local-only).
	NetworkLocalOnly
)

// String returns the network's CLI word.
func (n Network) String() string {
	switch n {
	case NetworkOffline:
		return "offline"
	case NetworkOnline:
		return "online"
	case NetworkLocalOnly:
		return "localOnly"
	}
	return "network(" + strconv.Itoa(int(n)) + ")"
}

// NodeState is what the node reports about a space (pb SpaceStatusCode).
type NodeState uint8

// Node states.
const (
	NodeOK NodeState = iota
	// NodePendingDeletion: the owner deleted the space; the node refuses
	// changes until it purges it. Like NodeDeleted, the tracker drops it
	// without an event: the lifecycle reports the deletion (a space status,
	// never a sync status, DESIGN §9) and offloads.
	NodePendingDeletion
	// NodeDeleted: the space is gone. The tracker drops it without an event.
	NodeDeleted
	// NodeNotFound: the node does not know the space (not registered yet, or
	// purged). Not a sync status: ignored; the lifecycle decides.
	NodeNotFound
)

// Status is a loaded space's sync status, as sent to sessions and shown by
// `hearth space status`.
type Status struct {
	Space crypto.SpaceID
	State State
	// Reason qualifies State == Error or Limited; ReasonNone otherwise.
	Reason Reason
	// Detail says what failed, for people, when State == Error or Limited.
	Detail string
	// SyncingObjects counts objects with local changes the node has not
	// acknowledged (the last count the caller reported).
	SyncingObjects int
	// PendingFiles counts files waiting for upload.
	PendingFiles int
	// LastSynced is when a sync cycle last found the space fully synced
	// (zero: never, in this load). While the space stays Synced, newer
	// confirmations update it without an event.
	LastSynced time.Time
	Network    Network
}

// sameVisible reports whether a and b show the same thing: every field
// equal, except that LastSynced is not compared while both are Synced — a
// periodic head sync that confirms "still synced" is not a change.
func sameVisible(a, b Status) bool {
	if a.Space != b.Space || a.State != b.State || a.Reason != b.Reason || a.Detail != b.Detail ||
		a.SyncingObjects != b.SyncingObjects || a.PendingFiles != b.PendingFiles || a.Network != b.Network {
		return false
	}
	return a.State == Synced || a.LastSynced.Equal(b.LastSynced)
}
