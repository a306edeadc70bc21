package node_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/grpccodec"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/handshake"
)

// rawFrom is an unauthenticated client whose connections come from the loopback address
// src (the whole of 127.0.0.0/8 is this machine), so a test can play several hosts.
func rawFrom(t *testing.T, addr, src string) syncpb.NodeClient {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpccodec.Codec())),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return d.DialContext(ctx, "tcp", a) }))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return syncpb.NewNodeClient(conn)
}

// flood sends n Hellos and n/10 garbage Auths (and as many calls with forged session
// tokens) from one client, on 8 goroutines, and counts the refusals.
func flood(t *testing.T, c syncpb.NodeClient, n int) (limited int64) {
	var wg sync.WaitGroup
	var sent, lim atomic.Int64
	nonce := make([]byte, handshake.NonceSize)
	began := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= int64(n) {
				i := sent.Load()
				var err error
				switch {
				case i%10 == 0:
					_, err = c.Auth(bg, &syncpb.AuthRequest{Challenge: make([]byte, 32), DeviceCert: []byte("garbage"), Signature: []byte("x")})
				case i%10 == 1:
					_, err = c.GetSpaceStatus(metadata.AppendToOutgoingContext(bg, node.SessionMetadata, "forged"), &syncpb.SpaceStatusRequest{SpaceId: "x"})
				default:
					_, err = c.Hello(bg, &syncpb.HelloRequest{ClientNonce: nonce})
				}
				if status.Code(err) == codes.ResourceExhausted {
					lim.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("flood: %d calls in %v, %d refused as over the address's rate", n, time.Since(began), lim.Load())
	return lim.Load()
}

// syncs checks that a device connects (retrying while its address is over the rate), makes
// a space and writes to it, and that another device of its account reads the write.
func syncs(t *testing.T, e *env, d device) {
	t.Helper()
	k := e.node.Key()
	var c *syncclient.Client
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		c, err = syncclient.Dial(bg, syncclient.Config{Addr: e.node.Addr(), DeviceKey: d.key, DeviceCert: d.cert, NodeKey: &k})
		if err == nil {
			break
		}
		require.Equal(t, codes.ResourceExhausted, status.Code(err), "only the rate limit may refuse a real device: %v", err)
		require.True(t, time.Now().Before(deadline), "the device could not connect: %v", err)
		time.Sleep(200 * time.Millisecond)
	}
	defer c.Close()
	s := createSpace(t, c, d)
	o, root := s.newObject(d)
	ack, err := c.HeadUpdate(bg, o.update(root))
	require.NoError(t, err)
	require.Equal(t, syncpb.AckStatus_ACK_STATUS_STORED, ack.Status, ack.Reason)
	other := e.dial(newDevice(t, d.account))
	f, err := other.Fetch(bg, &syncpb.FetchRequest{SpaceId: string(s.id), ObjectId: string(o.id)})
	require.NoError(t, err)
	require.Equal(t, [][]byte{root}, f.Changes)
}

// TestHelloFlood (issue 16.2): 10,000 Hellos (with garbage Auths and forged sessions)
// from one address hold no state on the node and do not lock a device out: a device on
// another address connects and syncs during the flood, and a device on the flooding
// address itself connects once the flood stops.
func TestHelloFlood(t *testing.T) {
	e := startNode(t, store.NewMemory(), crypto.PrivKey{}, func(c *node.Config) { c.Clock = time.Now })
	attacker := rawFrom(t, e.node.Addr(), "127.0.0.2")

	done := make(chan int64)
	go func() { done <- flood(t, attacker, 10_000) }()
	syncs(t, e, newAccount(t)) // from 127.0.0.1, while the flood runs
	limited := <-done
	require.Greater(t, limited, int64(9_000), "the flooding address is held to its rate")

	// The flood from the device's own address: it gets in once the flood is over.
	flood(t, e.raw(), 10_000)
	syncs(t, e, newAccount(t))
}

// TestStatelessHandshake: the challenge of one node is accepted by another node of the
// cluster (same key), and a session opened on one works on the other; a cluster with
// another key accepts neither.
func TestStatelessHandshake(t *testing.T) {
	st := store.NewMemory()
	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	n1 := startNode(t, st, key, nil)
	n2 := startNode(t, st, key, nil)
	foreign := startNode(t, st, crypto.PrivKey{}, nil)
	d := newAccount(t)
	r1, r2, rf := n1.raw(), n2.raw(), foreign.raw()

	nonce, _ := handshake.NewNonce(nil)
	h, err := r1.Hello(bg, &syncpb.HelloRequest{ClientNonce: nonce})
	require.NoError(t, err)
	_, err = rf.Auth(bg, handshake.Auth(d.key, d.cert, h.Challenge, foreign.node.Key()))
	requireCode(t, codes.Unauthenticated, err, "another cluster's node")
	auth, err := r2.Auth(bg, handshake.Auth(d.key, d.cert, h.Challenge, key.Public()))
	require.NoError(t, err, "node 1's challenge, checked on node 2")
	_, err = r2.Auth(bg, handshake.Auth(d.key, d.cert, h.Challenge, key.Public()))
	requireCode(t, codes.Unauthenticated, err, "used once on node 2")

	sctx := metadata.AppendToOutgoingContext(bg, node.SessionMetadata, auth.Session)
	for _, r := range []syncpb.NodeClient{r1, r2} {
		_, err = r.GetSpaceStatus(sctx, &syncpb.SpaceStatusRequest{SpaceId: string(crypto.Sum([]byte("x")))})
		require.NoError(t, err, "a session from node 2 works everywhere in the cluster")
	}
	_, err = rf.GetSpaceStatus(sctx, &syncpb.SpaceStatusRequest{SpaceId: string(crypto.Sum([]byte("x")))})
	requireCode(t, codes.Unauthenticated, err)
}
