package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hearth-sync/hearth/internal/badgerdb"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/core/syncengine"
	"github.com/hearth-sync/hearth/pb/syncpb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// nodeConn adapts a syncclient.Client to the interfaces the sync engine and
// membership consume.
type nodeConn struct{ c *syncclient.Client }

var _ syncengine.Conn = nodeConn{}

func (n nodeConn) SpacePush(ctx context.Context, req *syncpb.SpacePush) (*syncpb.AclAddResponse, error) {
	return n.c.SpacePush(ctx, req.Header, req.AclRoot)
}

func (n nodeConn) SpacePull(ctx context.Context, id crypto.SpaceID) (*syncpb.SpacePullResponse, error) {
	return n.c.SpacePull(ctx, id)
}

func (n nodeConn) AclAdd(ctx context.Context, req *syncpb.AclAdd) (*syncpb.AclAddResponse, error) {
	return n.c.AclAdd(ctx, crypto.SpaceID(req.SpaceId), req.Record)
}

func (n nodeConn) AclLog(ctx context.Context, req *syncpb.AclLogRequest) (*syncpb.AclLogResponse, error) {
	return n.c.AclLog(ctx, crypto.SpaceID(req.SpaceId), req.AfterSeq)
}

func (n nodeConn) InviteLookup(ctx context.Context, req *syncpb.InviteLookupRequest) (*syncpb.SpacePullResponse, error) {
	return n.c.InviteLookup(ctx, crypto.SpaceID(req.SpaceId), crypto.RecordID(req.InviteId), req.Signature)
}

func (n nodeConn) SpaceDelete(ctx context.Context, req *syncpb.SpaceDelete) (*syncpb.SpaceStatus, error) {
	return n.c.SpaceDelete(ctx, req.Request)
}

func (n nodeConn) HeadUpdate(ctx context.Context, req *syncpb.HeadUpdate) (*syncpb.Ack, error) {
	return n.c.HeadUpdate(ctx, req)
}

func (n nodeConn) Fetch(ctx context.Context, req *syncpb.FetchRequest) (*syncpb.FetchResponse, error) {
	return n.c.Fetch(ctx, req)
}

func (n nodeConn) FetchObjects(ctx context.Context, req *syncpb.FetchObjectsRequest, fn func(*syncpb.FetchResponse) error) error {
	return n.c.FetchObjects(ctx, req, fn)
}

func (n nodeConn) HeadSync(ctx context.Context, req *syncpb.HeadSyncRequest) (*syncpb.HeadSyncResponse, error) {
	return n.c.HeadSync(ctx, req)
}

func (n nodeConn) Subscribe(ctx context.Context, spaces []string) (syncengine.Stream, error) {
	ids := make([]crypto.SpaceID, len(spaces))
	for i, s := range spaces {
		ids[i] = crypto.SpaceID(s)
	}
	return n.c.Subscribe(ctx, ids)
}

func (n nodeConn) Watch(ctx context.Context, add, remove []crypto.SpaceID) (*syncpb.WatchResponse, error) {
	return n.c.Watch(ctx, add, remove)
}

func (n nodeConn) HeadDigests(ctx context.Context, spaces []crypto.SpaceID) (*syncpb.HeadDigestsResponse, error) {
	return n.c.HeadDigests(ctx, spaces)
}

func (n nodeConn) Close() error { return n.c.Close() }

// nodeKeyKey is the account database key of the pinned node key.
var nodeKeyKey = []byte("node/key")

// pinnedKey is the account's pinned node key: loaded from the account
// database, pinned on first contact, never silently replaced.
type pinnedKey struct {
	db  badgerdb.KV
	key atomic.Pointer[crypto.PubKey]
}

func loadPinnedKey(db badgerdb.KV) (*pinnedKey, error) {
	p := &pinnedKey{db: db}
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(nodeKeyKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			k, err := crypto.UnmarshalPubKey(v)
			if err == nil {
				p.key.Store(&k)
			}
			return err
		})
	})
	return p, err
}

// get implements space.NodeKey.
func (p *pinnedKey) get() (crypto.PubKey, bool) {
	if k := p.key.Load(); k != nil {
		return *k, true
	}
	return crypto.PubKey{}, false
}

// pin stores the key learned on first contact.
func (p *pinnedKey) pin(k crypto.PubKey) error {
	if err := p.db.Update(func(txn *badger.Txn) error { return txn.Set(nodeKeyKey, k.Bytes()) }); err != nil {
		return err
	}
	p.key.Store(&k)
	return nil
}

// failover dials one of a cluster's node addresses (Config.Node "ADDR[,ADDR]"): the one
// that worked last first, then the others in order. Every node of a cluster has the same
// key, so the pinned key holds for all; a key mismatch stops the round (never try the
// next address past a node that shows another key).
type failover struct {
	addrs []string
	next  atomic.Int32 // index of the address to try first
}

// failoverWait bounds the handshake with one address when there are others to try.
const failoverWait = 5 * time.Second

func newFailover(list string) *failover {
	f := &failover{}
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			f.addrs = append(f.addrs, a)
		}
	}
	return f
}

func (f *failover) dial(ctx context.Context, dial func(context.Context, string) (*syncclient.Client, error)) (*syncclient.Client, error) {
	if len(f.addrs) == 0 {
		return nil, errors.New("no node address")
	}
	start := int(f.next.Load())
	var errs []error
	for i := range f.addrs {
		k := (start + i) % len(f.addrs)
		actx, cancel := ctx, context.CancelFunc(func() {})
		if len(f.addrs) > 1 {
			actx, cancel = context.WithTimeout(ctx, failoverWait)
		}
		c, err := dial(actx, f.addrs[k])
		cancel()
		if err == nil {
			f.next.Store(int32(k))
			return c, nil
		}
		if len(f.addrs) == 1 || errors.Is(err, syncclient.ErrNodeKeyMismatch) || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", f.addrs[k], err))
	}
	return nil, errors.Join(errs...)
}
