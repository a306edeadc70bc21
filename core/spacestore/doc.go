// Package spacestore is the device's durable store of one space
// (spaces/<spaceId>/<incarnation>/store, badger): the signed header, the
// accepted ACL records, every object's signed changes and heads, and the
// sync bookkeeping (heads the node acknowledged, objects waiting to be pushed).
// It is the source of truth the index is derived from.
//
// It stores bytes exactly as signed and never re-encodes them; it validates
// nothing (callers verify before writing) and holds no in-memory state beyond
// the database handle, so one writer (the space's actor) can drive it without
// locks. Every multi-key write is one transaction. All keys are in keys.go.
package spacestore
