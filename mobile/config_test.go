package mobile

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

func encodeConfig(t testing.TB, c *pb.MobileConfig) []byte {
	t.Helper()
	b, err := c.Marshal()
	require.NoError(t, err)
	return b
}

func TestParseConfig(t *testing.T) {
	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	id := string(key.Public().Identity())
	for _, tc := range []struct {
		name string
		cfg  *pb.MobileConfig
		raw  []byte // instead of cfg
		err  string
		want func(t *testing.T, o options)
	}{
		{name: "local only", cfg: &pb.MobileConfig{DataDir: "/d"}, want: func(t *testing.T, o options) {
			assert.Equal(t, "/d", o.core.DataDir)
			assert.True(t, o.core.SelectLast)
			assert.Empty(t, o.core.Node)
			assert.Equal(t, slog.LevelInfo, o.level)
		}},
		{name: "node, fallbacks, key, label, level", cfg: &pb.MobileConfig{
			DataDir: "/d", NodeAddrs: []string{"a.example:7100", "127.0.0.1:7101", "[::1]:7102"},
			NodeKey: id, NodeLabel: "home", LogLevel: pb.MobileConfig_DEBUG,
		}, want: func(t *testing.T, o options) {
			assert.Equal(t, "a.example:7100,127.0.0.1:7101,[::1]:7102", o.core.Node, "one cluster: core fails over in turn")
			assert.Equal(t, crypto.Identity(id), o.core.NodeKey)
			assert.Equal(t, "home", o.core.NodeLabel)
			assert.Equal(t, slog.LevelDebug, o.level)
		}},
		{name: "warn", cfg: &pb.MobileConfig{DataDir: "/d", LogLevel: pb.MobileConfig_WARN}, want: func(t *testing.T, o options) {
			assert.Equal(t, slog.LevelWarn, o.level)
		}},
		{name: "error", cfg: &pb.MobileConfig{DataDir: "/d", LogLevel: pb.MobileConfig_ERROR}, want: func(t *testing.T, o options) {
			assert.Equal(t, slog.LevelError, o.level)
		}},
		{name: "not protobuf", raw: []byte{0xff, 0xff, 0xff}, err: "not an encoded hearth.MobileConfig"},
		{name: "empty", raw: nil, err: "no dataDir"},
		{name: "address without port", cfg: &pb.MobileConfig{DataDir: "/d", NodeAddrs: []string{"a.example"}}, err: `nodeAddrs[0] "a.example" is not HOST:PORT`},
		{name: "empty port", cfg: &pb.MobileConfig{DataDir: "/d", NodeAddrs: []string{"a:1", "b:"}}, err: `nodeAddrs[1] "b:"`},
		{name: "bad key", cfg: &pb.MobileConfig{DataDir: "/d", NodeAddrs: []string{"a:1"}, NodeKey: "key=" + id}, err: "is not a node key"},
		{name: "key without node", cfg: &pb.MobileConfig{DataDir: "/d", NodeKey: id}, err: "nodeKey but no nodeAddrs"},
		{name: "unknown level", cfg: &pb.MobileConfig{DataDir: "/d", LogLevel: 9}, err: "logLevel 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			if tc.cfg != nil {
				raw = encodeConfig(t, tc.cfg)
			}
			o, err := parseConfig(raw)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			tc.want(t, o)
		})
	}
}

// Whatever the bytes, parseConfig answers an error or options it checked;
// it never panics.
func FuzzParseConfig(f *testing.F) {
	key, err := crypto.GenerateKey()
	require.NoError(f, err)
	for _, c := range []*pb.MobileConfig{
		{DataDir: "/d"},
		{DataDir: "/d", NodeAddrs: []string{"127.0.0.1:7100", "h:1"}, NodeKey: string(key.Public().Identity()), LogLevel: pb.MobileConfig_DEBUG},
		{DataDir: "/d", NodeAddrs: []string{"x"}},
		{DataDir: "/d", LogLevel: 17},
	} {
		f.Add(encodeConfig(f, c))
	}
	f.Add([]byte{0x0a, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseConfig(b)
		if err != nil {
			return
		}
		require.NotEmpty(t, o.core.DataDir)
		if o.core.NodeKey != "" {
			require.NotEmpty(t, o.core.Node)
			_, err := crypto.ParseIdentity(string(o.core.NodeKey))
			require.NoError(t, err)
		}
		for _, a := range strings.Split(o.core.Node, ",") {
			if a != "" {
				require.Contains(t, a, ":")
			}
		}
	})
}

// logs is a LogSink that records lines.
type logs struct {
	mu    sync.Mutex
	lines []logLine
	fail  func(line string) error // optional
}

func (l *logs) OnLog(level int32, line string) error {
	l.mu.Lock()
	l.lines = append(l.lines, logLine{level: level, line: line})
	fail := l.fail
	l.mu.Unlock()
	if fail != nil {
		return fail(line)
	}
	return nil
}

func (l *logs) all() []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logLine(nil), l.lines...)
}

func (l *logs) find(substr string) (logLine, bool) {
	for _, x := range l.all() {
		if strings.Contains(x.line, substr) {
			return x, true
		}
	}
	return logLine{}, false
}

// The sink gets the facade's and the middleware's lines, formatted for a
// platform log, at the configured level and above; Stop delivers them all.
func TestLogSinkReceivesLines(t *testing.T) {
	for _, tc := range []struct {
		level    pb.MobileConfig_LogLevel
		wantWarn bool
	}{{pb.MobileConfig_INFO, true}, {pb.MobileConfig_ERROR, false}} {
		t.Run(tc.level.String(), func(t *testing.T) {
			m, host, dir := newInstance(t)
			sink := &logs{}
			ev := newEvents()
			ev.onEach = func(int) error { return errors.New("the handler failed on purpose") }
			m.setEventHandler(ev)
			require.NoError(t, m.startConfig(encodeConfig(t, &pb.MobileConfig{DataDir: dir, LogLevel: tc.level}), sink))
			createAccount(t, m, "Alice")
			ev.next(t)
			require.NoError(t, m.stop()) // delivers what is queued
			l, ok := sink.find("host callback failed")
			assert.Equal(t, tc.wantWarn, ok, "lines: %v", sink.all())
			if ok {
				assert.Equal(t, LogWarn, l.level)
				assert.True(t, strings.HasPrefix(l.line, "host callback failed callback="), "message first, unquoted, then key=value: %q", l.line)
				assert.Contains(t, l.line, `err="the handler failed on purpose"`)
				assert.NotContains(t, l.line, "time=")
				assert.NotContains(t, l.line, "level=")
			}
			assert.NotContains(t, host.String(), "host callback failed", "with a sink, nothing goes to the host's logger")
		})
	}
}

type sinkFunc func(level int32, line string) error

func (f sinkFunc) OnLog(level int32, line string) error { return f(level, line) }

// A slow sink loses lines instead of slowing logging, and is told how many;
// a failing or panicking sink is contained; close delivers what is queued.
func TestSinkWriter(t *testing.T) {
	host := &logBuffer{}
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	w := newSinkWriter(sinkFunc(func(_ int32, line string) error {
		<-release
		mu.Lock()
		got = append(got, line)
		mu.Unlock()
		switch line {
		case "fail":
			return errors.New("sink failed on purpose")
		case "panic":
			panic("sink panicked on purpose")
		}
		return nil
	}), slog.New(slog.NewTextHandler(host, nil)))
	w.put(logLine{line: "first"}) // taken by the goroutine, which then waits on release
	for i := range sinkQueue + 10 {
		w.put(logLine{line: fmt.Sprint(i)})
	}
	close(release)
	w.close()
	w.put(logLine{line: "after close"}) // dropped, no panic

	mu.Lock()
	n := len(got)
	mu.Unlock()
	assert.GreaterOrEqual(t, n, sinkQueue, "the queue is delivered")
	assert.Less(t, n, sinkQueue+11, "some lines were dropped")

	w2 := newSinkWriter(sinkFunc(func(_ int32, line string) error {
		switch line {
		case "fail":
			return errors.New("sink failed on purpose")
		case "panic":
			panic("sink panicked on purpose")
		}
		return nil
	}), slog.New(slog.NewTextHandler(host, nil)))
	w2.put(logLine{line: "fail"})
	w2.put(logLine{line: "panic"})
	w2.put(logLine{line: "after"})
	w2.close()
	assert.Contains(t, host.String(), "sink failed on purpose")
	assert.Contains(t, host.String(), "sink panicked on purpose")
}

func TestSinkReportsDrops(t *testing.T) {
	release := make(chan struct{})
	sink := &logs{}
	w := newSinkWriter(sinkFunc(func(level int32, line string) error {
		<-release
		return sink.OnLog(level, line)
	}), slog.Default())
	for i := range sinkQueue + 50 {
		w.put(logLine{level: LogInfo, line: fmt.Sprint(i)})
	}
	close(release)
	w.put(logLine{level: LogInfo, line: "last"})
	w.close()
	l, ok := sink.find("log lines dropped")
	require.True(t, ok, "the sink is told that lines were dropped")
	assert.Equal(t, LogWarn, l.level)
}

// startNode runs an in-process node on loopback; it returns its address and
// key.
func startNode(t *testing.T) (*node.Node, crypto.PubKey) {
	t.Helper()
	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	n, err := node.Start(node.Config{Key: key, Store: store.NewMemory(), Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n, key.Public()
}

func command[Resp interface{ Unmarshal([]byte) error }](t *testing.T, m *instance, method string, req interface{ Marshal() ([]byte, error) }, resp Resp) Resp {
	t.Helper()
	b, err := req.Marshal()
	require.NoError(t, err)
	out, err := m.command(method, b)
	require.NoError(t, err)
	require.NoError(t, resp.Unmarshal(out))
	return resp
}

func spaceStatus(t *testing.T, m *instance, space string) *pb.Model_SpaceSyncStatus {
	return command(t, m, "SpaceStatus", &pb.Rpc_Space_Status_Request{SpaceId: space}, &pb.Rpc_Space_Status_Response{}).Status
}

// waitUntil polls cond until it holds, within the generous wait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A binding started with a configuration syncs through the node it names
// (the issue: Start(dataDir) left SpaceInvite answering OFFLINE_UNSUPPORTED),
// with the pinned key; the first address may be down; a wrong key is
// refused, never trusted.
func TestStartWithConfigSyncs(t *testing.T) {
	n, key := startNode(t)
	down := "127.0.0.1:1" // nothing listens on port 1
	m, _, dir := newInstance(t)
	require.NoError(t, m.startConfig(encodeConfig(t, &pb.MobileConfig{
		DataDir: dir, NodeAddrs: []string{down, n.Addr()}, NodeKey: string(key.Identity()), NodeLabel: "test node",
	}), nil))
	acc := createAccount(t, m, "Alice")
	assert.Equal(t, "test node", acc.Node)
	sp := command(t, m, "SpaceCreate", &pb.Rpc_Space_Create_Request{Name: "Home"}, &pb.Rpc_Space_Create_Response{})
	require.Nil(t, sp.Error)
	waitUntil(t, "the space is synced", func() bool { return spaceStatus(t, m, sp.SpaceId).Status == "synced" })
	inv := command(t, m, "SpaceInvite", &pb.Rpc_Space_Invite_Request{SpaceId: sp.SpaceId, NoApproval: true}, &pb.Rpc_Space_Invite_Response{})
	require.Nil(t, inv.Error, "SpaceInvite needs the node: %v", inv.Error)
	assert.NotEmpty(t, inv.Invite)

	// Another device of nobody in particular, configured with a key that is
	// not the node's: it does not sync, and says why.
	other, err := crypto.GenerateKey()
	require.NoError(t, err)
	w, _, wdir := newInstance(t)
	before := n.Calls()
	require.NoError(t, w.startConfig(encodeConfig(t, &pb.MobileConfig{
		DataDir: wdir, NodeAddrs: []string{n.Addr()}, NodeKey: string(other.Public().Identity()),
	}), nil))
	createAccount(t, w, "Mallory's victim")
	ws := command(t, w, "SpaceCreate", &pb.Rpc_Space_Create_Request{Name: "Mine"}, &pb.Rpc_Space_Create_Response{})
	require.Nil(t, ws.Error)
	waitUntil(t, "the wrong key is reported", func() bool { return spaceStatus(t, w, ws.SpaceId).Error == "nodeKeyMismatch" })
	after := n.Calls()
	assert.Greater(t, after["Hello"], before["Hello"], "it asked")
	assert.Equal(t, before["Auth"], after["Auth"], "it never authenticated to a node showing another key")
}
