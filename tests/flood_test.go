package tests

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
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/pb/grpccodec"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/handshake"
	"github.com/hearth-sync/hearth/protocol/objtree"
)

// helloFlood sends n Hellos, and a garbage Auth every tenth call, to the node at addr from
// the loopback address src, on 8 connections' worth of goroutines; it returns how many
// the node refused as over the address's rate.
func helloFlood(t *testing.T, addr, src string, n int) int64 {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpccodec.Codec())),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return d.DialContext(ctx, "tcp", a) }))
	require.NoError(t, err)
	defer conn.Close()
	c := syncpb.NewNodeClient(conn)
	nonce := make([]byte, handshake.NonceSize)
	var sent, refused atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := sent.Add(1); i <= int64(n); i = sent.Add(1) {
				var err error
				if i%10 == 0 {
					_, err = c.Auth(context.Background(), &syncpb.AuthRequest{Challenge: nonce, DeviceCert: []byte("x"), Signature: []byte("y")})
				} else {
					_, err = c.Hello(context.Background(), &syncpb.HelloRequest{ClientNonce: nonce})
				}
				if status.Code(err) == codes.ResourceExhausted {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d unauthenticated calls from %s in %v: %d refused", n, src, time.Since(began), refused.Load())
	return refused.Load()
}

// TestHelloFloodRealNode (issue 16.2): a real `hearth node` flooded with 10,000 Hellos
// and garbage Auths from one address keeps serving: two devices (on another address)
// set up a space and sync during the flood, and a new device on the flooding address
// itself connects and syncs after it.
func TestHelloFloodRealNode(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	flooded := make(chan int64, 1)
	go func() { flooded <- helloFlood(t, node.addr, "127.0.0.2", 10_000) }()

	spA, spB := pairOn(t, node.addr, node.addr)
	ctx := context.Background()
	obj, err := spA.CreateObject(ctx, "note", space.Details{"name": objtree.String("hello")})
	require.NoError(t, err)
	h, err := spA.Heads(ctx, obj)
	require.NoError(t, err)
	waitHeads(t, spB, obj, h)
	require.Greater(t, <-flooded, int64(9_000), "the flooding address was held to its rate")

	// The flood from the devices' own address: devices that start right after it get in.
	helloFlood(t, node.addr, "127.0.0.1", 10_000)
	spC, spD := pairOn(t, node.addr, node.addr)
	obj, err = spC.CreateObject(ctx, "note", space.Details{"name": objtree.String("after")})
	require.NoError(t, err)
	h, err = spC.Heads(ctx, obj)
	require.NoError(t, err)
	waitHeads(t, spD, obj, h)
}
