package spaceindex

import "errors"

// Errors returned by the package; test with errors.Is, since most are
// returned wrapped with context.
var (
	// ErrSpaceNotLoaded: the space's index is not open (never opened in this
	// process, or closed). Reads return empty results with it; writes fail.
	ErrSpaceNotLoaded = errors.New("spaceindex: space not loaded")
	// ErrSpaceRemoved: the space's index was deleted. Terminal for that
	// incarnation: the handle never forwards again.
	ErrSpaceRemoved = errors.New("spaceindex: space removed")
	// ErrSchemaMismatch: the index on disk was written with another schema
	// version or configuration. The caller rebuilds it.
	ErrSchemaMismatch = errors.New("spaceindex: index schema mismatch")
	// ErrCorrupt: the index on disk cannot be opened or decoded. The caller
	// rebuilds it.
	ErrCorrupt = errors.New("spaceindex: index corrupt")
	// ErrNotFound: no record with that id.
	ErrNotFound = errors.New("spaceindex: record not found")
	// ErrInvalidRecord: a record cannot be stored (empty or too long id, or
	// too large for one transaction).
	ErrInvalidRecord = errors.New("spaceindex: invalid record")
	// ErrInvalidQuery: a malformed query (negative limit or offset, a leaf
	// without a key, an unknown operator, filters nested too deep).
	ErrInvalidQuery = errors.New("spaceindex: invalid query")
	// ErrRegistryClosed: the registry was closed.
	ErrRegistryClosed = errors.New("spaceindex: registry closed")
	// ErrIncarnationMismatch: Open asked for another incarnation than the one
	// currently open for the space.
	ErrIncarnationMismatch = errors.New("spaceindex: another incarnation is open")
)
