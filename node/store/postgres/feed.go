package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Watch timings: how long a quiet listen connection waits before it checks that the link
// is alive, and the bounds of the reconnect backoff.
var (
	watchIdle   = 15 * time.Second
	watchPing   = 5 * time.Second
	backoffMin  = 100 * time.Millisecond
	backoffMax  = 5 * time.Second
	connectWait = 10 * time.Second
)

// Watch implements store.Feed: LISTEN on a dedicated connection (not one of the pool's),
// a ping when it has been quiet for a while (a silently dead link is found within
// watchIdle+watchPing), and a reconnect with backoff when the link drops, followed by an
// EventReset. Payloads that do not decode are logged and skipped.
func (s *Store) Watch(ctx context.Context, fn func(store.Event)) error {
	delay := backoffMin
	for {
		err := s.listen(ctx, fn, func() { delay = backoffMin })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("node store: lost the listen connection; reconnecting", "err", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, backoffMax)
	}
}

// listen runs one listen connection until it fails or ctx ends.
func (s *Store) listen(ctx context.Context, fn func(store.Event), up func()) error {
	cctx, cancel := context.WithTimeout(ctx, connectWait)
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	up()
	fn(store.Event{Kind: store.EventReset})
	for {
		wctx, cancel := context.WithTimeout(ctx, watchIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || pgconnTimeout(err) {
			pctx, cancel := context.WithTimeout(ctx, watchPing)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("ping: %w", err)
			}
			continue
		}
		if err != nil {
			return err
		}
		e, err := store.ParseEvent(n.Payload)
		if err != nil {
			s.log.Warn("node store: skipping an event that does not decode", "err", err)
			continue
		}
		if e.Origin == s.origin {
			continue
		}
		fn(e)
	}
}

// pgconnTimeout reports a timeout pgconn returned for a deadline it set itself.
func pgconnTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Lease implements store.Leaser with one row per lease and the database's clock, so nodes
// with skewed clocks still agree on who holds it.
func (s *Store) Lease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var got string
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < clock_timestamp()
		RETURNING holder`, name, holder, ttl.Milliseconds()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // held by another, not expired
	}
	if err != nil {
		return false, err
	}
	return got == holder, nil
}

// metaNodeKey names the node key's public half in the meta table.
const metaNodeKey = "node_key"

// ClaimNodeKey records pub as the cluster's node key on first use and refuses another:
// all nodes of a cluster share one node key (devices pin it), so a node started with a
// different key is a misconfiguration that would lock every device out.
func (s *Store) ClaimNodeKey(ctx context.Context, pub crypto.PubKey) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, metaNodeKey, pub.Bytes()); err != nil {
		return err
	}
	var b []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE name = $1`, metaNodeKey).Scan(&b); err != nil {
		return err
	}
	have, err := crypto.UnmarshalPubKey(b)
	if err != nil {
		return errkind.Errorf("store.open", errkind.Corrupt, "the cluster's node key in the database does not decode: %v", err)
	}
	if have != pub {
		return errkind.Errorf("store.open", errkind.Precondition,
			"this database belongs to a cluster whose node key is %s, and this node's key is %s: every node of a cluster uses the same node key (--key-file or HEARTH_NODE_KEY)",
			have.Identity(), pub.Identity())
	}
	return nil
}
