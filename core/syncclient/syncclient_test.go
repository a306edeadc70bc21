package syncclient_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBackoff(t *testing.T) {
	b := syncclient.Backoff{Initial: 100 * time.Millisecond, Rand: func() float64 { return 0.999 }}
	prev := time.Duration(0)
	for k := range 40 {
		d := b.Delay(k)
		require.LessOrEqual(t, d, syncclient.MaxBackoff, "attempt %d", k)
		require.GreaterOrEqual(t, d, prev/2)
		prev = d
	}
	require.Greater(t, b.Delay(40), 9*time.Second, "reaches the cap")
	low := syncclient.Backoff{Initial: 100 * time.Millisecond, Rand: func() float64 { return 0 }}
	require.Equal(t, 50*time.Millisecond, low.Delay(0), "jitter spans [d/2, d)")
	require.LessOrEqual(t, syncclient.Backoff{Max: time.Hour}.Delay(100), syncclient.MaxBackoff, "the cap cannot be raised")
}

func start(t *testing.T, key crypto.PrivKey, st store.Store, addr string) *node.Node {
	t.Helper()
	n, err := node.Start(node.Config{Key: key, Store: st, Listen: addr})
	require.NoError(t, err)
	return n
}

func device(t *testing.T) (crypto.PrivKey, []byte) {
	acc, err := crypto.GenerateKey()
	require.NoError(t, err)
	d, err := crypto.GenerateKey()
	require.NoError(t, err)
	cert, err := crypto.NewDeviceCert(acc, d.Public(), 1)
	require.NoError(t, err)
	return d, cert
}

// TestReconnect: a Reconnect loop pins the node key on first contact, survives a node
// restart (sessions forgotten, stream broken) and refuses a node with another key.
func TestReconnect(t *testing.T) {
	key, _ := crypto.GenerateKey()
	st := store.NewMemory()
	n := start(t, key, st, "127.0.0.1:0")
	addr := n.Addr()
	dk, cert := device(t)

	var pinned atomic.Value
	var sleeps atomic.Int32
	var rounds atomic.Int32
	restarted := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := syncclient.Reconnect{
		Config: syncclient.Config{Addr: addr, DeviceKey: dk, DeviceCert: cert},
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps.Add(1)
			require.LessOrEqual(t, d, syncclient.MaxBackoff)
			select {
			case <-time.After(20 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		OnPin: func(k crypto.PubKey) { pinned.Store(k) },
	}
	err := r.Run(ctx, func(ctx context.Context, c *syncclient.Client) error {
		switch rounds.Add(1) {
		case 1:
			require.True(t, c.PinnedOnFirstContact())
			sub, err := c.Subscribe(ctx, nil)
			require.NoError(t, err)
			defer sub.Close()
			// Restart the node under the stream.
			go func() {
				n.Close()
				n = start(t, key, st, addr)
				close(restarted)
			}()
			for {
				if _, err := sub.Recv(); err != nil {
					return err
				}
			}
		default:
			<-restarted
			require.False(t, c.PinnedOnFirstContact(), "later dials check the pinned key")
			_, err := c.SpaceStatus(ctx, crypto.SpaceID(crypto.Sum([]byte("x"))))
			return err
		}
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, rounds.Load(), int32(2))
	require.GreaterOrEqual(t, sleeps.Load(), int32(1))
	require.Equal(t, key.Public(), pinned.Load())
	n.Close()

	// Another node on the same address with another key: a clear, final error.
	other, _ := crypto.GenerateKey()
	n2 := start(t, other, store.NewMemory(), addr)
	defer n2.Close()
	k := key.Public()
	r.Config.NodeKey = &k
	err = r.Run(ctx, func(context.Context, *syncclient.Client) error { return nil })
	require.ErrorIs(t, err, syncclient.ErrNodeKeyMismatch)
}

// TestReconnectGivesUp: non-retryable errors end the loop; retryable ones back off.
func TestReconnectGivesUp(t *testing.T) {
	calls := 0
	r := syncclient.Reconnect{
		Dial: func(context.Context, syncclient.Config) (*syncclient.Client, error) {
			calls++
			if calls < 3 {
				return nil, status.Error(codes.Unavailable, "down")
			}
			return nil, status.Error(codes.PermissionDenied, "no")
		},
		Sleep: func(context.Context, time.Duration) error { return nil },
	}
	err := r.Run(context.Background(), nil)
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	require.Equal(t, 3, calls)
	require.True(t, syncclient.Retryable(status.Error(codes.Unavailable, "")))
	require.False(t, syncclient.Retryable(syncclient.ErrNodeKeyMismatch))
	require.False(t, syncclient.Retryable(errors.New("other")))
}

func TestDialErrors(t *testing.T) {
	dk, cert := device(t)
	_, err := syncclient.Dial(context.Background(), syncclient.Config{Addr: "127.0.0.1:1"})
	require.Error(t, err)
	other, _ := crypto.GenerateKey()
	_, err = syncclient.Dial(context.Background(), syncclient.Config{Addr: "127.0.0.1:1", DeviceKey: other, DeviceCert: cert})
	require.ErrorContains(t, err, "another device key")
	// Nothing listens: Unavailable, retryable.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	lis.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = syncclient.Dial(ctx, syncclient.Config{Addr: addr, DeviceKey: dk, DeviceCert: cert})
	require.Error(t, err)
	require.True(t, syncclient.Retryable(err), "%v", err)
}
