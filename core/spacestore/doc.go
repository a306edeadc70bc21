// Package spacestore is the device's durable store of one space
// (spaces/<spaceId>/<incarnation>/store, badger): the signed header, the
// accepted ACL records, every object's signed changes and heads, and the
// sync bookkeeping (heads the node acknowledged, objects waiting to be pushed).
// It is the source of truth the index is derived from.
//
// It stores bytes exactly as signed and never re-encodes them; it validates
// nothing (callers verify before writing). The only in-memory state beside
// the database handle is the head-sync digest (persisted with every write),
// so one writer (the space's actor) can drive it without locks, and an idle
// head sync reads nothing. The database is dormant while unused
// (badgerdb.Dormant). Every multi-key write is one transaction. All keys are
// in keys.go.
package spacestore
