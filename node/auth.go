package node

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/zeebo/blake3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/protocol/handshake"
)

// SessionMetadata is the gRPC metadata key carrying the session token.
const SessionMetadata = "session"

// Stateless authentication (DESIGN §5): every node of a cluster shares the node key, and
// from it derives two MAC keys, so that a challenge issued by one node is checked by
// another and a session token opened on one is accepted by all, with no table of
// challenges or sessions anywhere.
//
// A challenge (handshake.NonceSize = 32 bytes, the wire format is unchanged) is
//
//	issued (unix ms, 8 bytes BE) | random (8) | MAC(challengeKey, domain|issued|random)[:16]
//
// Auth checks the MAC, that the challenge is younger than ChallengeTTL (and not from the
// future beyond maxClockSkew), and that this node has not seen it before: a bounded replay
// cache of two generations, each forgotten once it is older than ChallengeTTL (by then its
// challenges are expired anyway) or once it is full. What that leaves open, on purpose: an
// Auth replayed within the TTL on *another* node of the cluster (or on this node after a
// flood filled the cache) opens a second session for the same device. Replaying an Auth
// needs a copy of it, and whoever can read one off the wire can read the session token the
// genuine answer carried, which is worth more; the replay gains an attacker nothing, and
// the node never holds unbounded state to prevent it.
//
// A session token is base64url of
//
//	version (1) | account (32) | device (32) | expires (unix ms, 8 BE) | random (8) | MAC(sessionKey, …)[:16]
//
// checked on every call (MAC, then expiry). Sessions are not revoked: a removed member's
// session stays valid until it expires, and every call checks membership anyway.

const (
	challengeDomain = "hearth/node-challenge/v1\x00"
	sessionDomain   = "hearth/node-session/v1\x00"
	macSize         = 16
	tokenVersion    = 1
	tokenSize       = 1 + crypto.PubKeySize*2 + 8 + 8 + macSize
	// maxClockSkew is how far in the future another node's clock may have dated a
	// challenge.
	maxClockSkew = 5 * time.Second
	// maxReplayGeneration bounds each of the replay cache's two generations.
	maxReplayGeneration = 50_000
)

// session is an authenticated device.
type session struct {
	token   string
	account crypto.PubKey
	device  crypto.PubKey
	expires time.Time
}

// authState holds the derived MAC keys and the replay cache. mu guards the cache; it is
// never held across I/O.
type authState struct {
	challengeKey, sessionKey [32]byte

	mu       sync.Mutex
	cur, old map[[handshake.NonceSize]byte]struct{} // challenges used, newer and older
	curSince time.Time                              // when cur was started
}

func (a *authState) init(nodeKey crypto.PrivKey) {
	seed := nodeKey.Marshal()
	blake3.DeriveKey("hearth node challenge MAC key v1", seed, a.challengeKey[:])
	blake3.DeriveKey("hearth node session MAC key v1", seed, a.sessionKey[:])
	clear(seed)
	a.cur, a.old = map[[handshake.NonceSize]byte]struct{}{}, map[[handshake.NonceSize]byte]struct{}{}
}

func mac(key *[32]byte, domain string, parts ...[]byte) []byte {
	h, _ := blake3.NewKeyed(key[:])
	_, _ = h.Write([]byte(domain))
	for _, p := range parts {
		_, _ = h.Write(p)
	}
	return h.Sum(nil)[:macSize]
}

// newChallenge makes a challenge dated now.
func (a *authState) newChallenge(now time.Time, rnd io.Reader) ([]byte, error) {
	c := make([]byte, handshake.NonceSize)
	binary.BigEndian.PutUint64(c[:8], uint64(now.UnixMilli()))
	if _, err := io.ReadFull(rnd, c[8:16]); err != nil {
		return nil, err
	}
	copy(c[16:], mac(&a.challengeKey, challengeDomain, c[:16]))
	return c, nil
}

var (
	errChallengeForged   = errors.New("not a challenge this cluster issued: call Hello again")
	errChallengeExpired  = errors.New("challenge expired: call Hello again")
	errChallengeReplayed = errors.New("challenge already used: call Hello again")
)

// checkChallenge verifies a challenge's MAC and age and records it as used. It is a
// decoder of untrusted bytes (FuzzChallenge).
func (a *authState) checkChallenge(c []byte, now time.Time, ttl time.Duration) error {
	if len(c) != handshake.NonceSize || subtle.ConstantTimeCompare(c[16:], mac(&a.challengeKey, challengeDomain, c[:16])) != 1 {
		return errChallengeForged
	}
	issued := time.UnixMilli(int64(binary.BigEndian.Uint64(c[:8])))
	if issued.After(now.Add(maxClockSkew)) || !now.Before(issued.Add(ttl)) {
		return errChallengeExpired
	}
	k := [handshake.NonceSize]byte(c)
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.curSince) >= ttl || len(a.cur) >= maxReplayGeneration {
		a.old, a.cur, a.curSince = a.cur, map[[handshake.NonceSize]byte]struct{}{}, now
	}
	if _, ok := a.cur[k]; ok {
		return errChallengeReplayed
	}
	if _, ok := a.old[k]; ok {
		return errChallengeReplayed
	}
	a.cur[k] = struct{}{}
	return nil
}

// newToken makes the session token of a device's session.
func (a *authState) newToken(account, device crypto.PubKey, expires time.Time, rnd io.Reader) (string, error) {
	b := make([]byte, 0, tokenSize)
	b = append(b, tokenVersion)
	b = append(b, account[:]...)
	b = append(b, device[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(expires.UnixMilli()))
	r := make([]byte, 8)
	if _, err := io.ReadFull(rnd, r); err != nil {
		return "", err
	}
	b = append(b, r...)
	b = append(b, mac(&a.sessionKey, sessionDomain, b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

var (
	errTokenInvalid = errors.New("unknown session: authenticate again")
	errTokenExpired = errors.New("expired session: authenticate again")
)

// parseToken verifies a session token (a decoder of untrusted input: FuzzSessionToken).
func (a *authState) parseToken(tok string, now time.Time) (*session, error) {
	if base64.RawURLEncoding.DecodedLen(len(tok)) != tokenSize {
		return nil, errTokenInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != tokenSize || b[0] != tokenVersion {
		return nil, errTokenInvalid
	}
	body := b[:tokenSize-macSize]
	if subtle.ConstantTimeCompare(b[tokenSize-macSize:], mac(&a.sessionKey, sessionDomain, body)) != 1 {
		return nil, errTokenInvalid
	}
	s := &session{token: tok, expires: time.UnixMilli(int64(binary.BigEndian.Uint64(body[65:73])))}
	copy(s.account[:], body[1:33])
	copy(s.device[:], body[33:65])
	if !now.Before(s.expires) {
		return nil, errTokenExpired
	}
	return s, nil
}

// hello issues a fresh challenge; it keeps no state.
func (n *Node) hello(req *syncpb.HelloRequest) (*syncpb.HelloResponse, error) {
	if len(req.ClientNonce) != handshake.NonceSize {
		return nil, status.Errorf(codes.InvalidArgument, "client nonce must be %d bytes", handshake.NonceSize)
	}
	challenge, err := n.auth.newChallenge(n.now(), n.cfg.Rand)
	if err != nil {
		return nil, status.Error(codes.Internal, "no randomness")
	}
	resp, err := handshake.Hello(n.key, req.ClientNonce, challenge)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return resp, nil
}

// authenticate checks a device's proof and opens a session. The challenge is used up
// whatever the outcome.
func (n *Node) authenticate(req *syncpb.AuthRequest) (*syncpb.AuthResponse, error) {
	now := n.now()
	if err := n.auth.checkChallenge(req.Challenge, now, n.cfg.ChallengeTTL); err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	cert, err := handshake.VerifyAuth(req, n.pub)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	expires := now.Add(n.cfg.SessionTTL)
	if err := n.sessions.admit(cert.Account, cert.Device, expires, now); err != nil {
		return nil, err
	}
	tok, err := n.auth.newToken(cert.Account, cert.Device, expires, n.cfg.Rand)
	if err != nil {
		return nil, status.Error(codes.Internal, "no randomness")
	}
	return &syncpb.AuthResponse{Session: tok, Account: cert.Account.Bytes()}, nil
}

type sessionKey struct{}

func sessionOf(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// withSession resolves the session of a call, or fails Unauthenticated.
func (n *Node) withSession(ctx context.Context) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	toks := md.Get(SessionMetadata)
	if len(toks) != 1 || toks[0] == "" {
		return nil, status.Error(codes.Unauthenticated, "no session: authenticate with Hello and Auth")
	}
	now := n.now()
	s, err := n.auth.parseToken(toks[0], now)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	// A session opened on another node of the cluster counts here once it is used here.
	if err := n.sessions.admit(s.account, s.device, s.expires, now); err != nil {
		return nil, err
	}
	return context.WithValue(ctx, sessionKey{}, s), nil
}

// public reports whether a method may be called without a session.
func public(method string) bool {
	return method == "/hearth.sync.Node/Hello" || method == "/hearth.sync.Node/Auth"
}

func (n *Node) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if public(info.FullMethod) {
		if err := n.limiter.allow(ctx, n.now()); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
	sctx, err := n.withSession(ctx)
	if err != nil {
		return nil, n.refused(ctx, err)
	}
	return h(sctx, req)
}

// refused answers a call without a valid session: it counts against its address's budget
// of unauthenticated calls like a Hello, so garbage tokens cannot be sent without bound.
func (n *Node) refused(ctx context.Context, err error) error {
	if lerr := n.limiter.allow(ctx, n.now()); lerr != nil {
		return lerr
	}
	return err
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s authedStream) Context() context.Context { return s.ctx }

func (n *Node) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := n.withSession(ss.Context())
	if err != nil {
		return n.refused(ss.Context(), err)
	}
	return h(srv, authedStream{ServerStream: ss, ctx: ctx})
}
