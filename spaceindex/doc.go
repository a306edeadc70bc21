// Package spaceindex is Hearth's per-space query index: one badger v4
// database per space incarnation, owned by a Registry and reached only
// through small proxy Handles.
//
// # What it owns
//
//   - Every index database of an account, at
//     <account>/spaces/<spaceId>/<incarnation>/index/ (layout in keys.go). The
//     index is derived data: the space's store is the source of truth, so
//     writes are not synced and a damaged or outdated index is deleted and
//     rebuilt rather than repaired.
//   - Records: object id -> typed details (Value: null, bool, number, string,
//     list), heads hash, sync status (Record).
//   - Queries (Query): filters eq, ne, gt, gte, lt, lte, in, not-in, exists,
//     empty, contains and full text, nested with And/Or; multi-key sorts with
//     missing values last; limit/offset; selected keys; a total count, exact
//     when asked.
//
// # What it must never do
//
//   - Create an index anywhere but in Registry.Open. Handles, queries, late
//     callbacks and background work never create files; a handle of a closed
//     or removed space answers with an empty result and ErrSpaceNotLoaded or
//     ErrSpaceRemoved. Removed is terminal for an incarnation: re-joining a
//     space opens a new incarnation (a fresh index and a fresh entry).
//   - Know about the space lifecycle. The lifecycle pushes into the registry
//     (Open on load, Close on unload, Delete on offload/removal) and the
//     package never calls back. It never scans the spaces directory: a
//     registry over 1,000 spaces on disk opens nothing until told to.
//   - Hold a registry-wide lock during disk I/O. The registry mutex guards
//     only its map; each space has its own mutex (never held across I/O: an
//     entry is marked busy instead) and a count of in-flight calls, so opening
//     or deleting space A never blocks queries on space B.
//
// # Lifecycle
//
// Per space the registry keeps a state: closed (initial), open or removed.
// Close and Delete first switch the state, so new calls fail at once, then
// wait for in-flight calls, then close the database (Delete then removes
// index/ and the incarnation and space directories if they became empty:
// the space's store lives beside the index). Registry.CloseAll closes every
// index and stops the registry's only goroutine (value-log GC).
//
// Open fails with ErrSchemaMismatch when the index was written with another
// schema version or Config, and with ErrCorrupt when badger cannot open it
// or its data cannot be decoded. Either way the caller deletes it (Delete)
// and rebuilds from the store. The index directory holds CURRENT, naming the
// generation directory in use: a rebuild builds a new generation beside the
// old one (Registry.NewGeneration) and switches by rewriting CURRENT
// (swap.go); an open deletes generations CURRENT does not name. The index
// keeps a watermark, the store sequence number it reflects (watermark.go),
// and can write a checksummed checkpoint of itself (checkpoint.go) from
// which a rebuild restores before applying the store's later changes.
//
// # Values and order
//
// Values have one total order, shared by Compare and by the byte encoding
// used in index keys (AppendValue): Null < Bool < Number < String < List;
// false < true; numbers numerically (-0 = +0, NaN after +Inf); strings by
// UTF-8 bytes; lists element by element, a prefix first. Range operators
// (gt, gte, lt, lte) only match values of the operand's kind.
//
// # Query model
//
// A Query compiles (Compile) to an in-memory matcher and comparator
// (Compiled.Match, Compiled.Compare, Compiled.Apply) and, inside the index,
// to a storage plan (plan.go, which states the cost model): point lookups
// for id filters; posting-list intersection for full text; for queries
// without a sort (id order), a leapfrog intersection of the equality ranges
// of indexed keys, a membership or range on an indexed key, or the records
// in id order; for sorted ones, an ordered scan of the composite (type,
// sort key) index for "type = X order by K" (composite entries carry the
// record, so this plan reads no other key), the records of a small
// equality range sorted in memory, an ordered scan of the sort key's index,
// every composite entry of one type, or a full scan, the last three keeping
// only the best Offset+Limit. A plan that reads in the result's order stops
// once it has the page and one more match. Every plan re-checks candidates
// with the compiled matcher, so Compiled.Apply is the reference semantics
// and live subscriptions can use Compile to decide how a changed record
// affects a result; a property test checks that plans and Apply agree.
//
// Full text: every string detail of a record but its type (each string
// value, and each string inside a list value, of every other key), or only
// the keys a space
// declares in Config.FullTextKeys, is split into tokens (runs of letters and
// digits, lower-cased, accents removed, at most MaxRecordTokens distinct
// tokens per record); a query matches when each of its tokens is a prefix
// of some record token.
//
// Totals are exact only when asked (Query.ExactTotal) or free: per-type
// counters when the filter is exactly "type = X", the record count when
// there is no filter, the candidate count of a plan that read every
// candidate anyway. Otherwise Result.Total is a lower bound and
// Result.HasMore says whether matches follow the page; an exact total can
// cost a pass over every candidate (counted from index keys alone when the
// equality ranges are the whole filter).
//
// # Writes
//
// Put upserts records: each record's record key, secondary, composite and
// full-text entries and the counters change in one badger transaction;
// large batches are split at record boundaries to stay under the
// memtable's transaction limit, and commits are pipelined. Writers of one
// index are serialised; readers are not blocked. Each committed write is
// told to the change feed's watchers (feed.go) after the write lock is
// released, in commit order, before the write returns.
package spaceindex
