package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/acl"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/diff"
	"github.com/hearth-sync/hearth/protocol/handshake"
	"github.com/hearth-sync/hearth/protocol/space"
)

var bg = context.Background()

func requireCode(t *testing.T, want codes.Code, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.Equal(t, want, status.Code(err), "%v %v", err, msgAndArgs)
}

func TestHandshake(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) { c.SessionTTL = time.Hour })
	d := newAccount(t)

	// A good device is accepted and learns the node key on first contact.
	c, err := syncclient.Dial(bg, syncclient.Config{Addr: e.node.Addr(), DeviceKey: d.key, DeviceCert: d.cert})
	require.NoError(t, err)
	defer c.Close()
	require.True(t, c.PinnedOnFirstContact())
	require.Equal(t, e.node.Key(), c.NodeKey())
	require.Equal(t, d.account.Public(), c.Account())
	st, err := c.SpaceStatus(bg, crypto.SpaceID(crypto.Sum([]byte("x"))))
	require.NoError(t, err)
	require.Equal(t, syncpb.SpaceStatusCode_SPACE_STATUS_CODE_NOT_FOUND, st.Status)

	// A wrong pinned key is refused with a clear error.
	other := d.key.Public()
	_, err = syncclient.Dial(bg, syncclient.Config{Addr: e.node.Addr(), DeviceKey: d.key, DeviceCert: d.cert, NodeKey: &other})
	require.ErrorIs(t, err, syncclient.ErrNodeKeyMismatch)

	raw := e.raw()
	hello := func() *syncpb.HelloResponse {
		nonce, err := handshake.NewNonce(nil)
		require.NoError(t, err)
		h, err := raw.Hello(bg, &syncpb.HelloRequest{ClientNonce: nonce})
		require.NoError(t, err)
		_, err = handshake.VerifyHello(h, nonce, nil)
		require.NoError(t, err)
		return h
	}
	nk := e.node.Key()

	// Forged certificate: signed by the device, claiming the account.
	forged, err := crypto.NewDeviceCert(d.key, d.key.Public(), 1)
	require.NoError(t, err)
	copy(forged[len("hearth/device-cert/v1\x00"):], d.account.Public().Bytes())
	_, err = raw.Auth(bg, handshake.Auth(d.key, forged, hello().Challenge, nk))
	requireCode(t, codes.Unauthenticated, err, "forged cert")

	// A signature over another challenge.
	h1, h2 := hello(), hello()
	req := handshake.Auth(d.key, d.cert, h2.Challenge, nk)
	req.Challenge = h1.Challenge
	_, err = raw.Auth(bg, req)
	requireCode(t, codes.Unauthenticated, err, "wrong challenge")

	// A reused challenge: the first use succeeds, the second is refused.
	h3 := hello()
	ok, err := raw.Auth(bg, handshake.Auth(d.key, d.cert, h3.Challenge, nk))
	require.NoError(t, err)
	require.Equal(t, d.account.Public().Bytes(), ok.Account)
	_, err = raw.Auth(bg, handshake.Auth(d.key, d.cert, h3.Challenge, nk))
	requireCode(t, codes.Unauthenticated, err, "reused challenge")
	// The challenge that failed (h2's was never used, h1's was consumed by the failure).
	_, err = raw.Auth(bg, handshake.Auth(d.key, d.cert, h1.Challenge, nk))
	requireCode(t, codes.Unauthenticated, err, "challenge consumed by a failed attempt")

	// An expired challenge.
	h4 := hello()
	e.clock.Advance(node.DefaultChallengeTTL + time.Second)
	_, err = raw.Auth(bg, handshake.Auth(d.key, d.cert, h4.Challenge, nk))
	requireCode(t, codes.Unauthenticated, err, "expired challenge")

	// No session, an unknown session.
	_, err = raw.GetSpaceStatus(bg, &syncpb.SpaceStatusRequest{SpaceId: "x"})
	requireCode(t, codes.Unauthenticated, err)
	_, err = raw.GetSpaceStatus(metadata.AppendToOutgoingContext(bg, "session", "nope"), &syncpb.SpaceStatusRequest{SpaceId: "x"})
	requireCode(t, codes.Unauthenticated, err)
	sctx := metadata.AppendToOutgoingContext(bg, "session", ok.Session)
	_, err = raw.GetSpaceStatus(sctx, &syncpb.SpaceStatusRequest{SpaceId: string(crypto.Sum([]byte("x")))})
	require.NoError(t, err)

	// An expired session is Unauthenticated; the client re-authenticates transparently.
	e.clock.Advance(2 * time.Hour)
	_, err = raw.GetSpaceStatus(sctx, &syncpb.SpaceStatusRequest{SpaceId: string(crypto.Sum([]byte("x")))})
	requireCode(t, codes.Unauthenticated, err)
	_, err = c.SpaceStatus(bg, crypto.SpaceID(crypto.Sum([]byte("x"))))
	require.NoError(t, err)
}

func TestAcceptorConflict(t *testing.T) {
	e := memNode(t)
	owner := newAccount(t)
	c := e.dial(owner)
	s := createSpace(t, c, owner)
	stale := s.state
	ik, _ := crypto.GenerateKey()
	rec1, err := acl.Builder{Author: owner.account}.Invite(stale, ik.Public(), acl.RoleWriter, true, s.readKey, 2)
	require.NoError(t, err)
	rec2, err := acl.Builder{Author: owner.account}.Invite(stale, ik.Public(), acl.RoleReader, true, s.readKey, 3)
	require.NoError(t, err)
	r := s.add(c, rec1)
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, r.Status)
	r2, err := c.AclAdd(bg, s.id, rec2)
	require.NoError(t, err)
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_CONFLICT, r2.Status)
	require.Equal(t, string(s.state.Head()), r2.Head)
	// A retry of an accepted record answers the same acceptance (idempotent).
	r3, err := c.AclAdd(bg, s.id, rec1)
	require.NoError(t, err)
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, r3.Status)
	require.Equal(t, r.Accepted, r3.Accepted)
	// A record by someone without the right is rejected with a reason.
	stranger := newAccount(t)
	bad, err := acl.Builder{Author: stranger.account}.Invite(s.state, ik.Public(), acl.RoleWriter, true, s.readKey, 4)
	require.NoError(t, err)
	r4, err := e.dial(stranger).AclAdd(bg, s.id, bad)
	require.NoError(t, err)
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_REJECTED, r4.Status)
	require.NotEmpty(t, r4.Reason)
	// Another author's record cannot be relayed.
	_, err = e.dial(stranger).AclAdd(bg, s.id, rec2)
	requireCode(t, codes.PermissionDenied, err)
}

// TestAcceptorRace: concurrent AclAdds on the same head: exactly one wins per head.
func TestAcceptorRace(t *testing.T) {
	for _, backend := range []string{"memory", "badger"} {
		t.Run(backend, func(t *testing.T) {
			st := openStore(t, backend, t.TempDir())
			e := startNode(t, st, crypto.PrivKey{}, nil)
			owner := newAccount(t)
			c := e.dial(owner)
			s := createSpace(t, c, owner)
			const writers, rounds = 4, 5
			for round := range rounds {
				recs := make([][]byte, writers)
				for w := range recs {
					ik, _ := crypto.GenerateKey()
					var err error
					recs[w], err = acl.Builder{Author: owner.account}.Invite(s.state, ik.Public(), acl.RoleReader, true, s.readKey, int64(100*round+w))
					require.NoError(t, err)
				}
				resps := make([]*syncpb.AclAddResponse, writers)
				var wg sync.WaitGroup
				for w := range recs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, err := c.AclAdd(bg, s.id, recs[w])
						if err != nil {
							t.Error(err)
							return
						}
						resps[w] = r
					}()
				}
				wg.Wait()
				won := 0
				for _, r := range resps {
					require.NotNil(t, r)
					switch r.Status {
					case syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED:
						won++
						s.apply(r.Accepted)
					case syncpb.AclAddStatus_ACL_ADD_STATUS_CONFLICT:
					default:
						t.Fatalf("unexpected %v: %s", r.Status, r.Reason)
					}
				}
				require.Equal(t, 1, won, "round %d", round)
				require.Equal(t, uint64(round+2), s.state.Seq())
			}
		})
	}
}

func openStore(t *testing.T, backend, dir string) store.Store {
	t.Helper()
	if backend == "memory" {
		return store.NewMemory()
	}
	st, err := store.OpenBadger(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// TestRestart: sequence numbers continue and acknowledged changes survive a restart.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	key, err := node.LoadOrCreateKey(filepath.Join(dir, "node.key"))
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, "node.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	st, err := store.OpenBadger(filepath.Join(dir, "db"), nil)
	require.NoError(t, err)
	e := startNode(t, st, key, nil)
	owner := newAccount(t)
	c, err := syncclient.Dial(bg, syncclient.Config{Addr: e.node.Addr(), DeviceKey: owner.key, DeviceCert: owner.cert})
	require.NoError(t, err)
	defer c.Close()
	s := createSpace(t, c, owner)
	w := newAccount(t)
	s.join(c, e.dial(w), owner, w, acl.RoleWriter)
	o, root := s.newObject(owner)
	ch1 := o.change(owner, "a")
	ack, err := c.HeadUpdate(bg, o.update(root, ch1))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status, ack.Reason)
	require.Equal(t, headStrings(o.heads), ack.Heads)
	seq := s.state.Seq()

	// Restart: same key, same store dir, new process state.
	require.NoError(t, e.node.Close())
	require.NoError(t, st.Close())
	key2, err := node.LoadOrCreateKey(filepath.Join(dir, "node.key"))
	require.NoError(t, err)
	require.Equal(t, key.Public(), key2.Public())
	st2, err := store.OpenBadger(filepath.Join(dir, "db"), nil)
	require.NoError(t, err)
	defer st2.Close()
	e2 := startNode(t, st2, key2, func(cfg *node.Config) { cfg.Listen = e.node.Addr() })

	// The old client re-authenticates transparently (sessions were forgotten).
	got, err := c.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(o.id)})
	require.NoError(t, err)
	require.Equal(t, [][]byte{root, ch1}, got.Changes)
	require.Equal(t, headStrings(o.heads), got.Heads)

	ik, _ := crypto.GenerateKey()
	inv, err := acl.Builder{Author: owner.account}.Invite(s.state, ik.Public(), acl.RoleReader, true, s.readKey, s.now())
	require.NoError(t, err)
	r := s.add(c, inv)
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, r.Status, r.Reason)
	require.Equal(t, seq+1, s.state.Seq(), "sequence numbers continue after a restart")

	log, err := e2.dial(owner).AclLog(bg, s.id, 0)
	require.NoError(t, err)
	require.Len(t, log.Records, int(seq+1))
	for i, raw := range log.Records {
		vr, err := acl.Verify(raw, key.Public())
		require.NoError(t, err)
		require.Equal(t, uint64(i+1), vr.Seq)
	}
	require.Equal(t, seq+1, log.Status.AclSeq)
}

func TestChanges(t *testing.T) {
	e := memNode(t)
	owner := newAccount(t)
	c := e.dial(owner)
	s := createSpace(t, c, owner)
	o, root := s.newObject(owner)
	ch1 := o.change(owner, "a")

	// Parents first: a child without its parent is refused.
	ack, err := c.HeadUpdate(bg, o.update(ch1))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_REJECTED, ack.Status)
	require.Contains(t, ack.Reason, "missing parents")
	// Children before parents in one batch are fine.
	ack, err = c.HeadUpdate(bg, o.update(ch1, root))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status, ack.Reason)

	// Two branches: heads are both; a merge makes one.
	base := o.heads
	b1 := o.change(owner, "b1")
	h1 := o.heads
	o.heads = base
	b2 := o.change(owner, "b2")
	h2 := o.heads
	ack, err = c.HeadUpdate(bg, o.update(b1, b2))
	require.NoError(t, err)
	require.ElementsMatch(t, headStrings(append(h1, h2...)), ack.Heads)
	o.heads = append(h1, h2...)
	if o.heads[0] > o.heads[1] {
		o.heads[0], o.heads[1] = o.heads[1], o.heads[0]
	}
	merge := o.change(owner, "m")
	ack, err = c.HeadUpdate(bg, o.update(merge))
	require.NoError(t, err)
	require.Equal(t, headStrings(o.heads), ack.Heads)

	// Fetch: what a peer at ch1 lacks, parents first.
	f, err := c.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(o.id), HaveHeads: []string{string(base[0])}})
	require.NoError(t, err)
	require.Len(t, f.Changes, 3)
	require.Equal(t, merge, f.Changes[2])
	require.False(t, f.Truncated)

	// A tampered change is refused.
	bad := append([]byte(nil), o.change(owner, "x")...)
	bad[len(bad)-1] ^= 1
	ack, err = c.HeadUpdate(bg, o.update(bad))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_REJECTED, ack.Status)

	// HeadSync finds the object.
	res, err := c.HeadSync(bg, diff.RequestToPB(string(s.id), []diff.Range{diff.Full(16)}))
	require.NoError(t, err)
	rr, err := diff.ResultsFromPB(res)
	require.NoError(t, err)
	require.Len(t, rr, 1)
	require.Equal(t, uint32(1), rr[0].Count)
	require.Equal(t, string(o.id), rr[0].Elements[0].ID)
}

func TestMembership(t *testing.T) {
	e := memNode(t)
	owner, reader, gone, stranger := newAccount(t), newAccount(t), newAccount(t), newAccount(t)
	oc, rc, gc, sc := e.dial(owner), e.dial(reader), e.dial(gone), e.dial(stranger)
	s := createSpace(t, oc, owner)
	s.join(oc, rc, owner, reader, acl.RoleReader)
	s.join(oc, gc, owner, gone, acl.RoleWriter)
	o, root := s.newObject(owner)
	ack, err := oc.HeadUpdate(bg, o.update(root))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status)
	removal := s.remove(oc, owner, gone)

	for name, c := range map[string]*syncclient.Client{"stranger": sc, "removed": gc} {
		_, err := c.SpacePull(bg, s.id)
		requireCode(t, codes.PermissionDenied, err, name+" pull")
		_, err = c.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(o.id)})
		requireCode(t, codes.PermissionDenied, err, name+" fetch")
		_, err = c.HeadSync(bg, diff.RequestToPB(string(s.id), []diff.Range{diff.Full(16)}))
		requireCode(t, codes.PermissionDenied, err, name+" head sync")
		_, err = c.HeadUpdate(bg, o.update(o.change(owner, "z")))
		requireCode(t, codes.PermissionDenied, err, name+" push")
		// Subscribing lists the space but yields none of its head updates.
		sctx, cancel := context.WithTimeout(bg, 2*time.Second)
		sub, err := c.Subscribe(sctx, []crypto.SpaceID{s.id})
		require.NoError(t, err, name+" subscribe")
		fresh, freshRoot := s.newObject(owner)
		ack, err := oc.HeadUpdate(bg, fresh.update(freshRoot))
		require.NoError(t, err)
		require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status)
		for {
			p, err := sub.Recv()
			if err != nil {
				break // the window closed without a leak
			}
			require.Nil(t, p.GetHeadUpdate(), name+" received a head update of a space it may not read")
		}
		sub.Close()
		cancel()
	}
	_, err = sc.AclLog(bg, s.id, 0)
	requireCode(t, codes.PermissionDenied, err, "stranger acl log")

	// The removed member reads exactly its removal record.
	log, err := gc.AclLog(bg, s.id, 0)
	require.NoError(t, err)
	require.Equal(t, [][]byte{removal.Accepted}, log.Records)
	require.Equal(t, removal.Head, log.Status.AclHead)
	log, err = gc.AclLog(bg, s.id, log.Status.AclSeq)
	require.NoError(t, err)
	require.Empty(t, log.Records)

	// A reader may fetch but not write.
	_, err = rc.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(o.id)})
	require.NoError(t, err)
	ack, err = rc.HeadUpdate(bg, o.update(o.change(reader, "r")))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_REJECTED, ack.Status)
	require.Contains(t, ack.Reason, "reader")
}

func TestPush(t *testing.T) {
	e := memNode(t)
	a, b := newAccount(t), newAccount(t)
	ac, bc := e.dial(a), e.dial(b)
	s := createSpace(t, ac, a)
	s.join(ac, bc, a, b, acl.RoleWriter)

	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	sub, err := bc.Subscribe(ctx, []crypto.SpaceID{s.id})
	require.NoError(t, err)
	defer sub.Close()
	first, err := sub.Recv() // the snapshot: the space's status
	require.NoError(t, err)
	require.Equal(t, string(s.id), first.GetSpaceStatus().SpaceId)
	require.Equal(t, s.state.Seq(), first.GetSpaceStatus().AclSeq)

	o, root := s.newObject(a)
	ack, err := ac.HeadUpdate(bg, o.update(root))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status)
	p, err := sub.Recv()
	require.NoError(t, err)
	require.NotNil(t, p.GetHeadUpdate(), "%v", p)
	require.Equal(t, [][]byte{root}, p.GetHeadUpdate().Changes)
	require.Equal(t, ack.Heads, p.GetHeadUpdate().Heads)

	ik, _ := crypto.GenerateKey()
	inv, err := acl.Builder{Author: a.account}.Invite(s.state, ik.Public(), acl.RoleReader, true, s.readKey, s.now())
	require.NoError(t, err)
	r := s.add(ac, inv)
	p, err = sub.Recv()
	require.NoError(t, err)
	require.NotNil(t, p.GetAclUpdate(), "%v", p)
	require.Equal(t, [][]byte{r.Accepted}, p.GetAclUpdate().Records)

	// A removed member's devices get the removal record.
	s.remove(ac, a, b)
	p, err = sub.Recv()
	require.NoError(t, err)
	require.NotNil(t, p.GetAclUpdate(), "%v", p)
	vr, err := acl.Verify(p.GetAclUpdate().Records[0], e.node.Key())
	require.NoError(t, err)
	require.NotNil(t, vr.Body.GetRemove())
}

// TestSlowSubscriber: a subscriber that does not read is disconnected, never waited for.
func TestSlowSubscriber(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) { c.SubscriberQueue = 1 })
	a, b := newAccount(t), newAccount(t)
	ac, bc := e.dial(a), e.dial(b)
	s := createSpace(t, ac, a)
	s.join(ac, bc, a, b, acl.RoleWriter)
	sub, err := bc.Subscribe(bg, []crypto.SpaceID{s.id})
	require.NoError(t, err)
	defer sub.Close()
	_, err = sub.Recv()
	require.NoError(t, err)
	// Many writes while B does not read: the writer is never blocked.
	o, root := s.newObject(a)
	_, err = ac.HeadUpdate(bg, o.update(root))
	require.NoError(t, err)
	for i := range 400 { // well past the 64 KiB HTTP/2 window, so Send blocks and the queue fills
		ack, err := ac.HeadUpdate(bg, o.update(o.change(a, fmt.Sprint(i))))
		require.NoError(t, err)
		require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status)
	}
	for {
		_, err = sub.Recv()
		if err != nil {
			break
		}
	}
	requireCode(t, codes.ResourceExhausted, err)
	require.True(t, syncclient.Retryable(err))
}

func TestDeletion(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) { c.DeletionGrace = time.Hour })
	a, b := newAccount(t), newAccount(t)
	ac, bc := e.dial(a), e.dial(b)
	s := createSpace(t, ac, a)
	s.join(ac, bc, a, b, acl.RoleWriter)
	o, root := s.newObject(a)
	_, err := ac.HeadUpdate(bg, o.update(root))
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	sub, err := bc.Subscribe(ctx, nil) // account stream only
	require.NoError(t, err)
	defer sub.Close()
	p, err := sub.Recv()
	require.NoError(t, err)
	require.Equal(t, syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK, p.GetSpaceStatus().Status)

	// Only the owner deletes.
	breq, err := space.NewDeleteRequest(b.account, s.id, 5, false)
	require.NoError(t, err)
	_, err = bc.SpaceDelete(bg, breq)
	requireCode(t, codes.PermissionDenied, err)

	req, err := space.NewDeleteRequest(a.account, s.id, 10, false)
	require.NoError(t, err)
	st, err := ac.SpaceDelete(bg, req)
	require.NoError(t, err)
	require.Equal(t, syncpb.SpaceStatusCode_SPACE_STATUS_CODE_PENDING_DELETION, st.Status)
	p, err = sub.Recv()
	require.NoError(t, err)
	require.Equal(t, syncpb.SpaceStatusCode_SPACE_STATUS_CODE_PENDING_DELETION, p.GetSpaceStatus().Status)
	// Pending deletion is not served for sync.
	_, err = bc.HeadSync(bg, diff.RequestToPB(string(s.id), []diff.Range{diff.Full(16)}))
	requireCode(t, codes.FailedPrecondition, err)
	_, err = bc.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(o.id)})
	requireCode(t, codes.FailedPrecondition, err)
	_, err = bc.SpacePull(bg, s.id)
	requireCode(t, codes.FailedPrecondition, err)

	// The owner cancels: served again.
	creq, err := space.NewDeleteRequest(a.account, s.id, 11, true)
	require.NoError(t, err)
	st, err = ac.SpaceDelete(bg, creq)
	require.NoError(t, err)
	require.Equal(t, syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK, st.Status)
	p, err = sub.Recv()
	require.NoError(t, err)
	require.Equal(t, syncpb.SpaceStatusCode_SPACE_STATUS_CODE_OK, p.GetSpaceStatus().Status)
	_, err = bc.HeadSync(bg, diff.RequestToPB(string(s.id), []diff.Range{diff.Full(16)}))
	require.NoError(t, err)
	// The old delete request cannot be replayed.
	_, err = ac.SpaceDelete(bg, req)
	requireCode(t, codes.FailedPrecondition, err)

	// Delete again; after the grace period the janitor's sweep removes the data.
	req2, err := space.NewDeleteRequest(a.account, s.id, 12, false)
	require.NoError(t, err)
	_, err = ac.SpaceDelete(bg, req2)
	require.NoError(t, err)
	_, err = sub.Recv()
	require.NoError(t, err)
	require.NoError(t, e.node.Sweep(bg))
	_, err = e.store.Header(bg, s.id)
	require.NoError(t, err, "not yet due")
	e.clock.Advance(time.Hour + time.Second)
	require.NoError(t, e.node.Sweep(bg))
	p, err = sub.Recv()
	require.NoError(t, err)
	require.Equal(t, syncpb.SpaceStatusCode_SPACE_STATUS_CODE_DELETED, p.GetSpaceStatus().Status)
	_, err = e.store.Header(bg, s.id)
	require.ErrorIs(t, err, store.ErrNotFound)
	n := 0
	require.NoError(t, e.store.Changes(bg, s.id, o.id, func(store.Change) bool { n++; return true }))
	require.Zero(t, n, "the changes are gone")
	st, err = bc.SpaceStatus(bg, s.id)
	require.NoError(t, err)
	require.Equal(t, syncpb.SpaceStatusCode_SPACE_STATUS_CODE_DELETED, st.Status)
	// A deleted space cannot be created again, nor its deletion cancelled.
	creq2, err := space.NewDeleteRequest(a.account, s.id, 13, true)
	require.NoError(t, err)
	_, err = ac.SpaceDelete(bg, creq2)
	requireCode(t, codes.FailedPrecondition, err)
}

// TestJanitor: the janitor goroutine carries out a due deletion by itself.
func TestJanitor(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) {
		c.DeletionGrace = time.Millisecond
		c.JanitorInterval = 10 * time.Millisecond
		c.Clock = time.Now
	})
	a := newAccount(t)
	ac := e.dial(a)
	s := createSpace(t, ac, a)
	req, err := space.NewDeleteRequest(a.account, s.id, 10, false)
	require.NoError(t, err)
	_, err = ac.SpaceDelete(bg, req)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st, err := e.store.Status(bg, s.id)
		return err == nil && st.Purged
	}, 10*time.Second, 10*time.Millisecond)
}

func TestInviteLookup(t *testing.T) {
	e := memNode(t)
	owner, joiner := newAccount(t), newAccount(t)
	oc, jc := e.dial(owner), e.dial(joiner)
	s := createSpace(t, oc, owner)
	ik, _ := crypto.GenerateKey()
	inv, err := acl.Builder{Author: owner.account}.Invite(s.state, ik.Public(), acl.RoleWriter, true, s.readKey, s.now())
	require.NoError(t, err)
	s.add(oc, inv)
	invID := s.state.Head()
	sig := ik.Sign(acl.JoinInviteMessage(s.id, invID, joiner.account.Public()))
	got, err := jc.InviteLookup(bg, s.id, invID, sig)
	require.NoError(t, err)
	require.Equal(t, s.header.Raw, got.Header)
	require.Len(t, got.AclRecords, 2)
	// Signed for someone else: refused.
	other := ik.Sign(acl.JoinInviteMessage(s.id, invID, owner.account.Public()))
	_, err = jc.InviteLookup(bg, s.id, invID, other)
	requireCode(t, codes.PermissionDenied, err)
	// The join request it then builds is accepted (with approval: pending, not a member).
	st, err := acl.Replay(acl.New(s.id, s.header.Creator), e.node.Key(), got.AclRecords)
	require.NoError(t, err)
	jr, err := acl.Builder{Author: joiner.account}.JoinRequest(st, invID, ik, s.now())
	require.NoError(t, err)
	r, err := jc.AclAdd(bg, s.id, jr)
	require.NoError(t, err)
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, r.Status, r.Reason)
	_, err = jc.SpacePull(bg, s.id)
	requireCode(t, codes.PermissionDenied, err, "pending joiner is not a member yet")
}

func TestSpacePushIdempotent(t *testing.T) {
	e := memNode(t)
	owner := newAccount(t)
	c := e.dial(owner)
	h, err := space.NewHeader(owner.account, 1)
	require.NoError(t, err)
	rk, _ := crypto.NewSymKey()
	root, err := acl.Builder{Author: owner.account}.Root(h.ID, rk, 1)
	require.NoError(t, err)
	r1, err := c.SpacePush(bg, h.Raw, root)
	require.NoError(t, err)
	r2, err := c.SpacePush(bg, h.Raw, root)
	require.NoError(t, err)
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_ACCEPTED, r2.Status)
	require.Equal(t, r1.Accepted, r2.Accepted)
	root2, err := acl.Builder{Author: owner.account}.Root(h.ID, rk, 2)
	require.NoError(t, err)
	r3, err := c.SpacePush(bg, h.Raw, root2)
	require.NoError(t, err)
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_CONFLICT, r3.Status)
	// Someone else cannot push another's header.
	_, err = e.dial(newAccount(t)).SpacePush(bg, h.Raw, root)
	requireCode(t, codes.PermissionDenied, err)
}

func TestSizeLimits(t *testing.T) {
	e := memNode(t)
	owner := newAccount(t)
	c := e.dial(owner)
	s := createSpace(t, c, owner)
	huge := make([]byte, 5<<20)
	_, err := c.HeadUpdate(bg, &syncpb.HeadUpdate{SpaceId: string(s.id), ObjectId: string(s.id), Changes: [][]byte{huge}})
	require.Error(t, err)
	require.Contains(t, []codes.Code{codes.ResourceExhausted}, status.Code(err), "%v", err)
	r, err := c.AclAdd(bg, s.id, make([]byte, 300<<10))
	require.NoError(t, err)
	require.Equal(t, syncpb.AclAddStatus_ACL_ADD_STATUS_REJECTED, r.Status)
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "node.key")
	k1, err := node.LoadOrCreateKey(p)
	require.NoError(t, err)
	k2, err := node.LoadOrCreateKey(p)
	require.NoError(t, err)
	require.Equal(t, k1.Public(), k2.Public())
	require.NoError(t, os.Chmod(p, 0o644))
	_, err = node.LoadOrCreateKey(p)
	require.Error(t, err)
	require.NotContains(t, fmt.Sprint(k1), fmt.Sprintf("%x", k1.Marshal()))
}
