package core

import (
	"context"

	"github.com/hearth-sync/hearth/core/subscription"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// Live subscriptions (DESIGN §10) cover the selected account's loaded
// spaces, the internal account space excepted: the space hooks push loads
// and unloads into the subscription service, and the offload journal's
// "end subscriptions" step makes an offloaded space's records leave
// explicitly even when the space was not loaded at the time.

// Subscribe starts a live query over the selected account's loaded spaces.
// Its messages go to sink (which must not block) until Unsubscribe, or
// until the account stops.
func (a *App) Subscribe(ctx context.Context, req subscription.Request, sink subscription.Sink) (subscription.Snapshot, error) {
	svc, err := a.services()
	if err != nil {
		return subscription.Snapshot{}, err
	}
	for _, id := range req.Spaces {
		if _, err := crypto.ParseSpaceID(id); err != nil {
			return subscription.Snapshot{}, errkind.E("subscribe", errkind.Invalid, err)
		}
	}
	// A subscription naming spaces kept on disk loads them (it uses them);
	// one over every space covers the loaded ones, and those that load later.
	for _, id := range req.Spaces {
		if err := svc.loadKept(ctx, crypto.SpaceID(id)); err != nil {
			return subscription.Snapshot{}, err
		}
	}
	return svc.subs.Subscribe(ctx, req, sink)
}

// Unsubscribe ends a subscription; it reports whether one was live.
func (a *App) Unsubscribe(id string) bool {
	svc, err := a.services()
	if err != nil {
		return false
	}
	return svc.subs.Unsubscribe(id)
}

// endSubscriptions is the offload journal's hook.
func (s *accountServices) endSubscriptions(id crypto.SpaceID) {
	s.subs.SpaceUnloading(string(id))
}
