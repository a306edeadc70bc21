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
// The service covers loaded spaces only: the lifecycle pushes SpaceLoaded
// and SpaceUnloading into it; an unloading space's records leave every
// subscription with an explicit SpaceRemoved message. It never opens,
// loads or queries a space the lifecycle did not hand it, never blocks a
// writer (messages go to a non-blocking sink; the sink's owner bounds its
// queue and tells a lagging consumer to resync), and does no disk I/O while
// holding a lock other than the index's own snapshot read.
package subscription
