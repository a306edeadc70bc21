package core

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/hearth-sync/hearth/core/account"
	"github.com/hearth-sync/hearth/core/datadir"
	"github.com/hearth-sync/hearth/core/space"
)

// Config configures an App.
type Config struct {
	// DataDir is the data dir (created if missing).
	DataDir string
	// Node is the sync node this middleware uses: an address, "embedded",
	// or "" for local-only. It is reported by AccountShow.
	Node string
	// SelectLast selects, on open, the account selected when the data dir
	// was last used.
	SelectLast bool
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// App is the middleware for one data dir.
type App struct {
	cfg      Config
	lock     *datadir.Lock
	accounts *account.Service
}

// Open locks the data dir and opens the middleware. A data dir in use by
// another process fails at once with an error of kind Locked.
func Open(cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	lock, err := datadir.Acquire(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, lock: lock, accounts: account.NewService(cfg.DataDir, cfg.Logger, cfg.Now)}
	a.accounts.SetOpenHook(a.openAccount)
	if cfg.SelectLast {
		if _, _, err := a.accounts.SelectLast(); err != nil {
			cfg.Logger.Warn("could not select the last account", "err", err)
		}
	}
	return a, nil
}

// Accounts manages the data dir's accounts.
func (a *App) Accounts() *account.Service { return a.accounts }

// accountServices are the services of one open account.
type accountServices struct {
	spaces *space.Service
}

func (s *accountServices) Close() error { return s.spaces.Close() }

// openAccount starts an account's services (the account hook).
func (a *App) openAccount(acc *account.Account) (io.Closer, error) {
	keys := acc.Keys()
	layout := datadir.Layout{Root: a.cfg.DataDir}
	spaces := space.New(space.Config{
		Account:   keys.Account,
		Device:    keys.Device,
		DB:        acc.DB(),
		SpacesDir: layout.Spaces(string(acc.Info().ID)),
		Log:       a.cfg.Logger,
		Now:       a.cfg.Now,
	})
	return &accountServices{spaces: spaces}, nil
}

// Spaces returns the selected account's spaces, or an error of kind
// Precondition when no account is selected.
func (a *App) Spaces() (*space.Service, error) {
	acc, err := a.accounts.Current()
	if err != nil {
		return nil, err
	}
	return acc.Attached().(*accountServices).spaces, nil
}

// Node is the configured sync node ("" when local-only).
func (a *App) Node() string { return a.cfg.Node }

// DataDir is the data dir.
func (a *App) DataDir() string { return a.cfg.DataDir }

// Close stops the selected account and releases the data dir.
func (a *App) Close() error {
	err := a.accounts.Close()
	return errors.Join(err, a.lock.Release())
}
