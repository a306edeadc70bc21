// Package syncstatus tracks the space sync status of loaded spaces
// (DESIGN §9): Synced, Syncing, Offline, Error with a reason, Limited (a
// node quota refuses the space's writes: reason storageLimit or
// sessionLimit), and Unknown while loading; counters of syncing objects and files pending upload; the
// last synced time; the network. It emits an event when a space's visible
// status changes (deduplicated per space) and greets each new session with
// the status of every loaded space, once.
//
// # What it owns
//
//   - The status of loaded spaces, and only those. The lifecycle pushes
//     Loaded, Unloaded and Removed; the sync engine, the stores and the file
//     uploader push observations (Connected, Pending, FilesPending,
//     CycleDone, CycleFailed, NodeStatus). Time is an input (CycleDone's at).
//   - A thread-unsafe core (tracker: one pure machine value per loaded
//     space) and one driver (Service: a mutex, an ordered delivery queue and
//     the sessions). Statuses are delivered outside the lock, in order.
//
// # The rules
//
//   - Synced only when the account is online, no object has unacknowledged
//     local changes, no file waits for upload, and a sync cycle finished
//     (nothing to push, nothing known to fetch) since the last local change,
//     failure or connection change.
//   - Offline while the connection is down; Error or Limited (with its
//     reason) wins over everything; Unknown from Loaded until the first observation.
//   - An event only when the visible status changes. A newer confirmation
//     while already Synced (periodic head sync) refreshes LastSynced without
//     an event.
//
// # What it must never do
//
//   - Track a space that is not loaded: no entry, no timer, no goroutine, no
//     query and no event for unloaded, offloaded or never-loaded spaces. An
//     observation about one costs a map lookup and is dropped. The service
//     has no timer and no goroutine at all.
//   - Open or read an index or a store, or call back into the lifecycle: it
//     only receives what others push.
//   - Claim Synced while anything is unacknowledged, offline, or before a
//     cycle confirmed it.
//   - Report a space's removal or deletion as a sync status: the space is
//     dropped silently and the lifecycle's mode/status event tells clients.
package syncstatus
