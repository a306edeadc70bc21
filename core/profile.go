package core

import (
	"context"

	"github.com/hearth-sync/hearth/core/account"
	"github.com/hearth-sync/hearth/core/space"
)

// The account's display name is kept in the account database (account
// package) and in the account space (space.PutProfile), which carries it to
// the account's other devices: a device recovered without --name takes it
// from there once the account space synced.

// PublishAccountName writes the selected account's name into the account
// space. A failure is logged: the name is stored locally either way, and the
// next publish (or a recover with a name) tries again.
func (a *App) PublishAccountName(ctx context.Context, name string) {
	svc, err := a.services()
	if err != nil {
		return
	}
	if err := svc.spaces.PutProfile(ctx, name); err != nil {
		a.cfg.Logger.Warn("writing the account's name into the account space", "err", err)
	}
}

// AccountName is the selected account's display name: the stored one, or,
// while it has none, the one the account space holds (then stored).
func (a *App) AccountName(ctx context.Context) string {
	acc, err := a.accounts.Current()
	if err != nil {
		return ""
	}
	svc, ok := acc.Attached().(*accountServices)
	if !ok {
		return acc.Info().Name
	}
	return nameOf(ctx, a.accounts, acc, svc.spaces)
}

// nameOf is AccountName for an open account.
func nameOf(ctx context.Context, accounts *account.Service, acc *account.Account, spaces *space.Service) string {
	if n := acc.Info().Name; n != "" {
		return n
	}
	name, ok, err := spaces.Profile(ctx)
	if err != nil || !ok {
		return ""
	}
	if cur, err := accounts.Current(); err == nil && cur == acc {
		_ = accounts.SetName(name) // best effort: asked again next time
	}
	return name
}
