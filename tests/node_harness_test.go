package tests

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/core/syncclient"
	"github.com/hearth-sync/hearth/protocol/crypto"
)

// nodeProc is a running `hearth node`.
type nodeProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	data   string
	addr   string
	key    string // the node key, as its readiness line prints it
	stderr *syncBuffer
	exited chan struct{}
}

var nodeReady = regexp.MustCompile(`^hearth-node: ready addr=(\S+)(?: key=(\S+))?`)

// freeAddr reserves a loopback port, so a node can restart on the same
// address.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// startNode runs `hearth node` on addr ("" picks a free port).
func startNode(t testing.TB, data, addr string) *nodeProc { return startNodeWith(t, data, addr) }

// startNodeWith is startNode with more flags (--store, --key-file …).
func startNodeWith(t testing.TB, data, addr string, args ...string) *nodeProc {
	t.Helper()
	if addr == "" {
		addr = freeAddr(t)
	}
	cmd := exec.Command(hearthBin, append([]string{"node", "--data", data, "--listen", addr}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	n := &nodeProc{t: t, cmd: cmd, data: data, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = n.stderr
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			_ = cmd.Process.Kill()
			<-n.exited
		}
	})
	lines := make(chan string, 4)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("hearth node exited before ready\n%s", n.stderr)
			}
			if m := nodeReady.FindStringSubmatch(line); m != nil {
				n.addr, n.key = m[1], m[2]
				go func() {
					for range lines {
					}
				}()
				return n
			}
		case <-deadline:
			t.Fatalf("hearth node printed no readiness line\n%s", n.stderr)
		}
	}
}

// stop signals the node and waits for it to exit.
func (n *nodeProc) stop(sig syscall.Signal) {
	n.t.Helper()
	require.NoError(n.t, n.cmd.Process.Signal(sig))
	select {
	case <-n.exited:
	case <-time.After(50 * time.Second):
		n.t.Fatalf("hearth node did not exit\n%s", n.stderr)
	}
}

// eventually polls cond until it holds or the generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			if d := time.Since(start); d > 5*time.Second {
				t.Logf("waited %v until %s", d.Round(100*time.Millisecond), what)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}

// dialOutsider connects to the node as a fresh account of its own (one
// device, certified): an authenticated caller that is no member of anything.
func dialOutsider(t *testing.T, addr string) (*syncclient.Client, crypto.PrivKey) {
	t.Helper()
	acc, err := crypto.GenerateKey()
	require.NoError(t, err)
	dev, err := crypto.GenerateKey()
	require.NoError(t, err)
	cert, err := crypto.NewDeviceCert(acc, dev.Public(), 1)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := syncclient.Dial(ctx, syncclient.Config{Addr: addr, DeviceKey: dev, DeviceCert: cert})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, acc
}
