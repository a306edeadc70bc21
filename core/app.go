package core

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hearth-sync/hearth/core/account"
	"github.com/hearth-sync/hearth/core/datadir"
	"github.com/hearth-sync/hearth/core/files"
	"github.com/hearth-sync/hearth/core/membership"
	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/core/subscription"
	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/core/syncengine"
	"github.com/hearth-sync/hearth/internal/badgerdb"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/protocol/crypto"
	"github.com/hearth-sync/hearth/syncstatus"
)

// Config configures an App.
type Config struct {
	// DataDir is the data dir (created if missing).
	DataDir string
	// Node is the address of the sync node this middleware uses, or "" for
	// local-only. Several addresses of one cluster (nodes sharing a store and
	// a node key) are separated by commas: a connection tries them in turn,
	// starting with the last one that worked.
	Node string
	// NodeKey is the node's key as the node prints it (key=...). Set, every
	// account dials with it pinned and pins it when it has none; an account
	// that pinned another key reports nodeKeyMismatch and does not sync.
	// Empty: each account pins the key the node shows on first contact.
	NodeKey crypto.Identity
	// Background opens the middleware as if Background had been called
	// (applife.go): no connection until Foreground.
	Background bool
	// HeadSyncEvery is how often, while connected, the node's digests of the
	// loaded spaces are compared with the local ones (one call for all; a
	// space that differs head-syncs); 0 means 30 s.
	HeadSyncEvery time.Duration
	// NodeLabel is how AccountShow names the node ("embedded", or the
	// address); empty means Node.
	NodeLabel string
	// SelectLast selects, on open, the account selected when the data dir
	// was last used.
	SelectLast bool
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Events receives the events core raises (space modes and statuses);
	// nil drops them. It must not block.
	Events func(*pb.Event)
	// IdleUnload is how long a loaded space stays loaded when nothing uses
	// it (no command, no subscription covering it, nothing to push); then it
	// unloads and is kept on disk, and loads again on use or on news from the
	// node. 0 means DefaultIdleUnload; negative: spaces never unload by
	// themselves.
	IdleUnload time.Duration
	// OffloadCrash, for crash tests only, runs before every offload step
	// (it may kill the process); nil in every real use.
	OffloadCrash func(space.OffloadStep)
	// FreeSpace reports the bytes free on a path's filesystem (nil: the
	// operating system's statfs). Every database and blob write first checks
	// that enough stays free (internal/badgerdb.Disk): a full disk refuses
	// writes with NO_SPACE, and the daemon starts with its databases
	// read-only, instead of faulting inside badger (issue 16.7). Tests set
	// it to fake a full disk.
	FreeSpace func(path string) (uint64, error)
	// FileDeleteGrace is how long a queued remote file delete waits before
	// it is sent, so that another member's concurrent add of the same file
	// (which reuses its remote copy) can cancel it. 0 means
	// DefaultFileDeleteGrace; negative means no wait.
	FileDeleteGrace time.Duration
}

// DefaultIdleUnload is Config.IdleUnload's default.
const DefaultIdleUnload = 5 * time.Minute

// DefaultFileDeleteGrace is Config.FileDeleteGrace's default.
const DefaultFileDeleteGrace = 2 * time.Minute

// App is the middleware for one data dir.
type App struct {
	cfg      Config
	lock     *datadir.Lock
	accounts *account.Service
	disk     *badgerdb.Disk // Config.FreeSpace: every database and blob write checks it

	nodeKey *crypto.PubKey // Config.NodeKey parsed; nil when not set

	// life serialises Background and Foreground with an account's syncer
	// starting, so an account opening while the app goes to the background
	// cannot dial (applife.go).
	life struct {
		sync.Mutex
		background bool               // Background until Foreground
		syncer     *syncengine.Syncer // the open account's; nil when none
	}

	lmu          sync.Mutex // guards listeners, nextListener, status
	listeners    map[int]*statusListener
	nextListener int
	status       *syncstatus.Service // the open account's; nil when none
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
	nodeKey, err := parseNodeKey(cfg.NodeKey) // nodeconfig.go
	if err != nil {
		return nil, err
	}
	lock, err := datadir.Acquire(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, lock: lock, accounts: account.NewService(cfg.DataDir, cfg.Logger, cfg.Now), listeners: map[int]*statusListener{}, nodeKey: nodeKey,
		disk: &badgerdb.Disk{Probe: cfg.FreeSpace}}
	a.life.background = cfg.Background
	a.accounts.SetDisk(a.disk)
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

// openAccount starts an account's services (the account hook).
func (a *App) openAccount(acc *account.Account) (io.Closer, error) {
	keys := acc.Keys()
	layout := datadir.Layout{Root: a.cfg.DataDir}
	pinned, err := loadPinnedKey(acc.DB())
	if err != nil {
		return nil, err
	}
	// A configured key that conflicts with the pinned one fails every dial
	// (the account's local data stays usable).
	keyConflict, err := pinned.configure(a.nodeKey) // nodeconfig.go
	if err != nil {
		return nil, err
	}
	svc := &accountServices{
		log: a.cfg.Logger, me: keys.Account.Public(), events: a.cfg.Events, pinned: pinned,
		stop: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1),
		lifeWake: make(chan struct{}, 1), lifeQueue: map[crypto.SpaceID]bool{}, lifeDone: make(chan struct{}),
		loadQueue: map[crypto.SpaceID]bool{}, unloadWake: make(chan struct{}, 1), unloadDone: make(chan struct{}),
		deleteGrace: max(a.cfg.FileDeleteGrace, 0), now: a.cfg.Now, idleUnload: a.cfg.IdleUnload,
	}
	if svc.idleUnload == 0 {
		svc.idleUnload = DefaultIdleUnload
	}
	if a.cfg.FileDeleteGrace == 0 {
		svc.deleteGrace = DefaultFileDeleteGrace
	}
	svc.status = syncstatus.New(syncstatus.Config{LocalOnly: a.cfg.Node == ""})
	svc.files = files.New(files.Config{Dir: layout.Blobs(string(acc.Info().ID)), DB: acc.DB(), Disk: a.disk, Now: a.cfg.Now, Log: a.cfg.Logger})
	svc.fw.workers = map[crypto.SpaceID]*files.Worker{}
	svc.subs = subscription.New(subscription.Config{Index: space.IndexConfig, Log: a.cfg.Logger})
	svc.spaces = space.New(space.Config{
		Account:   keys.Account,
		Device:    keys.Device,
		DB:        acc.DB(),
		SpacesDir: layout.Spaces(string(acc.Info().ID)),
		NodeKey:   pinned.get,
		Hooks:     space.Hooks{Loaded: svc.loaded, Unloading: svc.unloading},
		Offload:   space.OffloadHooks{Crash: a.cfg.OffloadCrash, EndSubscriptions: svc.endSubscriptions, ReleaseFiles: svc.files.ReleaseSpace},
		Files:     svc.files.Markers(),
		OnChange:  svc.spaceChanged,
		Disk:      a.disk,
		Log:       a.cfg.Logger,
		Now:       a.cfg.Now,
	})
	svc.members = &membership.Service{Account: keys.Account, Spaces: svc.spaces, Node: svc.node, NodeKey: pinned.get, Now: a.cfg.Now,
		Name: func() string { return nameOf(context.Background(), a.accounts, acc, svc.spaces) }} // profile.go
	svc.maint = newMaintenance(acc.DB(), a.cfg.Now) // maintenance.go
	if a.cfg.Node != "" {
		fo := newFailover(a.cfg.Node)
		dial := func(ctx context.Context) (syncengine.Conn, error) {
			if keyConflict != nil {
				return nil, keyConflict
			}
			c, err := fo.dial(ctx, func(ctx context.Context, addr string) (*syncclient.Client, error) {
				cfg := syncclient.Config{Addr: addr, DeviceKey: keys.Device, DeviceCert: keys.DeviceCert}
				if k, ok := pinned.get(); ok {
					cfg.NodeKey = &k
				}
				return syncclient.Dial(ctx, cfg)
			})
			if err != nil {
				return nil, err
			}
			if c.PinnedOnFirstContact() {
				if err := pinned.pin(c.NodeKey()); err != nil {
					c.Close()
					return nil, err
				}
			}
			return nodeConn{c}, nil
		}
		a.life.Lock()
		svc.syncer = syncengine.NewSyncer(syncengine.SyncerConfig{
			Dial:        dial,
			DigestEvery: a.cfg.HeadSyncEvery,
			Engine: syncengine.Config{Events: syncengine.Events{
				Synced:     svc.synced,
				AclApplied: svc.aclApplied,
				Status:     svc.nodeStatus,
				Failed:     svc.cycleFailed,
			}},
			DialFailed: func(err error) {
				r, msg := failureReason(err)
				svc.status.ConnectFailed(r, msg)
			},
			Connected: func(up bool) {
				svc.status.Connected(up)
				if up {
					svc.connected()
					svc.nudgeFiles()
					svc.nudge()
				}
			},
			AccountPush: svc.accountPush,
			Kept:        svc.kept,
			News:        svc.news,
			Paused:      a.life.background, // an account opened while the app is in the background
			Log:         a.cfg.Logger,
		})
		a.life.syncer = svc.syncer
		a.life.Unlock()
		syncer := svc.syncer
		svc.forget = func() {
			a.life.Lock()
			if a.life.syncer == syncer {
				a.life.syncer = nil
			}
			a.life.Unlock()
		}
	}
	go svc.discoverLoop()
	go svc.lifecycleLoop()
	go svc.unloadLoop()
	ctx := context.Background()
	// An offload a crash interrupted finishes before anything loads.
	if err := svc.spaces.ResumeOffloads(ctx); err != nil {
		a.cfg.Logger.Warn("resuming offloads", "err", err)
	}
	// The account space is how this account's devices find each other's
	// spaces: load it (and so sync it) whenever the account is open.
	if _, err := svc.spaces.EnsureAccountSpace(ctx); err != nil {
		svc.Close()
		return nil, err
	}
	if err := svc.spaces.Reconcile(ctx); err != nil {
		a.cfg.Logger.Warn("reconciling space references", "err", err)
	}
	// Startup opens only the spaces that must push changes; the others load
	// when used, or when the node has news of them.
	if err := svc.spaces.LoadPending(ctx); err != nil {
		a.cfg.Logger.Warn("loading spaces", "err", err)
	}
	a.attachStatus(svc.status)
	svc.detach = func() { a.attachStatus(nil) }
	return svc, nil
}

// services returns the selected account's services.
func (a *App) services() (*accountServices, error) {
	acc, err := a.accounts.Current()
	if err != nil {
		return nil, err
	}
	return acc.Attached().(*accountServices), nil
}

// Spaces returns the selected account's spaces, or an error of kind
// Precondition when no account is selected.
func (a *App) Spaces() (*space.Service, error) {
	svc, err := a.services()
	if err != nil {
		return nil, err
	}
	return svc.spaces, nil
}

// Members returns the selected account's membership operations.
func (a *App) Members() (*membership.Service, error) {
	svc, err := a.services()
	if err != nil {
		return nil, err
	}
	return svc.members, nil
}

// Node names the configured sync node for people ("" when local-only).
func (a *App) Node() string {
	if a.cfg.NodeLabel != "" {
		return a.cfg.NodeLabel
	}
	return a.cfg.Node
}

// DataDir is the data dir.
func (a *App) DataDir() string { return a.cfg.DataDir }

// Close stops the selected account and releases the data dir.
func (a *App) Close() error {
	err := a.accounts.Close()
	return errors.Join(err, a.lock.Release())
}
