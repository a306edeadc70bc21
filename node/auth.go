package node

import (
	"context"
	"encoding/base64"
	"io"
	"sync"
	"time"

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

// session is an authenticated device.
type session struct {
	token   string
	account crypto.PubKey
	device  crypto.PubKey
	expires time.Time
}

// authState holds the handshake state. mu guards the maps; it is never held across I/O.
type authState struct {
	mu         sync.Mutex
	challenges map[string]time.Time // challenge -> expiry; deleted on first use
	sessions   map[string]*session  // token -> session
}

func (a *authState) init() {
	a.challenges = map[string]time.Time{}
	a.sessions = map[string]*session{}
}

func pruneLocked[V any](m map[string]V, expired func(V) bool) {
	for k, v := range m {
		if expired(v) {
			delete(m, k)
		}
	}
}

// hello issues a fresh challenge.
func (n *Node) hello(req *syncpb.HelloRequest) (*syncpb.HelloResponse, error) {
	if len(req.ClientNonce) != handshake.NonceSize {
		return nil, status.Errorf(codes.InvalidArgument, "client nonce must be %d bytes", handshake.NonceSize)
	}
	challenge, err := handshake.NewNonce(n.cfg.Rand)
	if err != nil {
		return nil, status.Error(codes.Internal, "no randomness")
	}
	resp, err := handshake.Hello(n.key, req.ClientNonce, challenge)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	now := n.now()
	a := &n.auth
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.challenges) >= maxPendingChallenges {
		pruneLocked(a.challenges, func(exp time.Time) bool { return !now.Before(exp) })
		if len(a.challenges) >= maxPendingChallenges {
			return nil, status.Error(codes.ResourceExhausted, "too many handshakes in progress: retry later")
		}
	}
	a.challenges[string(challenge)] = now.Add(n.cfg.ChallengeTTL)
	return resp, nil
}

// authenticate checks a device's proof and opens a session. The challenge is consumed
// whatever the outcome.
func (n *Node) authenticate(req *syncpb.AuthRequest) (*syncpb.AuthResponse, error) {
	now := n.now()
	a := &n.auth
	a.mu.Lock()
	exp, ok := a.challenges[string(req.Challenge)]
	delete(a.challenges, string(req.Challenge))
	a.mu.Unlock()
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "unknown or already used challenge: call Hello again")
	}
	if !now.Before(exp) {
		return nil, status.Error(codes.Unauthenticated, "challenge expired: call Hello again")
	}
	cert, err := handshake.VerifyAuth(req, n.pub)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	tok := make([]byte, 32)
	if _, err := io.ReadFull(n.cfg.Rand, tok); err != nil {
		return nil, status.Error(codes.Internal, "no randomness")
	}
	s := &session{token: base64.RawURLEncoding.EncodeToString(tok), account: cert.Account, device: cert.Device, expires: now.Add(n.cfg.SessionTTL)}
	a.mu.Lock()
	pruneLocked(a.sessions, func(s *session) bool { return !now.Before(s.expires) })
	a.sessions[s.token] = s
	a.mu.Unlock()
	return &syncpb.AuthResponse{Session: s.token, Account: cert.Account.Bytes()}, nil
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
	a := &n.auth
	a.mu.Lock()
	s, ok := a.sessions[toks[0]]
	if ok && !now.Before(s.expires) {
		delete(a.sessions, toks[0])
		ok = false
	}
	a.mu.Unlock()
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "unknown or expired session: authenticate again")
	}
	return context.WithValue(ctx, sessionKey{}, s), nil
}

// public reports whether a method may be called without a session.
func public(method string) bool {
	return method == "/hearth.sync.Node/Hello" || method == "/hearth.sync.Node/Auth"
}

func (n *Node) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if public(info.FullMethod) {
		return h(ctx, req)
	}
	ctx, err := n.withSession(ctx)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s authedStream) Context() context.Context { return s.ctx }

func (n *Node) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := n.withSession(ss.Context())
	if err != nil {
		return err
	}
	return h(srv, authedStream{ServerStream: ss, ctx: ctx})
}
