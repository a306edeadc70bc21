package node

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Fetch and FetchObjects answer what a device lacks of objects (issue 16.3:
// an object is never held in memory whole). An answer is built in pages of at
// most responseBudget bytes: a first pass over the object's changes keeps only
// their ids and parents (to tell which the device has), a page pass reads the
// changes to send and stops when the page is full; the next page starts where it
// stopped (store.Changes.ChangesAfter). Only the page is held while
// it is sent. A device asking with no heads (its first sync) skips the first
// pass. The work in progress is bounded by fetchGate: per session, so one
// device's parallel fetches queue behind each other, and on the whole node.

// Defaults of Config.FetchesPerSession and Config.FetchWorkers.
const (
	DefaultFetchesPerSession = 2
	DefaultFetchWorkers      = 8
)

// streamPage bounds a FetchObjects page: smaller than a unary answer, since
// pages follow each other without a round trip; the memory a stream holds is
// about one page. It holds any one change (protocol.MaxChangeSize).
const streamPage = protocol.MaxChangeSize + 64<<10

// maxFetchQueue bounds the fetches of one session running or waiting: past it a
// fetch is refused at once (QUOTA_EXCEEDED), so that waiting calls pile up
// nowhere.
const maxFetchQueue = 64

// fetchGate bounds fetch work. A session holds one of its slots from reading a
// page until the page is sent, so it has at most FetchesPerSession pages in
// memory; a node worker slot is held only while a page is read from the store,
// so a slow reader delays nobody else. mu guards sessions; it is never held
// while waiting.
type fetchGate struct {
	perSession int
	workers    chan struct{}

	mu       sync.Mutex
	sessions map[string]*sessionFetches // only sessions with a fetch running or waiting
}

type sessionFetches struct {
	slots chan struct{}
	refs  int // fetches running or waiting
}

func (g *fetchGate) init(perSession, workers int) {
	g.perSession = perSession
	g.workers = make(chan struct{}, workers)
	g.sessions = map[string]*sessionFetches{}
}

// join counts a fetch call of session token until leave; it fails when the
// session has too many already.
func (g *fetchGate) join(token string) (*sessionFetches, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sessions[token]
	if s == nil {
		s = &sessionFetches{slots: make(chan struct{}, g.perSession)}
		g.sessions[token] = s
	}
	if s.refs >= maxFetchQueue {
		return nil, limitErr("fetches", fmt.Sprintf("quota exceeded: this session has %d fetches running or waiting, the most is %d: wait for them",
			s.refs, maxFetchQueue), maxFetchQueue)
	}
	s.refs++
	return s, nil
}

func (g *fetchGate) leave(token string, s *sessionFetches) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.refs--; s.refs == 0 {
		delete(g.sessions, token)
	}
}

// acquire waits for one of s's slots; release with <-s.slots.
func acquire(ctx context.Context, slots chan struct{}) error {
	select {
	case slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// fetchPlan tells which of an object's changes a device lacks.
type fetchPlan struct {
	heads []crypto.ChangeID
	all   bool                     // the device has none and wants all: no first pass
	send  map[crypto.ChangeID]bool // else: the changes to send
}

func (p *fetchPlan) wants(id crypto.ChangeID) bool { return p.all || p.send[id] }

// plan reads obj's heads and, when the device has some or wants some, which of its
// changes it lacks: the changes wanted (all when want is empty) and their
// ancestors, minus what the device's heads cover.
func (n *Node) plan(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, have, want []string) (*fetchPlan, error) {
	heads, err := n.store.Heads(ctx, id, obj)
	if err != nil {
		return nil, err
	}
	p := &fetchPlan{heads: heads}
	if len(have) == 0 && len(want) == 0 {
		p.all = true
		return p, nil
	}
	parents := map[crypto.ChangeID][]crypto.ChangeID{}
	var order []crypto.ChangeID
	if err := n.store.Changes(ctx, id, obj, func(c store.Change) bool {
		parents[c.ID] = parentsOf(c.Raw)
		order = append(order, c.ID)
		return true
	}); err != nil {
		return nil, err
	}
	closure := func(from []string) map[crypto.ChangeID]bool {
		out := map[crypto.ChangeID]bool{}
		stack := make([]crypto.ChangeID, 0, len(from))
		for _, s := range from {
			stack = append(stack, crypto.ChangeID(s))
		}
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			ps, ok := parents[c]
			if !ok || out[c] {
				continue
			}
			out[c] = true
			stack = append(stack, ps...)
		}
		return out
	}
	has := closure(have)
	p.send = map[crypto.ChangeID]bool{}
	if len(want) > 0 {
		for c := range closure(want) {
			if !has[c] {
				p.send[c] = true
			}
		}
		return p, nil
	}
	for _, c := range order {
		if !has[c] {
			p.send[c] = true
		}
	}
	return p, nil
}

// page reads the changes of p after arrival number after, until budget bytes:
// the changes, the arrival number of the last one read, and whether changes to
// send are left after it. On an empty page (fresh) the first change is taken
// whatever its size: budget is then a whole page's, which holds any change
// (protocol.MaxChangeSize).
func (n *Node) page(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, p *fetchPlan, after uint64, budget int, fresh bool) ([][]byte, uint64, bool, error) {
	var out [][]byte
	size, more := 0, false
	err := n.store.ChangesAfter(ctx, id, obj, after, func(c store.Change) bool {
		if !p.wants(c.ID) {
			after = c.Seq
			return true
		}
		if (len(out) > 0 || !fresh) && size+len(c.Raw)+8 > budget {
			more = true
			return false
		}
		out = append(out, c.Raw)
		size += len(c.Raw) + 8
		after = c.Seq
		return true
	})
	return out, after, more, err
}

// fetchStart checks a fetch of space sp by the calling session and counts it in
// the session's fetches; done must be called when it ends.
func (n *Node) fetchStart(ctx context.Context, sp string) (crypto.SpaceID, *sessionFetches, func(), error) {
	id, err := parseSpace(sp)
	if err != nil {
		return "", nil, nil, err
	}
	sess := sessionOf(ctx)
	if _, _, err := n.member(ctx, id, sess.account, true); err != nil {
		return "", nil, nil, err
	}
	s, err := n.fetches.join(sess.token)
	if err != nil {
		return "", nil, nil, err
	}
	return id, s, func() { n.fetches.leave(sess.token, s) }, nil
}

// readPage plans (when p is nil) and reads one page of obj under a node worker
// slot; the caller holds one of its session's slots.
func (n *Node) readPage(ctx context.Context, id crypto.SpaceID, obj crypto.ObjectID, have, want []string, p *fetchPlan, after uint64, budget int, fresh bool) (*fetchPlan, [][]byte, uint64, bool, error) {
	if err := acquire(ctx, n.fetches.workers); err != nil {
		return nil, nil, 0, false, err
	}
	defer func() { <-n.fetches.workers }()
	if p == nil {
		var err error
		if p, err = n.plan(ctx, id, obj, have, want); err != nil {
			return nil, nil, 0, false, err
		}
	}
	changes, next, more, err := n.page(ctx, id, obj, p, after, budget, fresh)
	return p, changes, next, more, err
}

// fetch answers the changes a device lacks of one object given its heads (or the
// wanted changes and their ancestors), parents before children, in one page:
// Truncated asks the device to fetch again.
func (n *Node) fetch(ctx context.Context, m *syncpb.FetchRequest) (*syncpb.FetchResponse, error) {
	obj, err := parseObject(m.ObjectId)
	if err != nil {
		return nil, err
	}
	id, s, done, err := n.fetchStart(ctx, m.SpaceId)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := acquire(ctx, s.slots); err != nil {
		return nil, err
	}
	defer func() { <-s.slots }()
	p, changes, _, more, err := n.readPage(ctx, id, obj, m.HaveHeads, m.Want, nil, 0, responseBudget, true)
	if err != nil {
		return nil, grpcErr(err)
	}
	return &syncpb.FetchResponse{SpaceId: m.SpaceId, ObjectId: m.ObjectId, Heads: ids(p.heads), Changes: changes, Truncated: more}, nil
}

// fetchObjects streams what a device lacks of several objects: pages of about
// streamPage bytes holding the objects in request order, an object too big
// for what is left of a page going on in the next one.
func (n *Node) fetchObjects(m *syncpb.FetchObjectsRequest, stream syncpb.Node_FetchObjectsServer) error {
	ctx := stream.Context()
	if len(m.Objects) > protocol.MaxFetchObjects {
		return status.Errorf(codes.InvalidArgument, "%d objects, at most %d per call", len(m.Objects), protocol.MaxFetchObjects)
	}
	objs := make([]crypto.ObjectID, len(m.Objects))
	for i, o := range m.Objects {
		var err error
		if objs[i], err = parseObject(o.ObjectId); err != nil {
			return err
		}
	}
	id, s, done, err := n.fetchStart(ctx, m.SpaceId)
	if err != nil {
		return err
	}
	defer done()

	page := &syncpb.FetchObjectsPage{}
	size := 0
	send := func() error {
		err := stream.Send(page)
		page, size = &syncpb.FetchObjectsPage{}, 0
		<-s.slots
		return err
	}
	for i, obj := range objs {
		var p *fetchPlan
		for pos := uint64(0); ; {
			if size == 0 {
				if err := acquire(ctx, s.slots); err != nil { // held until the page is sent
					return err
				}
			}
			var changes [][]byte
			var more bool
			var err error
			p, changes, pos, more, err = n.readPage(ctx, id, obj, m.Objects[i].HaveHeads, nil, p, pos, streamPage-size, size == 0)
			if err != nil {
				<-s.slots
				return grpcErr(err)
			}
			if len(changes) > 0 || !more { // else: nothing fit in what is left of the page
				r := &syncpb.FetchResponse{SpaceId: m.SpaceId, ObjectId: string(obj), Heads: ids(p.heads), Changes: changes, Truncated: more}
				page.Objects = append(page.Objects, r)
				size += r.Size() + 8
			}
			if more || size >= streamPage {
				if err := send(); err != nil {
					return err
				}
			}
			if !more {
				break
			}
		}
	}
	if size > 0 {
		return send()
	}
	return nil
}
