package syncclient

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// MaxBackoff caps the reconnect delay (CLI.md: a space is back within 15 s of its node).
const MaxBackoff = 10 * time.Second

// Backoff is exponential backoff with jitter: attempt k waits a random duration in
// [d/2, d) where d = Initial·2^k, capped at Max.
type Backoff struct {
	Initial time.Duration  // default 250 ms
	Max     time.Duration  // default and upper bound MaxBackoff
	Rand    func() float64 // in [0, 1); default math/rand/v2
}

// Delay returns the wait before reconnect attempt k (0-based).
func (b Backoff) Delay(k int) time.Duration {
	initial, maxd := b.Initial, b.Max
	if initial <= 0 {
		initial = 250 * time.Millisecond
	}
	if maxd <= 0 || maxd > MaxBackoff {
		maxd = MaxBackoff
	}
	d := initial
	for i := 0; i < k && d < maxd; i++ {
		d *= 2
	}
	d = min(d, maxd)
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	return d/2 + time.Duration(r()*float64(d/2))
}

// Reconnect keeps a Client connected and runs a function on it, reconnecting with
// Backoff after transient failures.
type Reconnect struct {
	Config  Config
	Backoff Backoff
	// Sleep waits d or until ctx ends (a timer when nil); tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// Dial connects (Dial when nil); tests may wrap it.
	Dial func(ctx context.Context, cfg Config) (*Client, error)
	// OnPin is called once when the node key is pinned on first contact.
	OnPin func(crypto.PubKey)
}

// Run dials and calls fn with the connected client until fn returns nil, ctx ends, or an
// error that reconnecting cannot fix (a node key mismatch, a refusal): that error is
// returned. Transient failures (the node unreachable or restarting, a subscriber that
// fell behind) close the client and reconnect after a backoff that resets once a
// connection succeeds. After a first-contact pin, every later dial checks that key.
func (r Reconnect) Run(ctx context.Context, fn func(context.Context, *Client) error) error {
	cfg := r.Config
	dial := r.Dial
	if dial == nil {
		dial = Dial
	}
	sleep := r.Sleep
	if sleep == nil {
		sleep = sleepTimer
	}
	for attempt := 0; ; attempt++ {
		c, err := dial(ctx, cfg)
		if err == nil {
			if cfg.NodeKey == nil {
				k := c.NodeKey()
				cfg.NodeKey = &k
				if r.OnPin != nil {
					r.OnPin(k)
				}
			}
			attempt = 0
			err = fn(ctx, c)
			c.Close()
			if err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !Retryable(err) {
			return err
		}
		if err := sleep(ctx, r.Backoff.Delay(attempt)); err != nil {
			return err
		}
	}
}

// Retryable reports whether reconnecting may fix err.
func Retryable(err error) bool {
	if errors.Is(err, ErrNodeKeyMismatch) {
		return false
	}
	if errors.Is(err, io.EOF) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted, codes.DeadlineExceeded, codes.Unauthenticated:
		return true
	}
	return false
}

func sleepTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
