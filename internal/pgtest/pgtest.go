// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb on a temporary
// directory, then the server on a free loopback port, torn down by t.Cleanup. No mock: the
// tests talk to a real server. The server runs as a child of the test process (not
// daemonized by pg_ctl) with a parent-death signal, so a test binary that panics or times
// out leaves no server behind.
//
// initdb refuses to run as root, so a root test process runs initdb and the server as an
// unprivileged user (Debian's "postgres" user, or HEARTH_PG_USER), with the temporary
// directory handed to that user. Binaries are found in HEARTH_PG_BIN, on PATH, or under
// /usr/lib/postgresql/<version>/bin (the newest), where Debian's postgresql package puts
// them.
//
// When no cluster can be started, the test fails if CI=true and skips with the reason
// elsewhere. The package must never touch a server it did not start.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options tune a cluster.
type Options struct {
	// Durable keeps fsync on (benchmarks that compare against a synced store). Tests
	// default to fsync=off: a crash of the test machine loses nothing anyone needs.
	Durable bool
}

// Cluster is a running throwaway server.
type Cluster struct {
	dir    string // owned by the server's user
	bin    string
	cred   *syscall.Credential // the server's user when this process is root; nil otherwise
	port   int
	proc   *exec.Cmd
	exited chan struct{}

	mu  sync.Mutex // guards dbs
	dbs int
}

// Start starts a cluster for t (see the package doc for when it skips or fails).
func Start(t testing.TB, opts ...Options) *Cluster {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	c, err := start(o)
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(c.stop)
	return c
}

// unavailable fails (CI) or skips t.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL is needed and could not be started (scripts/test-deps.sh installs it): %v", err)
	}
	t.Skipf("skipping: PostgreSQL could not be started (run scripts/test-deps.sh to install it): %v", err)
}

// BinDir finds the directory holding initdb and postgres (PATH may hold symlinks to
// some of the programs only: they are followed to their directory).
func BinDir() (string, error) {
	if d := os.Getenv("HEARTH_PG_BIN"); d != "" {
		return d, nil
	}
	has := func(d string) bool {
		for _, p := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(d, p)); err != nil {
				return false
			}
		}
		return true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("no initdb and postgres on PATH or under /usr/lib/postgresql/*/bin")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func start(o Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hearth-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		name := os.Getenv("HEARTH_PG_USER")
		if name == "" {
			name = "postgres"
		}
		u, err := user.Lookup(name)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, and no unprivileged user %q to run the server as: %w", name, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	data := filepath.Join(dir, "data")
	if out, err := c.cmd("initdb", "-D", data, "-U", "hearth", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, bytes.TrimSpace(out))
	}
	fsync := "off"
	if o.Durable {
		fsync = "on"
	}
	var lastErr error
	for range 3 { // a free port may be taken between the probe and the server's bind
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		if err := c.serve(data, port, fsync); err != nil {
			lastErr = err
			continue
		}
		return c, nil
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// serve starts the server as a child of this process, killed if this process dies (a
// test binary that panics or times out leaves no server behind), and waits until it
// accepts connections.
func (c *Cluster) serve(data string, port int, fsync string) error {
	var logb syncBuffer
	cmd := c.cmd("postgres", "-D", data, "-p", strconv.Itoa(port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync="+fsync, "-c", "max_connections=200",
		"-c", "shared_buffers=32MB", "-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = &logb, &logb
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.port, c.proc, c.exited = port, cmd, exited
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("postgres exited: %s", tail(logb.bytes()))
		default:
		}
		if time.Now().After(deadline) {
			c.stop()
			return fmt.Errorf("postgres did not accept connections within a minute: %v: %s", err, tail(logb.bytes()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer collects the server's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

// cmd runs a PostgreSQL program as the server's user.
func (c *Cluster) cmd(prog string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, prog), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Dir = c.dir
	return cmd
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stop shuts the server down at once (SIGQUIT: immediate shutdown) and removes its files.
func (c *Cluster) stop() {
	if c.proc != nil {
		_ = c.proc.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
			_ = c.proc.Process.Kill()
			<-c.exited
		}
		c.proc = nil
	}
	os.RemoveAll(c.dir)
}

// URL is the connection string of database db.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://hearth@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// NewDB creates an empty database, dropped at t's cleanup, and returns its URL.
func (c *Cluster) NewDB(t testing.TB) string {
	t.Helper()
	c.mu.Lock()
	c.dbs++
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("t%d_%s", c.dbs, hex.EncodeToString(b))
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := pgx.Connect(ctx, c.URL("postgres"))
		if err != nil {
			return
		}
		defer admin.Close(ctx)
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return c.URL(name)
}
