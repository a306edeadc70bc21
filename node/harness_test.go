package node_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/grpccodec"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/objtree"
	"github.com/hearth-sync/hearth/protocol/space"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	t     testing.TB
	clock *clock
	key   crypto.PrivKey
	store store.Store
	node  *node.Node
	cfg   node.Config
}

// startNode runs a node on 127.0.0.1:0 over st; it is closed at the end of the test.
func startNode(t testing.TB, st store.Store, key crypto.PrivKey, tweak func(*node.Config)) *env {
	t.Helper()
	if key.IsZero() {
		var err error
		key, err = crypto.GenerateKey()
		require.NoError(t, err)
	}
	e := &env{t: t, clock: newClock(), key: key, store: st}
	e.cfg = node.Config{Key: key, Store: st, Listen: "127.0.0.1:0", Clock: e.clock.Now, JanitorInterval: time.Hour}
	if tweak != nil {
		tweak(&e.cfg)
	}
	var err error
	e.node, err = node.Start(e.cfg)
	require.NoError(t, err)
	t.Cleanup(func() { e.node.Close() })
	return e
}

func memNode(t testing.TB) *env { return startNode(t, store.NewMemory(), crypto.PrivKey{}, nil) }

// device is one device of an account.
type device struct {
	account crypto.PrivKey
	key     crypto.PrivKey
	cert    []byte
}

func newAccount(t testing.TB) device {
	a, err := crypto.GenerateKey()
	require.NoError(t, err)
	return newDevice(t, a)
}

func newDevice(t testing.TB, account crypto.PrivKey) device {
	d, err := crypto.GenerateKey()
	require.NoError(t, err)
	cert, err := crypto.NewDeviceCert(account, d.Public(), 1)
	require.NoError(t, err)
	return device{account: account, key: d, cert: cert}
}

func (e *env) dial(d device) *syncclient.Client {
	e.t.Helper()
	k := e.node.Key()
	c, err := syncclient.Dial(context.Background(), syncclient.Config{Addr: e.node.Addr(), DeviceKey: d.key, DeviceCert: d.cert, NodeKey: &k})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { c.Close() })
	return c
}

// raw is an unauthenticated gRPC client for handshake tests.
func (e *env) raw() syncpb.NodeClient {
	conn, err := grpc.NewClient(e.node.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpccodec.Codec())))
	require.NoError(e.t, err)
	e.t.Cleanup(func() { conn.Close() })
	return syncpb.NewNodeClient(conn)
}

// tspace is a test's client-side view of a space.
type tspace struct {
	t       testing.TB
	id      crypto.SpaceID
	header  space.Header
	node    crypto.PubKey
	state   acl.State
	readKey crypto.SymKey
	ts      int64
}

func (s *tspace) now() int64 { s.ts++; return s.ts }

// newSpace makes the header, read key and root record of a new space of owner.
func newSpace(t testing.TB, owner device) (space.Header, crypto.SymKey, []byte) {
	t.Helper()
	h, err := space.NewHeader(owner.account, 1)
	require.NoError(t, err)
	rk, err := crypto.NewSymKey()
	require.NoError(t, err)
	root, err := acl.Builder{Author: owner.account}.Root(h.ID, rk, 1)
	require.NoError(t, err)
	return h, rk, root
}

func createSpace(t testing.TB, c *syncclient.Client, owner device) *tspace {
	t.Helper()
	h, rk, root := newSpace(t, owner)
	resp, err := c.SpacePush(context.Background(), h.Raw, root)
	require.NoError(t, err)
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, resp.Status, resp.Reason)
	s := &tspace{t: t, id: h.ID, header: h, node: c.NodeKey(), state: acl.New(h.ID, h.Creator), readKey: rk, ts: 10}
	s.apply(resp.Accepted)
	return s
}

func (s *tspace) apply(accepted ...[]byte) {
	s.t.Helper()
	var err error
	s.state, err = acl.Replay(s.state, s.node, accepted)
	require.NoError(s.t, err)
}

// add submits a record and folds it in on acceptance.
func (s *tspace) add(c *syncclient.Client, rec []byte) *syncpb.AclAddResponse {
	s.t.Helper()
	resp, err := c.AclAdd(context.Background(), s.id, rec)
	require.NoError(s.t, err)
	if resp.Status == syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED {
		s.apply(resp.Accepted)
	}
	return resp
}

// join makes d a member with role through a no-approval invite.
func (s *tspace) join(owner, joiner *syncclient.Client, ownerDev, d device, role acl.Role) {
	s.t.Helper()
	ik, err := crypto.GenerateKey()
	require.NoError(s.t, err)
	inv, err := acl.Builder{Author: ownerDev.account}.Invite(s.state, ik.Public(), role, false, s.readKey, s.now())
	require.NoError(s.t, err)
	resp := s.add(owner, inv)
	require.Equal(s.t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, resp.Status, resp.Reason)
	req, err := acl.Builder{Author: d.account}.JoinRequest(s.state, s.state.Head(), ik, s.now())
	require.NoError(s.t, err)
	resp = s.add(joiner, req)
	require.Equal(s.t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, resp.Status, resp.Reason)
	require.Equal(s.t, role, s.state.Role(d.account.Public()))
}

// remove removes d, rotating the read key.
func (s *tspace) remove(owner *syncclient.Client, ownerDev, d device) *syncpb.AclAddResponse {
	s.t.Helper()
	nk, err := crypto.NewSymKey()
	require.NoError(s.t, err)
	rec, err := acl.Builder{Author: ownerDev.account}.Remove(s.state, []crypto.PubKey{d.account.Public()}, s.readKey, nk, s.now())
	require.NoError(s.t, err)
	resp := s.add(owner, rec)
	require.Equal(s.t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, resp.Status, resp.Reason)
	s.readKey = nk
	return resp
}

// object builds changes of one object.
type object struct {
	s     *tspace
	id    crypto.ObjectID
	heads []crypto.ChangeID
}

func (s *tspace) newObject(author device) (*object, []byte) {
	s.t.Helper()
	raw, err := objtree.Builder{Space: s.id, Author: author.account}.Root(s.state.Head(), s.readKey.ID(), "page", s.now())
	require.NoError(s.t, err)
	c, err := objtree.Verify(raw)
	require.NoError(s.t, err)
	return &object{s: s, id: crypto.ObjectID(c.ID), heads: []crypto.ChangeID{c.ID}}, raw
}

func (o *object) change(author device, key string) []byte {
	o.s.t.Helper()
	raw, err := objtree.Builder{Space: o.s.id, Author: author.account}.Change(o.id, o.heads, o.s.state.Head(), o.s.readKey,
		[]*syncpb.Op{objtree.Set(key, objtree.String("v"))}, o.s.now())
	require.NoError(o.s.t, err)
	c, err := objtree.Verify(raw)
	require.NoError(o.s.t, err)
	o.heads = []crypto.ChangeID{c.ID}
	return raw
}

func (o *object) update(changes ...[]byte) *syncpb.HeadUpdate {
	return &syncpb.HeadUpdate{SpaceId: string(o.s.id), ObjectId: string(o.id), Changes: changes}
}

func headStrings(h []crypto.ChangeID) []string {
	out := make([]string, len(h))
	for i, c := range h {
		out[i] = string(c)
	}
	return out
}
