package node

import (
	"context"
	"sync"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// ownStore keeps the statuses of the spaces of a store that this node alone uses
// (memory, badger) in memory: every membership decision reads a space's status, and an
// idle device's head sync must not read the store (its database sleeps when unused). Every
// status change goes through this node, so the cache is exact. A shared store (other nodes
// change statuses) is used as is.
type ownStore struct {
	store.Store

	mu       sync.Mutex // guards statuses and gens; never held across store calls
	statuses map[crypto.SpaceID]store.Status
	// gens counts the status writes of each space: a read that overlapped a write (its
	// generation moved) does not cache what it read.
	gens map[crypto.SpaceID]uint64
	// due is when each space with deletion work has it due (unix ms: its DeletionAt while
	// pending, 0 once deleted and not purged); dueKnown once it was read from the store.
	// The janitor sleeps until the earliest instead of scanning the store on a timer.
	due      map[crypto.SpaceID]int64
	dueKnown bool
	// changed is told (non-blocking, capacity 1) when a status write may have brought
	// deletion work forward.
	changed chan struct{}
}

// cacheStatuses wraps st in an ownStore unless other nodes may share it (it has any of
// the shared-store capabilities; the wrapper would hide them, and the embedded stores have
// none).
func cacheStatuses(st store.Store) store.Store {
	switch st.(type) {
	case store.Feed, store.ACLHead, store.Leaser:
		return st
	}
	return &ownStore{Store: st, statuses: map[crypto.SpaceID]store.Status{}, gens: map[crypto.SpaceID]uint64{},
		due: map[crypto.SpaceID]int64{}, changed: make(chan struct{}, 1)}
}

func (o *ownStore) Status(ctx context.Context, id crypto.SpaceID) (store.Status, error) {
	o.mu.Lock()
	st, ok := o.statuses[id]
	gen := o.gens[id]
	o.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := o.Store.Status(ctx, id)
	if err == nil {
		o.mu.Lock()
		if o.gens[id] == gen {
			o.statuses[id] = st
		}
		o.mu.Unlock()
	}
	return st, err
}

// writing drops id's cached status around a write (before and after it).
func (o *ownStore) writing(id crypto.SpaceID) {
	o.mu.Lock()
	o.gens[id]++
	delete(o.statuses, id)
	o.mu.Unlock()
}

func (o *ownStore) SwapStatus(ctx context.Context, id crypto.SpaceID, old, new store.Status) error {
	o.writing(id)
	defer o.writing(id) // the next read caches what the store holds then
	err := o.Store.SwapStatus(ctx, id, old, new)
	if err == nil {
		o.mu.Lock()
		setDue(o.due, id, new)
		o.mu.Unlock()
		select {
		case o.changed <- struct{}{}:
		default:
		}
	}
	return err
}

// setDue records when st has deletion work due.
func setDue(due map[crypto.SpaceID]int64, id crypto.SpaceID, st store.Status) {
	switch {
	case st.Code == codePending:
		due[id] = st.DeletionAt
	case st.Code == codeDeleted && !st.Purged:
		due[id] = 0
	default:
		delete(due, id)
	}
}

// nextSweep returns when the earliest deletion work falls due (ok false: none), reading
// every status once, the first time.
func (o *ownStore) nextSweep(ctx context.Context) (at int64, ok bool, err error) {
	o.mu.Lock()
	known := o.dueKnown
	o.mu.Unlock()
	if !known {
		due := map[crypto.SpaceID]int64{}
		if err := o.Store.Statuses(ctx, func(id crypto.SpaceID, st store.Status) bool {
			setDue(due, id, st)
			return true
		}); err != nil {
			return 0, false, err
		}
		o.mu.Lock()
		for id, at := range o.due { // written meanwhile: newer than the scan
			due[id] = at
		}
		o.due, o.dueKnown = due, true
		o.mu.Unlock()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range o.due {
		if !ok || d < at {
			at, ok = d, true
		}
	}
	return at, ok, nil
}

func (o *ownStore) CreateSpace(ctx context.Context, id crypto.SpaceID, header, root []byte, members []crypto.PubKey, owner crypto.PubKey, lim store.Limits) error {
	o.writing(id)
	defer o.writing(id)
	return o.Store.CreateSpace(ctx, id, header, root, members, owner, lim)
}

func (o *ownStore) Purge(ctx context.Context, id crypto.SpaceID) error {
	o.writing(id)
	defer o.writing(id)
	return o.Store.Purge(ctx, id)
}
