package files

import (
	"context"
	"sync"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// MemRemote is an in-memory Remote: the test double of the node's blob
// store, with scripted faults. Safe for concurrent use.
type MemRemote struct {
	mu    sync.Mutex // guards everything below
	blobs map[crypto.SpaceID]map[string][]byte
	limit int64 // per-space quota in bytes (0: none)
	calls Calls
	// Faults are consumed in order by the calls they name.
	putFaults, getFaults []error
	delFaults            []deleteFault
	// GetHook, when set, runs before every GetBlob (tests block on it).
	getHook func(ctx context.Context) error
}

// Calls counts the remote calls made.
type Calls struct{ Put, Get, Delete, DeletedIDs int }

// NewMemRemote returns an empty remote.
func NewMemRemote() *MemRemote {
	return &MemRemote{blobs: map[crypto.SpaceID]map[string][]byte{}}
}

// SetLimit sets the per-space quota (0: none).
func (r *MemRemote) SetLimit(n int64) { r.mu.Lock(); r.limit = n; r.mu.Unlock() }

// FailPut makes the next len(errs) PutBlob calls fail with errs in order.
func (r *MemRemote) FailPut(errs ...error) {
	r.mu.Lock()
	r.putFaults = append(r.putFaults, errs...)
	r.mu.Unlock()
}

// FailGet makes the next GetBlob calls fail.
func (r *MemRemote) FailGet(errs ...error) {
	r.mu.Lock()
	r.getFaults = append(r.getFaults, errs...)
	r.mu.Unlock()
}

type deleteFault struct {
	at  int
	err error
}

// FailDelete makes the next DeleteBlobs calls fail at their first id.
func (r *MemRemote) FailDelete(errs ...error) {
	for _, err := range errs {
		r.FailDeleteAt(0, err)
	}
}

// FailDeleteAt makes the next DeleteBlobs call delete at ids and fail on
// the next one (a failing child in a batch).
func (r *MemRemote) FailDeleteAt(at int, err error) {
	r.mu.Lock()
	r.delFaults = append(r.delFaults, deleteFault{at: at, err: err})
	r.mu.Unlock()
}

// OnGet sets a hook run before every GetBlob, outside the lock.
func (r *MemRemote) OnGet(fn func(ctx context.Context) error) {
	r.mu.Lock()
	r.getHook = fn
	r.mu.Unlock()
}

// Calls returns the call counts so far.
func (r *MemRemote) Calls() Calls { r.mu.Lock(); defer r.mu.Unlock(); return r.calls }

// IDs returns the ids a space holds.
func (r *MemRemote) IDs(sp crypto.SpaceID) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.blobs[sp]))
	for id := range r.blobs[sp] {
		out = append(out, id)
	}
	return out
}

func pop(faults *[]error) error {
	if len(*faults) == 0 {
		return nil
	}
	err := (*faults)[0]
	*faults = (*faults)[1:]
	return err
}

// PutBlob implements Remote.
func (r *MemRemote) PutBlob(ctx context.Context, sp crypto.SpaceID, id string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls.Put++
	if err := pop(&r.putFaults); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return errkind.E("blob.put", errkind.Transient, err)
	}
	if BlobID(data) != id {
		return errkind.Errorf("blob.put", errkind.Invalid, "blob %s: content does not match its id", id)
	}
	space := r.blobs[sp]
	if space == nil {
		space = map[string][]byte{}
		r.blobs[sp] = space
	}
	if _, ok := space[id]; ok {
		return nil
	}
	if r.limit > 0 {
		var used int64
		for _, b := range space {
			used += int64(len(b))
		}
		if used+int64(len(data)) > r.limit {
			return errkind.Errorf("blob.put", errkind.Quota, "space %s uses %d of %d bytes", sp, used, r.limit)
		}
	}
	space[id] = append([]byte(nil), data...)
	return nil
}

// GetBlob implements Remote.
func (r *MemRemote) GetBlob(ctx context.Context, sp crypto.SpaceID, id string) ([]byte, error) {
	r.mu.Lock()
	hook := r.getHook
	r.mu.Unlock()
	if hook != nil {
		if err := hook(ctx); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls.Get++
	if err := pop(&r.getFaults); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, errkind.E("blob.get", errkind.Transient, err)
	}
	b, ok := r.blobs[sp][id]
	if !ok {
		return nil, errkind.Errorf("blob.get", errkind.NotFound, "no blob %s", id)
	}
	return append([]byte(nil), b...), nil
}

// DeleteBlobs implements Remote.
func (r *MemRemote) DeleteBlobs(ctx context.Context, sp crypto.SpaceID, ids []string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls.Delete++
	fault := deleteFault{at: -1}
	if len(r.delFaults) > 0 {
		fault, r.delFaults = r.delFaults[0], r.delFaults[1:]
	}
	for i, id := range ids {
		if i == fault.at {
			return i, fault.err
		}
		if err := ctx.Err(); err != nil {
			return i, errkind.E("blob.delete", errkind.Transient, err)
		}
		delete(r.blobs[sp], id)
		r.calls.DeletedIDs++
	}
	return len(ids), nil
}
