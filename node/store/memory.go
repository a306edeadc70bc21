package store

import (
	"context"
	"slices"
	"sync"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Memory is the in-memory Store: the test double of the node's storage. Its methods are
// safe for concurrent use; mu is held only over map operations.
type Memory struct {
	mu     sync.Mutex // guards spaces, index, usage, closed
	spaces map[crypto.SpaceID]*memSpace
	index  map[crypto.PubKey]map[crypto.SpaceID]struct{}
	usage  map[crypto.PubKey]*Usage // by owner
	closed bool
}

type memSpace struct {
	header  []byte
	status  Status
	acl     [][]byte // by seq-1
	objects map[crypto.ObjectID]*memObject
	blobs   map[string][]byte // by blob id; nil until the first put
	used    int64             // bytes in blobs
	changes int64             // bytes of changes
	owner   *Usage            // the owner's counters; nil for a space stored without one
}

type memObject struct {
	heads   []crypto.ChangeID
	changes []Change
	ids     map[crypto.ChangeID]struct{}
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{spaces: map[crypto.SpaceID]*memSpace{}, index: map[crypto.PubKey]map[crypto.SpaceID]struct{}{},
		usage: map[crypto.PubKey]*Usage{}}
}

var _ Store = (*Memory)(nil)

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func (m *Memory) checkLocked(ctx context.Context) error {
	if m.closed {
		return errClosed
	}
	return ctx.Err()
}

func (m *Memory) indexLocked(id crypto.SpaceID, members []crypto.PubKey) {
	for _, k := range members {
		s := m.index[k]
		if s == nil {
			s = map[crypto.SpaceID]struct{}{}
			m.index[k] = s
		}
		s[id] = struct{}{}
	}
}

// CreateSpace implements Spaces.
func (m *Memory) CreateSpace(ctx context.Context, id crypto.SpaceID, header, root []byte, members []crypto.PubKey, owner crypto.PubKey, lim Limits) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked(ctx); err != nil {
		return err
	}
	if _, ok := m.spaces[id]; ok {
		return ErrExists
	}
	u := m.usageLocked(owner)
	if err := checkQuota(QuotaSpaces, u.Spaces, 1, lim.Spaces); err != nil {
		return err
	}
	u.Spaces++
	m.spaces[id] = &memSpace{header: clone(header), acl: [][]byte{clone(root)}, objects: map[crypto.ObjectID]*memObject{},
		status: Status{Code: syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK}, owner: u}
	m.indexLocked(id, members)
	return nil
}

// usageLocked returns owner's counters, made on first use.
func (m *Memory) usageLocked(owner crypto.PubKey) *Usage {
	u := m.usage[owner]
	if u == nil {
		u = &Usage{}
		m.usage[owner] = u
	}
	return u
}

// Usage implements Quotas.
func (m *Memory) Usage(ctx context.Context, owner crypto.PubKey) (Usage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked(ctx); err != nil {
		return Usage{}, err
	}
	if u := m.usage[owner]; u != nil {
		return *u, nil
	}
	return Usage{}, nil
}

// SetOwner implements Quotas.
func (m *Memory) SetOwner(ctx context.Context, id crypto.SpaceID, owner crypto.PubKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil || s.owner != nil {
		return err
	}
	s.owner = m.usageLocked(owner)
	s.owner.ChangeBytes += s.changes
	s.owner.BlobBytes += s.used
	if s.header != nil {
		s.owner.Spaces++
	}
	return nil
}

// checkOwner is checkQuota for an owner's limit: a space without an owner counts against
// nobody.
func (s *memSpace) checkOwner(k QuotaKind, used, size, limit int64) error {
	if s.owner == nil {
		return nil
	}
	return checkQuota(k, used, size, limit)
}

// ownerOf returns the counters a space is charged to (a throwaway for a space without an
// owner, so callers need not check).
func (s *memSpace) ownerOf() *Usage {
	if s.owner == nil {
		return &Usage{}
	}
	return s.owner
}

func (m *Memory) spaceLocked(ctx context.Context, id crypto.SpaceID) (*memSpace, error) {
	if err := m.checkLocked(ctx); err != nil {
		return nil, err
	}
	s, ok := m.spaces[id]
	if !ok {
		return nil, ErrNotFound
	}
	return s, nil
}

// Header implements Spaces.
func (m *Memory) Header(ctx context.Context, id crypto.SpaceID) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.header == nil {
		return nil, ErrNotFound
	}
	return clone(s.header), nil
}

// Status implements Spaces.
func (m *Memory) Status(ctx context.Context, id crypto.SpaceID) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return Status{}, err
	}
	return s.status, nil
}

// SwapStatus implements Spaces.
func (m *Memory) SwapStatus(ctx context.Context, id crypto.SpaceID, old, new Status) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return err
	}
	if s.status != old {
		return ErrStale
	}
	s.status = new
	return nil
}

// Statuses implements Spaces.
func (m *Memory) Statuses(ctx context.Context, fn func(crypto.SpaceID, Status) bool) error {
	m.mu.Lock()
	if err := m.checkLocked(ctx); err != nil {
		m.mu.Unlock()
		return err
	}
	type pair struct {
		id crypto.SpaceID
		st Status
	}
	all := make([]pair, 0, len(m.spaces))
	for id, s := range m.spaces {
		all = append(all, pair{id, s.status})
	}
	m.mu.Unlock()
	slices.SortFunc(all, func(a, b pair) int { return cmp(string(a.id), string(b.id)) })
	for _, p := range all {
		if !fn(p.id, p.st) {
			break
		}
	}
	return nil
}

func cmp(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Purge implements Spaces.
func (m *Memory) Purge(ctx context.Context, id crypto.SpaceID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err == ErrNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if s.header != nil {
		u := s.ownerOf()
		u.Spaces--
		u.ChangeBytes -= s.changes
		u.BlobBytes -= s.used
	}
	s.header, s.acl, s.objects = nil, nil, map[crypto.ObjectID]*memObject{}
	s.blobs, s.used, s.changes = nil, 0, 0
	return nil
}

// AppendACL implements ACL.
func (m *Memory) AppendACL(ctx context.Context, id crypto.SpaceID, seq uint64, accepted []byte, members []crypto.PubKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return err
	}
	if uint64(len(s.acl)) != seq-1 || seq == 0 {
		return ErrStale
	}
	s.acl = append(s.acl, clone(accepted))
	m.indexLocked(id, members)
	return nil
}

// ACL implements ACL.
func (m *Memory) ACL(ctx context.Context, id crypto.SpaceID, after uint64, fn func(uint64, []byte) bool) error {
	m.mu.Lock()
	s, err := m.spaceLocked(ctx, id)
	var recs [][]byte
	if err == nil && after < uint64(len(s.acl)) {
		recs = slices.Clone(s.acl[after:])
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	for i, r := range recs {
		if !fn(after+uint64(i)+1, clone(r)) {
			break
		}
	}
	return nil
}

// PutChanges implements Changes.
func (m *Memory) PutChanges(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, old, heads []crypto.ChangeID, cs []Change, lim Limits) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return err
	}
	if s.status.Code != syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK {
		return ErrNotLive
	}
	o := s.objects[obj]
	var cur []crypto.ChangeID
	if o != nil {
		cur = o.heads
	}
	if !equalHeads(cur, old) {
		return ErrStale
	}
	var size int64
	fresh := map[crypto.ChangeID]bool{}
	for _, c := range cs {
		if _, dup := o.getID(c.ID); !dup && !fresh[c.ID] {
			fresh[c.ID] = true
			size += int64(len(c.Raw))
		}
	}
	u := s.ownerOf()
	if err := s.checkOwner(QuotaChanges, u.ChangeBytes, size, lim.ChangeBytes); err != nil {
		return err
	}
	if o == nil {
		o = &memObject{ids: map[crypto.ChangeID]struct{}{}}
		s.objects[obj] = o
	}
	for _, c := range cs {
		if _, dup := o.ids[c.ID]; dup {
			continue
		}
		o.ids[c.ID] = struct{}{}
		o.changes = append(o.changes, Change{ID: c.ID, Raw: clone(c.Raw)})
	}
	o.heads = slices.Clone(heads)
	s.changes += size
	u.ChangeBytes += size
	return nil
}

// getID reports whether o (nil: a new object) holds change c.
func (o *memObject) getID(c crypto.ChangeID) (struct{}, bool) {
	if o == nil {
		return struct{}{}, false
	}
	v, ok := o.ids[c]
	return v, ok
}

// Heads implements Changes.
func (m *Memory) Heads(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID) ([]crypto.ChangeID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return nil, err
	}
	if o := s.objects[obj]; o != nil {
		return slices.Clone(o.heads), nil
	}
	return nil, nil
}

// HasChanges implements Changes.
func (m *Memory) HasChanges(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, ids []crypto.ChangeID) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.spaceLocked(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(ids))
	if o := s.objects[obj]; o != nil {
		for i, c := range ids {
			_, out[i] = o.ids[c]
		}
	}
	return out, nil
}

// Changes implements Changes.
func (m *Memory) Changes(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, fn func(Change) bool) error {
	return m.ChangesAfter(ctx, id, obj, 0, fn)
}

// ChangesAfter implements Changes.
func (m *Memory) ChangesAfter(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, after uint64, fn func(Change) bool) error {
	m.mu.Lock()
	s, err := m.spaceLocked(ctx, id)
	var cs []Change
	if err == nil {
		if o := s.objects[obj]; o != nil && after < uint64(len(o.changes)) {
			cs = slices.Clone(o.changes[after:])
		}
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	for i, c := range cs {
		if !fn(Change{ID: c.ID, Raw: clone(c.Raw), Seq: after + uint64(i) + 1}) {
			break
		}
	}
	return nil
}

// Objects implements Changes.
func (m *Memory) Objects(ctx context.Context, id crypto.SpaceID, fn func(crypto.ObjectID, []crypto.ChangeID) bool) error {
	m.mu.Lock()
	s, err := m.spaceLocked(ctx, id)
	type pair struct {
		id    crypto.ObjectID
		heads []crypto.ChangeID
	}
	var all []pair
	if err == nil {
		for oid, o := range s.objects {
			all = append(all, pair{oid, slices.Clone(o.heads)})
		}
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b pair) int { return cmp(string(a.id), string(b.id)) })
	for _, p := range all {
		if !fn(p.id, p.heads) {
			break
		}
	}
	return nil
}

// SpacesOf implements Index.
func (m *Memory) SpacesOf(ctx context.Context, who crypto.PubKey) ([]crypto.SpaceID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkLocked(ctx); err != nil {
		return nil, err
	}
	var out []crypto.SpaceID
	for id := range m.index[who] {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}

// Close implements Store. It is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
