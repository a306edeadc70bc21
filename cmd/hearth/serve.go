package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-sync/hearth/bindings"
	"github.com/hearth-sync/hearth/clientlibrary"
	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/core/datadir"
	"github.com/hearth-sync/hearth/internal/errkind"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// nodeGrace is the embedded node's deletion grace period.
const nodeGrace = 7 * 24 * time.Hour

// shutdownGrace is how long calls in flight get to finish on a signal before
// they are cut (their contexts cancelled). The rest of the 5 s CLI.md allows
// (exit within 5 s of a signal) goes to closing the account's services and
// databases after them, which with a long call cut (a large `files add`)
// took 0.4-1 s here: 4 s left too little (measured 5.3 s to exit).
const shutdownGrace = 2 * time.Second

func newServeCmd(g *globals) *cobra.Command {
	var (
		node      string
		localOnly bool
		grpcAddr  string
		webAddr   string
		origins   []string
		logLevel  string
	)
	cmd := &cobra.Command{
		Use:   "serve [--node ADDR[,ADDR…] | --node embedded | --local-only] [--grpc ADDR] [--grpcweb ADDR]",
		Short: "Run the middleware for the data dir with its gRPC + gRPC-Web bridge",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if node != "" && localOnly {
				return fail("usage", "serve", "--node and --local-only exclude each other")
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fail("usage", "serve", "--log-level: "+err.Error())
			}
			log := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			return serve(g, log, serveOptions{grpc: grpcAddr, web: webAddr, origins: origins, node: node})
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "sync node address HOST:PORT (several nodes of one cluster: HOST:PORT,HOST:PORT…, tried in turn), or \"embedded\" to run one in this process (under DATA/node)")
	cmd.Flags().BoolVar(&localOnly, "local-only", false, "run without a sync node (the default when --node is not given)")
	cmd.Flags().StringVar(&grpcAddr, "grpc", bindings.DefaultGRPCAddr, "gRPC listen address (port 0 picks a free one)")
	cmd.Flags().StringVar(&webAddr, "grpcweb", bindings.DefaultGRPCWebAddr, "gRPC-Web listen address (port 0 picks a free one)")
	cmd.Flags().StringArrayVar(&origins, "grpcweb-origin", nil, "an origin gRPC-Web accepts, repeatable (default http://localhost:* and http://127.0.0.1:*)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

type serveOptions struct {
	grpc, web string
	origins   []string
	node      string // "", an address, or "embedded"
}

func serve(g *globals, log *slog.Logger, opt serveOptions) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	nodeAddr, nodeLabel := opt.node, opt.node
	if opt.node == "embedded" {
		// The daemon holds the data dir lock, which covers DATA/node too.
		n, closeNode, err := startNode(filepath.Join(g.dataDir, "node"), "127.0.0.1:0", nodeGrace, log)
		if err != nil {
			return fail("node", "embedded node", errkind.Message(err))
		}
		defer closeNode()
		nodeAddr = n.Addr()
		log.Info("embedded node ready", "addr", nodeAddr, "key", n.Key().Identity())
	}
	lib, err := clientlibrary.New(clientlibrary.Config{
		Core:    coreConfig(core.Config{DataDir: g.dataDir, SelectLast: true, Node: nodeAddr, NodeLabel: nodeLabel}),
		Version: version,
		Logger:  log,
	})
	if err != nil {
		if errkind.Is(err, errkind.Locked) {
			return fail("data_dir_locked", "serve", errkind.Message(err))
		}
		return fail("serve", "serve", errkind.Message(err))
	}
	defer lib.Close()

	srv, err := bindings.Start(bindings.Config{GRPCAddr: opt.grpc, GRPCWebAddr: opt.web, AllowedOrigins: opt.origins, Logger: log}, lib)
	if err != nil {
		return fail("listen", "serve", err.Error())
	}
	serveFile := datadir.Layout{Root: g.dataDir}.ServeFile()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		srv.Close(ctx)
		if err := os.Remove(serveFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("removing serve.json", "err", err)
		}
	}()

	info, err := json.Marshal(serveInfo{GRPC: srv.GRPCAddr(), GRPCWeb: srv.GRPCWebAddr(), Token: lib.RootToken()})
	if err != nil {
		return fail("serve", "serve", err.Error())
	}
	if err := datadir.WriteFileAtomic(serveFile, info, 0o600); err != nil {
		return fail("serve", "write serve.json", err.Error())
	}
	fmt.Fprintf(g.stdout, "hearth: ready grpc=%s grpcweb=%s\n", srv.GRPCAddr(), srv.GRPCWebAddr())

	sig := <-sigs
	log.Info("stopping", "signal", sig.String())
	return nil
}

// testHooks, set only in binaries built with -tags hearthtest (testhooks.go),
// adds test hooks to the daemon's configuration.
var testHooks func(*core.Config)

func coreConfig(cfg core.Config) core.Config {
	if testHooks != nil {
		testHooks(&cfg)
	}
	return cfg
}
