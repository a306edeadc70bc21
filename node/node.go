package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb/grpccodec"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Defaults of Config.
const (
	DefaultDeletionGrace   = 7 * 24 * time.Hour
	DefaultJanitorInterval = time.Minute
	DefaultSessionTTL      = 24 * time.Hour
	DefaultChallengeTTL    = time.Minute
	DefaultSubscriberQueue = 256
	DefaultBlobQuota       = 1 << 30 // bytes of blobs per space

	// Quotas per identity (DESIGN §5, issue 16.4): what the spaces one identity created
	// may hold, and the sessions and streams it may hold on one node.
	DefaultMaxSpaces         = 100      // live spaces an identity created
	DefaultChangeQuota       = 1 << 30  // bytes of changes in an identity's spaces
	DefaultIdentityBlobQuota = 10 << 30 // bytes of blobs in an identity's spaces
	DefaultMaxSessions       = 32       // devices of one account with a live session here
	DefaultMaxStreams        = 4        // concurrent Subscribe streams of one session
)

// Config is what a Node needs. Key and Store are required.
type Config struct {
	// Key is the node key: it signs Hello answers and countersigns ACL records.
	Key crypto.PrivKey
	// Store holds the spaces. The caller owns it: Close does not close it.
	Store store.Store
	// Listen is the TCP address to listen on ("127.0.0.1:0" picks a free port); ignored
	// when Listener is set.
	Listen   string
	Listener net.Listener
	// Clock is the time source (time.Now when nil).
	Clock func() time.Time
	// Rand is the source of challenges and session tokens (crypto/rand when nil).
	Rand io.Reader
	// DeletionGrace is how long a space stays pending deletion (the owner may cancel).
	DeletionGrace time.Duration
	// JanitorInterval is how often due deletions are carried out.
	JanitorInterval time.Duration
	// SessionTTL and ChallengeTTL bound the life of a session and of a Hello challenge.
	SessionTTL, ChallengeTTL time.Duration
	// SubscriberQueue bounds the pushes waiting for one Subscribe stream; a stream that
	// falls further behind is disconnected.
	SubscriberQueue int
	// BlobQuota is how many bytes of blobs (encrypted file chunks) one space may store.
	BlobQuota int64
	// MaxSpaces, ChangeQuota and IdentityBlobQuota bound what the spaces one identity
	// created hold on the node (a space counts against its creator): how many, the bytes
	// of their changes, the bytes of their blobs. Writes past them are refused with
	// QUOTA_EXCEEDED (syncpb.ReasonQuotaExceeded). 0 takes the default; negative: no limit.
	MaxSpaces, ChangeQuota, IdentityBlobQuota int64
	// MaxSessions bounds the devices of one account holding a live session on this node
	// (a device's newer sessions count once); MaxStreams the Subscribe streams open at
	// once on one session. 0 takes the default; negative: no limit.
	MaxSessions, MaxStreams int
	// UnauthRate and UnauthBurst bound the unauthenticated calls (Hello, Auth, calls
	// with a session that does not verify) one source address may make: UnauthBurst at
	// once, refilled at UnauthRate per second (see ratelimit.go).
	UnauthRate  float64
	UnauthBurst int
	// HeadSetBudget bounds the head-sync elements (one per object) kept in memory across
	// spaces (DefaultHeadSetBudget when 0).
	HeadSetBudget int
	// FetchesPerSession bounds the Fetch and FetchObjects pages one session has in
	// the making or in flight (DefaultFetchesPerSession when 0), FetchWorkers the
	// pages read from the store at once on the whole node (DefaultFetchWorkers when
	// 0): together they bound the memory fetches take (fetch.go).
	FetchesPerSession, FetchWorkers int
	Logger                          *slog.Logger
}

func (c *Config) defaults() {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.DeletionGrace <= 0 {
		c.DeletionGrace = DefaultDeletionGrace
	}
	if c.JanitorInterval <= 0 {
		c.JanitorInterval = DefaultJanitorInterval
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.ChallengeTTL <= 0 {
		c.ChallengeTTL = DefaultChallengeTTL
	}
	if c.SubscriberQueue <= 0 {
		c.SubscriberQueue = DefaultSubscriberQueue
	}
	if c.BlobQuota <= 0 {
		c.BlobQuota = DefaultBlobQuota
	}
	c.MaxSpaces = orDefault(c.MaxSpaces, DefaultMaxSpaces)
	c.ChangeQuota = orDefault(c.ChangeQuota, DefaultChangeQuota)
	c.IdentityBlobQuota = orDefault(c.IdentityBlobQuota, DefaultIdentityBlobQuota)
	c.MaxSessions = orDefault(c.MaxSessions, DefaultMaxSessions)
	c.MaxStreams = orDefault(c.MaxStreams, DefaultMaxStreams)
	if c.UnauthRate <= 0 {
		c.UnauthRate = DefaultUnauthRate
	}
	if c.UnauthBurst <= 0 {
		c.UnauthBurst = DefaultUnauthBurst
	}
	if c.FetchesPerSession <= 0 {
		c.FetchesPerSession = DefaultFetchesPerSession
	}
	if c.FetchWorkers <= 0 {
		c.FetchWorkers = DefaultFetchWorkers
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Node is a running sync node.
type Node struct {
	cfg    Config
	key    crypto.PrivKey
	pub    crypto.PubKey
	store  store.Store
	log    *slog.Logger
	lis    net.Listener
	server *grpc.Server

	ctx    context.Context // cancelled by Close: ends streams and the janitor
	cancel context.CancelFunc
	wg     sync.WaitGroup // the serve goroutine and the janitor

	// instance names this node process among the nodes of a shared store (leases).
	instance string

	feedUp   chan struct{} // closed once the store's feed first listens
	feedOnce sync.Once

	auth     authState
	limiter  limiter
	sessions sessionTable
	spaces   spaceCache
	hub      hub
	heads    headSets
	fetches  fetchGate
	counts   callCounts

	closeOnce sync.Once
}

var _ syncpb.NodeServer = (*service)(nil)

// Start listens and serves until Close.
func Start(cfg Config) (*Node, error) {
	if cfg.Key.IsZero() {
		return nil, errors.New("node: Config.Key is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("node: Config.Store is required")
	}
	cfg.defaults()
	lis := cfg.Listener
	if lis == nil {
		var err error
		if lis, err = net.Listen("tcp", cfg.Listen); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, key: cfg.Key, pub: cfg.Key.Public(), store: cacheStatuses(cfg.Store), log: cfg.Logger, lis: lis,
		ctx: ctx, cancel: cancel, feedUp: make(chan struct{}),
	}
	inst := make([]byte, 8)
	_, _ = rand.Read(inst) // never fails (crypto/rand)
	n.instance = hex.EncodeToString(inst)
	n.auth.init(cfg.Key)
	n.limiter.init(cfg.UnauthRate, cfg.UnauthBurst)
	n.sessions.init(cfg.MaxSessions)
	n.spaces.init()
	n.hub.init()
	n.heads.init(cfg.Store, cfg.HeadSetBudget)
	n.fetches.init(cfg.FetchesPerSession, cfg.FetchWorkers)
	n.server = grpc.NewServer(
		grpc.ForceServerCodecV2(grpccodec.Codec()),
		grpc.MaxRecvMsgSize(protocol.MaxMessageSize),
		grpc.MaxSendMsgSize(protocol.MaxMessageSize+maxPushOverhead),
		// Streams one connection may hold open at once: a client needs a
		// handful (a subscription, a fetch, a push), so 256 is generous and
		// still bounds what one hostile connection can make the node track.
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		grpc.ChainUnaryInterceptor(n.countUnary, n.unaryAuth),
		grpc.ChainStreamInterceptor(n.countStream, n.streamAuth),
	)
	syncpb.RegisterNodeServer(n.server, &service{n: n})
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.server.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			n.log.Error("node: serve", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		n.janitor()
	}()
	if f, ok := cfg.Store.(store.Feed); ok {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.watch(f)
		}()
	}
	return n, nil
}

// maxPushOverhead is the framing a Push adds around a HeadUpdate of MaxMessageSize.
const maxPushOverhead = 1 << 10

// maxStreamsPerConn caps the streams one connection holds open at once.
const maxStreamsPerConn = 256

// Addr is the address the node listens on.
func (n *Node) Addr() string { return n.lis.Addr().String() }

// Key is the node's public key (clients pin it).
func (n *Node) Key() crypto.PubKey { return n.pub }

// Close stops the node: it cancels open streams and the janitor, stops the gRPC server
// (in-flight unary calls get a short grace) and waits for every goroutine it started. It
// does not close the store. Close is idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		done := make(chan struct{})
		go func() { n.server.GracefulStop(); close(done) }()
		t := time.NewTimer(2 * time.Second)
		select {
		case <-done:
		case <-t.C:
			n.server.Stop()
			<-done
		}
		t.Stop()
		n.wg.Wait()
	})
	return nil
}

func (n *Node) now() time.Time { return n.cfg.Clock() }
