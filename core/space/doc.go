// Package space owns the account's spaces on this device: the registry of
// known spaces and their status dimensions (in the account database), and,
// per loaded space, one actor goroutine that owns the space's in-memory core
// (ACL state, read keys, object change trees) and performs its writes
// serially: build and sign a change, persist it to the space store, then
// update the index. Readers (get, query) go to the store and index directly.
//
// Spaces load lazily, on first use; loading opens the space's store and its
// index through the spaceindex registry, which is the only path that creates
// index files.
//
// It never holds a lock across disk or network I/O (the actor owns its state
// instead), never trusts an id that came with data (changes and records are
// verified on load), and never lets a caller's context cut a write short once
// the actor has started it.
package space
