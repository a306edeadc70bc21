package tests

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// javaDevice is one tests/java/hearthcheck.Device: a Java binding in its own
// JVM, started with a node, driven one command line at a time.
type javaDevice struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *syncBuffer
	exited chan struct{}
}

func startJavaDevice(t *testing.T, jb jvmBinding, name, data string, node *nodeProc) *javaDevice {
	t.Helper()
	cmd := exec.Command(jb.java(), jb.javaArgs("hearthcheck.Device", data, node.addr, node.key)...)
	cmd.Dir = jb.work
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	d := &javaDevice{t: t, name: name, cmd: cmd, lines: make(chan string, 16), stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = d.stderr
	var err error
	d.in, err = cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		defer close(d.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
	}()
	go func() { _ = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-d.exited
		}
	})
	d.expect("ready")
	return d
}

// next is the device's next stdout line, within the generous client deadline.
func (d *javaDevice) next() string {
	d.t.Helper()
	select {
	case l, ok := <-d.lines:
		if !ok {
			d.t.Fatalf("device %s exited\n%s", d.name, lastLines(d.stderr.String(), 60))
		}
		return l
	case <-time.After(clientDeadline):
		d.t.Fatalf("device %s did not answer within %v\n%s", d.name, clientDeadline, lastLines(d.stderr.String(), 60))
		return ""
	}
}

func (d *javaDevice) expect(line string) {
	d.t.Helper()
	require.Equal(d.t, line, d.next(), "device %s", d.name)
}

// do runs one command and returns the fields of its "ok" answer.
func (d *javaDevice) do(args ...string) []string {
	d.t.Helper()
	_, err := fmt.Fprintln(d.in, strings.Join(args, " "))
	require.NoError(d.t, err)
	f := strings.Split(d.next(), "\t")
	require.Equalf(d.t, "ok", f[0], "device %s: %v answered %v\n%s", d.name, args, f, lastLines(d.stderr.String(), 40))
	return f[1:]
}

// stop stops the binding and waits for the JVM to exit with status 0.
func (d *javaDevice) stop() {
	d.t.Helper()
	d.do("stop")
	select {
	case <-d.exited:
	case <-time.After(clientDeadline):
		d.t.Fatalf("device %s did not exit", d.name)
	}
	require.Equal(d.t, 0, d.cmd.ProcessState.ExitCode(), "device %s", d.name)
}

// TestMobileTwoBindingsSync: two Java bindings (two JVMs, two data dirs)
// sync through a real `hearth node` over loopback, each started with
// StartWithConfig (the node's address and the key its readiness line
// printed) and a LogSink. A creates an account, a space and an object; B
// recovers the account from the mnemonic and sees the object through its
// subscription's events. A goes to the background, B writes; A does not get
// the write while in the background, and receives it through an event once
// it comes to the foreground.
func TestMobileTwoBindingsSync(t *testing.T) {
	jb := javaBinding(t)
	node := startNode(t, t.TempDir(), "")
	require.NotEmpty(t, node.key, "the node's readiness line prints its key")
	a := startJavaDevice(t, jb, "A", t.TempDir(), node)
	b := startJavaDevice(t, jb, "B", t.TempDir(), node)

	f := a.do("create", "Alice")
	account, mnemonic := f[0], f[1]
	a.do("subscribe")
	space := a.do("space", "Home")[0]
	object := a.do("object", space, "Hello from A")[0]
	assert.Equal(t, "online", a.do("synced", space)[0])

	f = b.do("recover", mnemonic)
	assert.Equal(t, account, f[0], "B recovered A's account")
	assert.Equal(t, node.addr, f[2], "B names the node it was configured with")
	b.do("subscribe")
	b.do("await", object, "Hello from A") // through an event: B's subscription shows A's object

	a.do("background")
	eventually(t, "A is offline in the background", func() bool { return a.do("network", space)[0] == "offline" })
	b.do("set", space, object, "Written by B while A sleeps")
	b.do("synced", space)              // the node has B's write
	time.Sleep(500 * time.Millisecond) // a short look for a wrong delivery, not a timing assertion
	assert.Equal(t, "Hello from A", a.do("get", space, object)[0], "A gets nothing while in the background")
	assert.Equal(t, "offline", a.do("network", space)[0])

	a.do("foreground")
	a.do("await", object, "Written by B while A sleeps") // through an event, once in the foreground
	assert.Equal(t, "online", a.do("synced", space)[0])
	a.do("networkchanged")
	a.do("trim")
	assert.Equal(t, "Written by B while A sleeps", a.do("get", space, object)[0], "A reads after a trim")

	// The log sink received the middleware's lines (info and up), among
	// them the connection closing for the background.
	logs := a.do("logs")
	assert.NotEqual(t, "0", logs[0], "A's log sink received lines")
	assert.Contains(t, a.stderr.String(), "hearth[0] node connection closed why=paused")
	a.stop()
	b.stop()
}
