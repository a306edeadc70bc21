package core

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/core/syncengine"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// What Config says about the node beyond one address: more addresses of the
// same node (Config.NodeFallbacks) and its key (Config.NodeKey), for hosts
// that know the node in advance (a phone app ships both).

// parseNodeKey parses Config.NodeKey; nil when it is empty.
func parseNodeKey(id crypto.Identity) (*crypto.PubKey, error) {
	if id == "" {
		return nil, nil
	}
	k, err := crypto.ParseIdentity(string(id))
	if err != nil {
		return nil, errkind.Errorf("open", errkind.Invalid, "the node key %q is not a node key (want the key=... the node prints): %v", string(id), err)
	}
	return &k, nil
}

// nodeAddrs lists the node's addresses in order: Node, then its fallbacks,
// without blanks or repeats.
func (c Config) nodeAddrs() []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range append([]string{c.Node}, c.NodeFallbacks...) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// configure applies the configured node key (nil: none) to the account's
// pinned key. With nothing pinned yet, the configured key is pinned now, so
// the space layer verifies the node's countersignatures with it from the
// start. A different key pinned earlier is not replaced (the account's ACL
// records were checked against it): conflict is then the error every dial
// returns, so the account shows nodeKeyMismatch and does not sync. err is a
// failure to persist the pin.
func (p *pinnedKey) configure(want *crypto.PubKey) (conflict, err error) {
	if want == nil {
		return nil, nil
	}
	have, ok := p.get()
	switch {
	case !ok:
		return nil, p.pin(*want)
	case have != *want:
		return fmt.Errorf("this account pinned node key %s, the configuration says %s: %w",
			have.Identity(), want.Identity(), syncclient.ErrNodeKeyMismatch), nil
	}
	return nil, nil
}

// nodeDialTimeout bounds one address's handshake when there are several,
// so that an address that swallows packets does not hold up the next one.
const nodeDialTimeout = 10 * time.Second

// nodeDialer dials a node through the first of its addresses that answers,
// starting with the one that answered last.
type nodeDialer struct {
	addrs []string
	last  atomic.Int32 // index into addrs of the address that answered last
}

func newNodeDialer(addrs []string) *nodeDialer { return &nodeDialer{addrs: addrs} }

// dial returns the Syncer's Dial over one, which dials one address. With
// several addresses it returns every address's error, joined.
func (d *nodeDialer) dial(one func(ctx context.Context, addr string) (syncengine.Conn, error)) func(context.Context) (syncengine.Conn, error) {
	return func(ctx context.Context) (syncengine.Conn, error) {
		if len(d.addrs) == 1 {
			return one(ctx, d.addrs[0])
		}
		first := int(d.last.Load())
		var errs []error
		for i := range d.addrs {
			k := (first + i) % len(d.addrs)
			actx, cancel := context.WithTimeout(ctx, nodeDialTimeout)
			c, err := one(actx, d.addrs[k]) // the context bounds the handshake only
			cancel()
			if err == nil {
				d.last.Store(int32(k))
				return c, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}
