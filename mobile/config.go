package mobile

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// StartWithConfig opens the middleware as configured by config, an encoded
// hearth.MobileConfig (pb/mobile.proto): the data dir, the sync node's
// addresses and pinned key, the log level. logs receives the log lines
// (nil: they go to stderr, which a phone app does not see). It selects the
// account last used on the data dir. It fails on a configuration it cannot
// use (with what is wrong), if the middleware is already running, or if
// another process holds the data dir.
func StartWithConfig(config []byte, logs LogSink) error { return std.startConfig(config, logs) }

func (m *instance) startConfig(config []byte, logs LogSink) (err error) {
	defer m.recoverInto(&err, "start")
	o, err := parseConfig(config)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	o.sink = logs
	return m.open(o)
}

// parseConfig decodes and checks an encoded MobileConfig.
func parseConfig(b []byte) (options, error) {
	var cfg pb.MobileConfig
	if err := cfg.Unmarshal(b); err != nil {
		return options{}, fmt.Errorf("the configuration is not an encoded hearth.MobileConfig: %v", err)
	}
	if cfg.DataDir == "" {
		return options{}, fmt.Errorf("the configuration has no dataDir")
	}
	o := options{core: core.Config{DataDir: cfg.DataDir, SelectLast: true, NodeLabel: cfg.NodeLabel}}
	for i, a := range cfg.NodeAddrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return options{}, fmt.Errorf("nodeAddrs[%d] %q is not HOST:PORT", i, a)
		}
		if strings.Contains(a, ",") {
			return options{}, fmt.Errorf("nodeAddrs[%d] %q is not HOST:PORT", i, a)
		}
	}
	// Several addresses of one cluster: core tries them in turn, starting
	// with the last one that worked.
	o.core.Node = strings.Join(cfg.NodeAddrs, ",")
	if cfg.NodeKey != "" {
		if len(cfg.NodeAddrs) == 0 {
			return options{}, fmt.Errorf("the configuration has a nodeKey but no nodeAddrs")
		}
		if _, err := crypto.ParseIdentity(cfg.NodeKey); err != nil {
			return options{}, fmt.Errorf("nodeKey %q is not a node key (want the key=... that `hearth node` prints): %v", cfg.NodeKey, err)
		}
		o.core.NodeKey = crypto.Identity(cfg.NodeKey)
	}
	switch cfg.LogLevel {
	case pb.MobileConfig_DEBUG:
		o.level = slog.LevelDebug
	case pb.MobileConfig_INFO:
		o.level = slog.LevelInfo
	case pb.MobileConfig_WARN:
		o.level = slog.LevelWarn
	case pb.MobileConfig_ERROR:
		o.level = slog.LevelError
	default:
		return options{}, fmt.Errorf("logLevel %d is not a MobileConfig.LogLevel", cfg.LogLevel)
	}
	return o, nil
}

// leveled filters a handler's records below a level.
type leveled struct {
	slog.Handler
	level slog.Level
}

func (h leveled) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h leveled) WithAttrs(as []slog.Attr) slog.Handler {
	return leveled{Handler: h.Handler.WithAttrs(as), level: h.level}
}

func (h leveled) WithGroup(name string) slog.Handler {
	return leveled{Handler: h.Handler.WithGroup(name), level: h.level}
}
