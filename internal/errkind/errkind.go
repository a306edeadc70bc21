// Package errkind gives Hearth's errors a few stable kinds that survive
// wrapping (errors.Is / errors.As), so that the edges — the command API, the
// gRPC bridge, the CLI — can map them to error codes without string matching.
//
// It owns only the kinds and the wrapper; it never maps kinds to wire codes
// (that happens at each edge) and never logs.
package errkind

import (
	"errors"
	"fmt"
)

// Kind is a stable class of failure.
type Kind int

// The kinds. Add rarely; never renumber (tests and edges switch on them).
const (
	Other           Kind = iota
	Invalid              // bad input from the caller
	NotFound             // the thing does not exist
	Exists               // the thing already exists
	Permission           // the caller may not do this
	Unauthenticated      // the caller did not prove who it is
	Locked               // another process or agent holds the resource
	Precondition         // the system is not in a state that allows this (e.g. no account selected)
	Transient            // try again later (network, busy)
	Corrupt              // data on disk or on the wire failed its checks
	Removed              // the resource was removed and cannot come back
	Quota                // a storage quota would be exceeded
	Busy                 // another agent is running the same kind of work: try again when it ends
	NoSpace              // the disk is full: nothing was written; free some space
)

var kindNames = [...]string{"other", "invalid", "not found", "exists", "permission denied",
	"unauthenticated", "locked", "precondition", "transient", "corrupt", "removed", "quota exceeded", "busy", "no space"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error with an operation and a kind.
type Error struct {
	Op   string // what was being done, e.g. "account.create"
	Kind Kind
	Err  error // the cause; may be nil
}

func (e *Error) Error() string {
	switch {
	case e.Err == nil:
		return e.Op + ": " + e.Kind.String()
	case e.Op == "":
		return e.Err.Error()
	default:
		return e.Op + ": " + e.Err.Error()
	}
}

func (e *Error) Unwrap() error { return e.Err }

// E wraps err with an operation and a kind.
func E(op string, kind Kind, err error) error { return &Error{Op: op, Kind: kind, Err: err} }

// Errorf makes a new error of the given kind.
func Errorf(op string, kind Kind, format string, args ...any) error {
	return &Error{Op: op, Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Of returns the kind of the outermost *Error in err's chain that has a kind
// other than Other, or Other.
func Of(err error) Kind {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return Other
		}
		if e.Kind != Other {
			return e.Kind
		}
		err = e.Err
	}
	return Other
}

// Message is err's text for people: the operation prefixes that *Error adds
// are dropped (the edge names the operation itself).
func Message(err error) string {
	var e *Error
	for errors.As(err, &e) && e.Err != nil {
		if err.Error() != e.Error() {
			break // err wraps e with text of its own: keep it whole
		}
		err = e.Err
	}
	if errors.As(err, &e) && e.Err == nil {
		return e.Kind.String()
	}
	return err.Error()
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return Of(err) == k }
