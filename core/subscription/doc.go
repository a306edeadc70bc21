// Package subscription owns live queries (DESIGN §10 "Subscriptions"): a
// subscription is a query over one or more loaded spaces whose result is
// kept up to date and told to its owner as a stream of small messages.
//
// A subscription starts with a snapshot taken through the space index's
// QueryAt, which says which feed sequence number it reflects; the index's
// change feed (spaceindex Handle.Watch) is attached before the snapshot is
// read, batches that arrive meanwhile are buffered and applied on top (those
// at or below the snapshot's number are already in it), so no change is lost
// or applied twice. After that every committed index write — a local write,
// a change from another device, a sync status update — reaches every
// subscription the same way and becomes messages: records added to, removed
// from or moved within the requested window, details set, amended or unset
// (requested keys only), and counters.
//
// A subscription with a limit holds, per space, only the first matches its
// window needs plus a margin (and keeps each space's total exact from the
// previous and new state every change carries), so its memory follows the
// window, not the space; when removals leave too few held matches it reads
// that space again (the index query stops at the page). Without a limit it
// holds every match. Batches may reach a subscription after a snapshot that
// already holds them (the feed delivers after commit): it drops batches at
// or below the number its state reflects.
//
// The service covers loaded spaces only: the lifecycle pushes SpaceLoaded
// and SpaceUnloading into it; an unloading space's records leave every
// subscription with an explicit SpaceRemoved message. It never opens,
// loads or queries a space the lifecycle did not hand it, never blocks a
// writer (messages go to a non-blocking sink; the sink's owner bounds its
// queue and tells a lagging consumer to resync), and does no disk I/O while
// holding a lock other than the index's own snapshot read.
package subscription
