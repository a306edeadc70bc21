package syncclient

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Subscription is an open push stream. Recv is for one goroutine; Close may be called
// from any.
type Subscription struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	req    *syncpb.SubscribeRequest
	stream syncpb.Node_SubscribeClient
	gen    uint64
	got    bool // a message arrived (then Unauthenticated is not "node restarted")
}

// Subscribe opens the account's push stream: AclUpdate and SpaceStatus for every space
// of the account (the stream starts with each one's status), HeadUpdate for spaces.
// It ends with an error when the node goes away or when this subscriber fell behind
// (codes.ResourceExhausted): then resubscribe and head-sync. Close it when done.
// It returns once the node has registered the stream (its headers arrived), so a
// Watch right after it finds the stream.
func (c *Client) Subscribe(ctx context.Context, spaces []crypto.SpaceID) (*Subscription, error) {
	req := &syncpb.SubscribeRequest{}
	for _, s := range spaces {
		req.Spaces = append(req.Spaces, string(s))
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Subscription{c: c, ctx: ctx, cancel: cancel, req: req}
	if err := s.open(); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

func (s *Subscription) open() error {
	tok, gen := s.c.current()
	st, err := s.c.rpc.Subscribe(withSession(s.ctx, tok), s.req)
	if err != nil {
		return err
	}
	// The node sends its headers once the stream is registered. No headers and no
	// error: the stream ended at once, and Recv reports why.
	if _, err := st.Header(); err != nil {
		return err
	}
	s.stream, s.gen = st, gen
	return nil
}

// Recv returns the next push. A stream refused as Unauthenticated before its first
// message (the node restarted) is re-authenticated and reopened once.
func (s *Subscription) Recv() (*syncpb.Push, error) {
	p, err := s.stream.Recv()
	if err == nil {
		s.got = true
		return p, nil
	}
	if s.got || status.Code(err) != codes.Unauthenticated {
		return nil, err
	}
	if err := s.c.reauth(s.ctx, s.gen); err != nil {
		return nil, err
	}
	s.got = true // reopen once only
	if err := s.open(); err != nil {
		return nil, err
	}
	return s.stream.Recv()
}

// Close ends the stream. It is idempotent.
func (s *Subscription) Close() { s.cancel() }
