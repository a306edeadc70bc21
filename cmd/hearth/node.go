package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/core/datadir"
	"github.com/hearth-sync/hearth/internal/errkind"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
)

// newNodeCmd is `hearth node --listen ADDR --data DIR`: a sync node in the foreground.
// Layout of DIR: LOCK (the data-dir lock), node.key (0600, created on first start) and
// db/ (the badger store).
func newNodeCmd(g *globals) *cobra.Command {
	var (
		listen    string
		grace     time.Duration
		blobQuota int64
		logLevel  string
	)
	cmd := &cobra.Command{
		Use:   "node --listen HOST:PORT [--data DIR]",
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
			log := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			return runNode(g, node.Config{Listen: listen, DeletionGrace: grace, BlobQuota: blobQuota, Logger: log})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "listen address (port 0 picks a free one)")
	cmd.Flags().DurationVar(&grace, "deletion-grace", node.DefaultDeletionGrace, "how long a deleted space stays pending (the owner may cancel)")
	cmd.Flags().Int64Var(&blobQuota, "blob-quota", node.DefaultBlobQuota, "bytes of files (encrypted chunks) one space may store")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func runNode(g *globals, cfg node.Config) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	lock, err := datadir.Acquire(g.dataDir)
	if err != nil {
		if errkind.Is(err, errkind.Locked) {
			return fail("data_dir_locked", "node", errkind.Message(err))
		}
		return fail("node", "node", errkind.Message(err))
	}
	defer lock.Release()

	n, closeNode, err := openNode(g.dataDir, cfg)
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
	return openNode(dir, node.Config{Listen: listen, DeletionGrace: grace, Logger: log})
}

// openNode is startNode with the whole config (Key and Store are filled in here).
func openNode(dir string, cfg node.Config) (*node.Node, func(), error) {
	log := cfg.Logger
	key, err := node.LoadOrCreateKey(filepath.Join(dir, "node.key"))
	if err != nil {
		return nil, nil, fmt.Errorf("node key: %w", err)
	}
	st, err := store.OpenBadger(filepath.Join(dir, "db"), log)
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
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
