package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/core/datadir"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/node/store/postgres"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// nodeKeyEnv names the environment variable that may carry the node key: the 32-byte
// ed25519 seed in hex or base64. All nodes of a cluster share one key.
const nodeKeyEnv = "HEARTH_NODE_KEY"

// newNodeCmd is `hearth node --listen ADDR [--data DIR] [--store SPEC] [--key-file PATH]`:
// a sync node in the foreground.
//
// --store is badger under DIR/db (the default), `PATH` or `badger:PATH` (badger there), or
// `postgres://USER@HOST/DB` (PostgreSQL, for several nodes on one database). The node key
// comes from $HEARTH_NODE_KEY, else --key-file (default DIR/node.key, created 0600 on
// first start). DIR is locked while it is used (a badger store or the key file in it).
func newNodeCmd(g *globals) *cobra.Command {
	var (
		listen    string
		grace     time.Duration
		blobQuota int64
		logLevel  string
		storeSpec string
		keyFile   string
		quotas    nodeQuotas
	)
	cmd := &cobra.Command{
		Use:   "node --listen HOST:PORT [--data DIR] [--store badger:PATH|postgres://USER@HOST/DB] [--key-file PATH]",
		Short: "Run a sync node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fail("usage", "node", "--log-level: "+err.Error())
			}
			if blobQuota <= 0 {
				return fail("usage", "node", fmt.Sprintf("--blob-quota must be a positive number of bytes, not %d", blobQuota))
			}
			cfg := node.Config{Listen: listen, DeletionGrace: grace, BlobQuota: blobQuota}
			if err := quotas.apply(&cfg); err != nil {
				return fail("usage", "node", err.Error())
			}
			spec, err := parseStoreSpec(storeSpec)
			if err != nil {
				return fail("usage", "node", err.Error())
			}
			if os.Getenv(nodeKeyEnv) != "" && cmd.Flags().Changed("key-file") {
				return fail("usage", "node", "--key-file and $"+nodeKeyEnv+" exclude each other: give the node key one way")
			}
			cfg.Logger = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			return runNode(g, nodeSetup{store: spec, keyFile: keyFile, server: true}, cfg)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "listen address (port 0 picks a free one)")
	cmd.Flags().DurationVar(&grace, "deletion-grace", node.DefaultDeletionGrace, "how long a deleted space stays pending (the owner may cancel)")
	cmd.Flags().Int64Var(&blobQuota, "blob-quota", node.DefaultBlobQuota, "bytes of files (encrypted chunks) one space may store")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&storeSpec, "store", "", "where the node keeps its data: badger:PATH (or a PATH; default DATA/db) or postgres://USER@HOST/DB (several nodes on one database)")
	cmd.Flags().StringVar(&keyFile, "key-file", "", "the node key file (default DATA/node.key, created on first start); or give the key in $"+nodeKeyEnv)
	quotas.flags(cmd)
	return cmd
}

// nodeQuotas are the per-identity and per-session limits of `hearth node` (issue 16.4);
// on the command line 0 means no limit.
type nodeQuotas struct {
	maxSpaces, changeQuota, identityBlobQuota int64
	maxSessions, maxStreams                   int
}

func (q *nodeQuotas) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Int64Var(&q.maxSpaces, "max-spaces", node.DefaultMaxSpaces, "spaces one identity may create on the node (0: no limit)")
	f.Int64Var(&q.changeQuota, "change-quota", node.DefaultChangeQuota, "bytes of changes the spaces of one identity may hold (0: no limit)")
	f.Int64Var(&q.identityBlobQuota, "identity-blob-quota", node.DefaultIdentityBlobQuota, "bytes of files the spaces of one identity may hold, all together (0: no limit)")
	f.IntVar(&q.maxSessions, "max-sessions", node.DefaultMaxSessions, "devices of one account that may hold a session on this node at once (0: no limit)")
	f.IntVar(&q.maxStreams, "max-streams", node.DefaultMaxStreams, "push streams one session may keep open at once (0: no limit)")
}

// apply sets cfg's limits (node.Config takes a negative value for no limit).
func (q *nodeQuotas) apply(cfg *node.Config) error {
	for name, v := range map[string]int64{"--max-spaces": q.maxSpaces, "--change-quota": q.changeQuota,
		"--identity-blob-quota": q.identityBlobQuota, "--max-sessions": int64(q.maxSessions), "--max-streams": int64(q.maxStreams)} {
		if v < 0 {
			return fmt.Errorf("%s must be 0 (no limit) or more, not %d", name, v)
		}
	}
	noLimit := func(v int64) int64 {
		if v == 0 {
			return -1
		}
		return v
	}
	cfg.MaxSpaces, cfg.ChangeQuota, cfg.IdentityBlobQuota = noLimit(q.maxSpaces), noLimit(q.changeQuota), noLimit(q.identityBlobQuota)
	cfg.MaxSessions, cfg.MaxStreams = int(noLimit(int64(q.maxSessions))), int(noLimit(int64(q.maxStreams)))
	return nil
}

// storeSpec is a parsed --store.
type storeSpec struct {
	badgerDir string // badger at this dir ("" with postgres: the default is DIR/db)
	pgURL     string
}

func parseStoreSpec(s string) (storeSpec, error) {
	switch {
	case s == "":
		return storeSpec{}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return storeSpec{pgURL: s}, nil
	case strings.HasPrefix(s, "badger:"):
		if s == "badger:" {
			return storeSpec{}, errors.New("--store badger:PATH needs a path")
		}
		return storeSpec{badgerDir: strings.TrimPrefix(s, "badger:")}, nil
	case strings.Contains(s, "://"):
		return storeSpec{}, fmt.Errorf("--store: unknown scheme in %q: use badger:PATH or postgres://USER@HOST/DB", redactURL(s))
	}
	return storeSpec{badgerDir: s}, nil
}

// redactURL drops the user info of a URL-like string (it may hold a password).
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.LastIndex(s, "@"); j > i {
			return s[:i+3] + "…" + s[j:]
		}
	}
	return s
}

// nodeSetup says where a node's store and key are.
type nodeSetup struct {
	store   storeSpec
	keyFile string // "" = DIR/node.key, unless $HEARTH_NODE_KEY is set
	server  bool   // a standalone node: server-sized badger settings
}

// usesDir reports whether the setup keeps anything under the data dir.
func (s nodeSetup) usesDir() bool {
	return (s.store.pgURL == "" && s.store.badgerDir == "") || (s.keyFile == "" && os.Getenv(nodeKeyEnv) == "")
}

func runNode(g *globals, setup nodeSetup, cfg node.Config) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	if setup.usesDir() {
		lock, err := datadir.Acquire(g.dataDir)
		if err != nil {
			if errkind.Is(err, errkind.Locked) {
				return fail("data_dir_locked", "node", errkind.Message(err))
			}
			return fail("node", "node", errkind.Message(err))
		}
		defer lock.Release()
	}

	n, closeNode, err := openNode(g.dataDir, setup, cfg)
	if err != nil {
		return fail("node", "node", errkind.Message(err))
	}
	defer closeNode()
	fmt.Fprintf(g.stdout, "hearth-node: ready addr=%s key=%s\n", n.Addr(), n.Key().Identity())

	sig := <-sigs
	cfg.Logger.Info("stopping", "signal", sig.String())
	return nil
}

// startNode opens a node's key and store under dir and starts serving on
// listen. The returned func closes the node, then its store.
func startNode(dir, listen string, grace time.Duration, log *slog.Logger) (*node.Node, func(), error) {
	return openNode(dir, nodeSetup{}, node.Config{Listen: listen, DeletionGrace: grace, Logger: log})
}

// loadNodeKey reads the node key from $HEARTH_NODE_KEY or the key file (created on
// first use). Neither the key nor the variable's value is ever logged or echoed.
func loadNodeKey(dir string, setup nodeSetup) (crypto.PrivKey, error) {
	if v := strings.TrimSpace(os.Getenv(nodeKeyEnv)); v != "" {
		for _, dec := range []func(string) ([]byte, error){hex.DecodeString, base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString, base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString} {
			if b, err := dec(v); err == nil && len(b) == crypto.PrivKeySize {
				return crypto.UnmarshalPrivKey(b)
			}
		}
		return crypto.PrivKey{}, errkind.Errorf("node.key", errkind.Invalid, "$%s must hold the 32-byte node key seed in hex or base64", nodeKeyEnv)
	}
	path := setup.keyFile
	if path == "" {
		path = filepath.Join(dir, "node.key")
	}
	return node.LoadOrCreateKey(path)
}

// openNode opens the key and the store the setup names and starts the node (Key and
// Store of cfg are filled in here).
func openNode(dir string, setup nodeSetup, cfg node.Config) (*node.Node, func(), error) {
	log := cfg.Logger
	key, err := loadNodeKey(dir, setup)
	if err != nil {
		return nil, nil, fmt.Errorf("node key: %w", err)
	}
	var st store.Store
	if setup.store.pgURL != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		pg, err := postgres.Open(ctx, setup.store.pgURL, log)
		if err == nil {
			if err = pg.ClaimNodeKey(ctx, key.Public()); err != nil {
				pg.Close()
			}
		}
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("open the PostgreSQL store: %w", err)
		}
		st = pg
	} else {
		bdir := setup.store.badgerDir
		if bdir == "" {
			bdir = filepath.Join(dir, "db")
		}
		var b *store.Badger
		if setup.server {
			b, err = store.OpenBadgerServer(bdir, log)
		} else {
			b, err = store.OpenBadger(bdir, log)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("open store: %w", err)
		}
		st = b
	}
	cfg.Key, cfg.Store = key, st
	n, err := node.Start(cfg)
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("listen: %w", err)
	}
	return n, func() {
		n.Close()
		st.Close()
	}, nil
}
