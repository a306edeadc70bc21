package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hearthBin is the binary built once for the package by TestMain.
var hearthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hearth-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hearthBin = filepath.Join(dir, "hearth")
	args := []string{"build", "-tags", "hearthtest", "-o", hearthBin} // with its test hooks (cmd/hearth/testhooks.go)
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/hearth-sync/hearth/cmd/hearth")...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hearth:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a running `hearth serve`.
type daemon struct {
	t       testing.TB
	cmd     *exec.Cmd
	data    string
	grpc    string
	grpcweb string
	stderr  *syncBuffer
	exited  chan struct{}
	exitErr error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveEnv is added to the environment of daemons startServe starts.
var serveEnv []string

var readyLine = regexp.MustCompile(`^hearth: ready grpc=(\S+) grpcweb=(\S+)$`)

// startServe runs `hearth serve` on free loopback ports and waits for its
// readiness line. The daemon is killed at cleanup if the test left it running.
func startServe(t testing.TB, data string, args ...string) *daemon {
	t.Helper()
	argv := append([]string{"serve", "--data", data, "--grpc", "127.0.0.1:0", "--grpcweb", "127.0.0.1:0"}, args...)
	cmd := exec.Command(hearthBin, argv...)
	cmd.Env = append(os.Environ(), serveEnv...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	d := &daemon{t: t, cmd: cmd, data: data, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = d.stderr
	require.NoError(t, cmd.Start())
	go func() {
		d.exitErr = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() { // the daemon's side of the story
			t.Logf("hearth serve --data %s stderr:\n%s", data, d.stderr)
		}
	})

	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(60 * time.Second) // generous: a race-built binary on a busy 2-core machine
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				<-d.exited
				t.Fatalf("hearth serve exited before ready: %v\n%s", d.exitErr, d.stderr)
			}
			if m := readyLine.FindStringSubmatch(line); m != nil {
				d.grpc, d.grpcweb = m[1], m[2]
				go func() { // keep draining stdout
					for range lines {
					}
				}()
				return d
			}
		case <-deadline:
			t.Fatalf("hearth serve printed no readiness line\n%s", d.stderr)
		}
	}
}

// stop sends sig and waits for exit, returning the exit code.
func (d *daemon) stop(sig syscall.Signal) int {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(sig))
	select {
	case <-d.exited:
	case <-time.After(50 * time.Second):
		d.t.Fatalf("hearth serve did not exit after %v\n%s", sig, d.stderr)
	}
	return d.cmd.ProcessState.ExitCode()
}

// cli runs one `hearth` client command for the data dir.
func cli(t testing.TB, data string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(hearthBin, append([]string{"--data", data}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("running hearth %v: %v", args, err)
		}
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// cliJSON runs a command with --json, requires success and decodes stdout.
func cliJSON(t testing.TB, data string, args ...string) map[string]any {
	t.Helper()
	out, errOut, code := cli(t, data, append([]string{"--json"}, args...)...)
	require.Equalf(t, 0, code, "hearth %v failed: %s%s", args, errOut, out)
	var v map[string]any
	require.NoErrorf(t, json.Unmarshal([]byte(strings.TrimSpace(out)), &v), "stdout of %v: %q", args, out)
	return v
}
