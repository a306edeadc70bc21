package syncclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/pb/grpccodec"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/handshake"
)

// ErrNodeKeyMismatch: the node's key is not the pinned one. Do not retry or re-pin
// without asking the user.
var ErrNodeKeyMismatch = handshake.ErrNodeKeyMismatch

// SessionMetadata is the gRPC metadata key carrying the session token.
const SessionMetadata = "session"

// Config says how to reach and authenticate to a node.
type Config struct {
	Addr       string         // host:port
	DeviceKey  crypto.PrivKey // signs the node's challenge
	DeviceCert []byte         // account-signed certificate of DeviceKey (crypto.NewDeviceCert)
	// NodeKey is the pinned node key; nil pins the key shown on first contact.
	NodeKey *crypto.PubKey
	// DialOptions are added to the defaults (insecure loopback transport, the gogo codec,
	// message size limits).
	DialOptions []grpc.DialOption
}

// Client is an authenticated connection to a node. It is safe for concurrent use.
type Client struct {
	cfg     Config
	conn    *grpc.ClientConn
	rpc     syncpb.NodeClient
	nodeKey crypto.PubKey
	account crypto.PubKey
	pinned  bool // nodeKey was pinned on first contact by this client
	flight  singleflight.Group

	mu      sync.Mutex // guards session and gen
	session string
	gen     uint64 // bumped by every successful authentication
}

// Dial connects and authenticates. The context bounds the handshake only.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Addr == "" || cfg.DeviceKey.IsZero() || len(cfg.DeviceCert) == 0 {
		return nil, errors.New("syncclient: Config needs Addr, DeviceKey and DeviceCert")
	}
	cert, err := crypto.VerifyDeviceCert(cfg.DeviceCert)
	if err != nil {
		return nil, fmt.Errorf("syncclient: device certificate: %w", err)
	}
	if cert.Device != cfg.DeviceKey.Public() {
		return nil, errors.New("syncclient: the device certificate is for another device key")
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.ForceCodecV2(grpccodec.Codec()),
			grpc.MaxCallRecvMsgSize(protocol.MaxMessageSize+1<<10),
			grpc.MaxCallSendMsgSize(protocol.MaxMessageSize),
		),
	}, cfg.DialOptions...)
	conn, err := grpc.NewClient(cfg.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("syncclient: %w", err)
	}
	c := &Client{cfg: cfg, conn: conn, rpc: syncpb.NewNodeClient(conn), account: cert.Account}
	if cfg.NodeKey != nil {
		c.nodeKey = *cfg.NodeKey
	}
	if err := c.authenticate(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection; open streams end. It is idempotent.
func (c *Client) Close() error {
	err := c.conn.Close()
	if status.Code(err) == codes.Canceled { // already closed
		return nil
	}
	return err
}

// NodeKey is the node's key: the pinned one, or the one pinned on first contact.
func (c *Client) NodeKey() crypto.PubKey { return c.nodeKey }

// PinnedOnFirstContact reports whether NodeKey was learned (not given) by this client:
// the caller should persist it.
func (c *Client) PinnedOnFirstContact() bool { return c.pinned }

// Account is the account the node authenticated.
func (c *Client) Account() crypto.PubKey { return c.account }

// authenticate runs Hello and Auth and stores the session.
func (c *Client) authenticate(ctx context.Context) error {
	nonce, err := handshake.NewNonce(nil)
	if err != nil {
		return err
	}
	hello, err := c.rpc.Hello(ctx, &syncpb.HelloRequest{ClientNonce: nonce})
	if err != nil {
		return fmt.Errorf("syncclient: hello %s: %w", c.cfg.Addr, err)
	}
	var pin *crypto.PubKey
	if !c.nodeKey.IsZero() {
		k := c.nodeKey
		pin = &k
	}
	key, err := handshake.VerifyHello(hello, nonce, pin)
	if err != nil {
		return fmt.Errorf("syncclient: node %s: %w", c.cfg.Addr, err)
	}
	auth, err := c.rpc.Auth(ctx, handshake.Auth(c.cfg.DeviceKey, c.cfg.DeviceCert, hello.Challenge, key))
	if err != nil {
		return fmt.Errorf("syncclient: auth at %s: %w", c.cfg.Addr, err)
	}
	if pin == nil {
		c.nodeKey, c.pinned = key, true // first contact: only during Dial, before sharing c
	}
	c.mu.Lock()
	c.session = auth.Session
	c.gen++
	c.mu.Unlock()
	return nil
}

func (c *Client) current() (string, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session, c.gen
}

// reauth authenticates again unless someone did since gen; concurrent callers share one
// handshake.
func (c *Client) reauth(ctx context.Context, gen uint64) error {
	if _, cur := c.current(); cur != gen {
		return nil
	}
	_, err, _ := c.flight.Do("auth", func() (any, error) {
		if _, cur := c.current(); cur != gen {
			return nil, nil
		}
		return nil, c.authenticate(ctx)
	})
	return err
}

func withSession(ctx context.Context, s string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, SessionMetadata, s)
}

// call runs fn with the session and retries it once after re-authenticating when the
// node does not know the session.
func call[T any](ctx context.Context, c *Client, fn func(context.Context) (T, error)) (T, error) {
	s, gen := c.current()
	out, err := fn(withSession(ctx, s))
	if status.Code(err) != codes.Unauthenticated {
		return out, err
	}
	if err := c.reauth(ctx, gen); err != nil {
		var zero T
		return zero, err
	}
	s, _ = c.current()
	return fn(withSession(ctx, s))
}

// SpacePush creates a space on the node from its signed header and author-signed root.
func (c *Client) SpacePush(ctx context.Context, header, aclRoot []byte) (*syncpb.AclAddResponse, error) {
	return call(ctx, c, func(ctx context.Context) (*syncpb.AclAddResponse, error) {
		return c.rpc.SpacePush(ctx, &syncpb.SpacePush{Header: header, AclRoot: aclRoot})
	})
}

// SpacePull returns the header and the first accepted ACL records (bounded by the message
// size: continue with AclLog after the last one's sequence number).
func (c *Client) SpacePull(ctx context.Context, space crypto.SpaceID) (*syncpb.SpacePullResponse, error) {
	return call(ctx, c, func(ctx context.Context) (*syncpb.SpacePullResponse, error) {
		return c.rpc.SpacePull(ctx, &syncpb.SpacePull{SpaceId: string(space)})
	})
}

// AclAdd submits an author-signed record (the caller must be its author).
func (c *Client) AclAdd(ctx context.Context, space crypto.SpaceID, record []byte) (*syncpb.AclAddResponse, error) {
	return call(ctx, c, func(ctx context.Context) (*syncpb.AclAddResponse, error) {
		return c.rpc.AclAdd(ctx, &syncpb.AclAdd{SpaceId: string(space), Record: record})
	})
}

// AclLog returns accepted records after afterSeq (bounded: call again after the last one
// until Status.AclSeq is reached) and the space's status.
func (c *Client) AclLog(ctx context.Context, space crypto.SpaceID, afterSeq uint64) (*syncpb.AclLogResponse, error) {
	return call(ctx, c, func(ctx context.Context) (*syncpb.AclLogResponse, error) {
		return c.rpc.AclLog(ctx, &syncpb.AclLogRequest{SpaceId: string(space), AfterSeq: afterSeq})
	})
}

// InviteLookup reads a space's header and ACL with an invite key's signature over
// acl.JoinInviteMessage(space, invite, this account).
func (c *Client) InviteLookup(ctx context.Context, space crypto.SpaceID, invite crypto.RecordID, signature []byte) (*syncpb.SpacePullResponse, error) {
	return call(ctx, c, func(ctx context.Context) (*syncpb.SpacePullResponse, error) {
		return c.rpc.InviteLookup(ctx, &syncpb.InviteLookupRequest{SpaceId: string(space), InviteId: string(invite), Signature: signature})
	})
}

// SpaceDelete sends an owner-signed delete (or cancel) request (space.NewDeleteRequest).
func (c *Client) SpaceDelete(ctx context.Context, request []byte) (*syncpb.SpaceStatus, error) {
	return call(ctx, c, func(ctx context.Context) (*syncpb.SpaceStatus, error) {
		return c.rpc.SpaceDelete(ctx, &syncpb.SpaceDelete{Request: request})
	})
}

// SpaceStatus returns a space's status (NOT_FOUND for a space the node does not have).
func (c *Client) SpaceStatus(ctx context.Context, space crypto.SpaceID) (*syncpb.SpaceStatus, error) {
	return call(ctx, c, func(ctx context.Context) (*syncpb.SpaceStatus, error) {
		return c.rpc.GetSpaceStatus(ctx, &syncpb.SpaceStatusRequest{SpaceId: string(space)})
	})
}

// HeadUpdate pushes new changes of one object (parents first or already on the node).
// The Ack is STORED once the node's write is durable, or REJECTED with a reason.
func (c *Client) HeadUpdate(ctx context.Context, m *syncpb.HeadUpdate) (*syncpb.Ack, error) {
	return call(ctx, c, func(ctx context.Context) (*syncpb.Ack, error) { return c.rpc.HeadUpdate(ctx, m) })
}

// Fetch returns the changes this device lacks given its heads, parents first; fetch
// again while Truncated.
func (c *Client) Fetch(ctx context.Context, m *syncpb.FetchRequest) (*syncpb.FetchResponse, error) {
	return call(ctx, c, func(ctx context.Context) (*syncpb.FetchResponse, error) { return c.rpc.Fetch(ctx, m) })
}

// FetchObjects streams what this device lacks of several objects of one space (at most
// protocol.MaxFetchObjects), calling fn with each object's answer in request order; an
// object may come in several answers, Truncated on all but its last. fn's error ends
// the stream and is returned.
func (c *Client) FetchObjects(ctx context.Context, m *syncpb.FetchObjectsRequest, fn func(*syncpb.FetchResponse) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when fn fails
	st, err := call(ctx, c, func(ctx context.Context) (syncpb.Node_FetchObjectsClient, error) {
		st, err := c.rpc.FetchObjects(ctx, m)
		if err != nil {
			return nil, err
		}
		// A refused session shows on the first message: read it here, so call
		// re-authenticates once as for a unary call.
		first, err := st.Recv()
		if err != nil {
			return nil, err
		}
		return &firstPage{Node_FetchObjectsClient: st, first: first}, nil
	})
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	for {
		page, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, r := range page.Objects {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
}

// firstPage is a FetchObjects stream whose first page was read already.
type firstPage struct {
	syncpb.Node_FetchObjectsClient
	first *syncpb.FetchObjectsPage
}

func (f *firstPage) Recv() (*syncpb.FetchObjectsPage, error) {
	if p := f.first; p != nil {
		f.first = nil
		return p, nil
	}
	return f.Node_FetchObjectsClient.Recv()
}

// HeadSync sends one round of range-diff ranges (protocol/diff).
func (c *Client) HeadSync(ctx context.Context, m *syncpb.HeadSyncRequest) (*syncpb.HeadSyncResponse, error) {
	return call(ctx, c, func(ctx context.Context) (*syncpb.HeadSyncResponse, error) { return c.rpc.HeadSync(ctx, m) })
}

// Watch changes which spaces this session's push streams carry head updates for (the
// device loaded or unloaded them), without reopening them. It answers the status of each
// added space the node serves; FailedPrecondition means no stream of this session is
// open (resubscribe).
func (c *Client) Watch(ctx context.Context, add, remove []crypto.SpaceID) (*syncpb.WatchResponse, error) {
	m := &syncpb.WatchRequest{}
	for _, id := range add {
		m.Add = append(m.Add, string(id))
	}
	for _, id := range remove {
		m.Remove = append(m.Remove, string(id))
	}
	return call(ctx, c, func(ctx context.Context) (*syncpb.WatchResponse, error) { return c.rpc.Watch(ctx, m) })
}

// HeadDigests returns the whole-range head-sync digest of each space (at most
// protocol.MaxDigestSpaces per call), in the order asked.
func (c *Client) HeadDigests(ctx context.Context, spaces []crypto.SpaceID) (*syncpb.HeadDigestsResponse, error) {
	m := &syncpb.HeadDigestsRequest{}
	for _, id := range spaces {
		m.Spaces = append(m.Spaces, string(id))
	}
	return call(ctx, c, func(ctx context.Context) (*syncpb.HeadDigestsResponse, error) { return c.rpc.HeadDigests(ctx, m) })
}
