package tests

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/core/space"
	"github.com/hearth-sync/hearth/node"
	"github.com/hearth-sync/hearth/node/store"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// In-process harness: real nodes and middleware over real loopback sockets,
// driven through Go calls for speed and control.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// proxy forwards TCP connections to a target it can change, and can cut
// every open connection at once. With a delay it holds every chunk that long
// in each direction (a round trip of twice the delay), as a link to a distant
// node does, without bounding its bandwidth.
type proxy struct {
	ln    net.Listener
	delay time.Duration // one way; set before the first connection

	mu     sync.Mutex // guards target, conns
	target string
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup

	fromTarget atomic.Int64 // bytes relayed from the target (the node), as they pass
}

// countingWriter adds what it writes to n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n.Add(int64(k))
	return k, err
}

func newProxy(t testing.TB, target string) *proxy {
	return newDelayProxy(t, target, 0)
}

// newDelayProxy is newProxy holding every chunk delay in each direction.
func newDelayProxy(t testing.TB, target string, delay time.Duration) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, delay: delay, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) setTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, up)
		p.wg.Add(2)
		go p.pipe(c, up, &p.fromTarget)
		go p.pipe(up, c, nil)
	}
}

func (p *proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

// pipe copies src to dst, adding the bytes to count unless it is nil.
func (p *proxy) pipe(dst, src net.Conn, count *atomic.Int64) {
	defer p.wg.Done()
	var w io.Writer = dst
	if count != nil {
		w = countingWriter{dst, count}
	}
	if p.delay > 0 {
		delayedCopy(w, src, p.delay)
	} else {
		_, _ = io.Copy(w, src)
	}
	dst.Close()
	src.Close()
}

// delayedCopy copies src to w, each chunk delay after it was read, until
// src or w fails. Its writer goroutine ends before it returns.
func delayedCopy(w io.Writer, src io.Reader, delay time.Duration) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	line := make(chan chunk, 4096) // the bytes in flight, up to 4096 reads of them
	failed := make(chan struct{})
	done := make(chan struct{})
	go func() { // owned by delayedCopy: ends when line closes or w fails
		defer close(done)
		for c := range line {
			time.Sleep(time.Until(c.due))
			if _, err := w.Write(c.data); err != nil {
				close(failed)
				for range line { // drain, so the reader never blocks on a dead link
				}
				return
			}
		}
	}()
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case line <- chunk{time.Now().Add(delay), buf[:n]}:
			case <-failed:
				err = io.ErrClosedPipe
			}
		}
		if err != nil {
			break
		}
	}
	close(line)
	<-done
}

// cut closes every open connection: both sides see a dropped link.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

func (p *proxy) close() {
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}

// testNode is an in-process node with a badger store that can restart.
type testNode struct {
	t   testing.TB
	dir string
	key crypto.PrivKey
	st  *store.Badger
	n   *node.Node
}

func newTestNode(t testing.TB) *testNode {
	key, err := crypto.GenerateKey()
	require.NoError(t, err)
	tn := &testNode{t: t, dir: t.TempDir(), key: key}
	tn.start()
	t.Cleanup(tn.stop)
	return tn
}

func (tn *testNode) start() {
	st, err := store.OpenBadger(filepath.Join(tn.dir, "db"), quiet)
	require.NoError(tn.t, err)
	n, err := node.Start(node.Config{Key: tn.key, Store: st, Listen: "127.0.0.1:0", Logger: quiet})
	require.NoError(tn.t, err)
	tn.st, tn.n = st, n
}

func (tn *testNode) stop() {
	if tn.n == nil {
		return
	}
	tn.n.Close()
	tn.st.Close()
	tn.n, tn.st = nil, nil
}

// restart stops the node and its store and starts them again from disk, on
// a new port.
func (tn *testNode) restart() string {
	tn.stop()
	tn.start()
	return tn.n.Addr()
}

// device is an in-process middleware with an account.
type device struct {
	app *core.App
}

func newDevice(t testing.TB, nodeAddr string) *device {
	app, err := core.Open(core.Config{DataDir: t.TempDir(), Node: nodeAddr, Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { app.Close() })
	return &device{app: app}
}

func (d *device) spaces(t testing.TB) *space.Service {
	s, err := d.app.Spaces()
	require.NoError(t, err)
	return s
}

// waitSpace waits until the device has loaded space id.
func (d *device) waitSpace(t testing.TB, id crypto.SpaceID) *space.Space {
	var sp *space.Space
	waitFor(t, 60*time.Second, "space "+string(id)+" arrives", func() bool {
		if _, err := d.spaces(t).Info(id); err != nil {
			return false
		}
		var err error
		sp, err = d.spaces(t).Get(context.Background(), id)
		return err == nil
	})
	return sp
}

func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}
