package core

import (
	"fmt"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// The node's key given in advance (Config.NodeKey), for hosts that know the
// node before first contact (a phone app ships it with the address).

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
