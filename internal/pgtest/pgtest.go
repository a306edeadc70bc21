// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb and pg_ctl on a
// temporary directory, listening on a free loopback port, torn down by t.Cleanup. No mock:
// the tests talk to a real server.
//
// initdb refuses to run as root, so a root test process runs the server as an
// unprivileged user (Debian's "postgres" user, or HEARTH_PG_USER) through runuser, with
// the temporary directory handed to that user. Binaries are found on PATH, in
// HEARTH_PG_BIN, or under /usr/lib/postgresql/<version>/bin (the newest), where Debian's
// postgresql package puts them.
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
	"strings"
	"sync"
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
	dir  string // owned by the server's user
	port int
	run  func(name string, args ...string) *exec.Cmd
	bin  string

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

// BinDir finds the directory holding initdb and pg_ctl.
func BinDir() (string, error) {
	if d := os.Getenv("HEARTH_PG_BIN"); d != "" {
		return d, nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
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
	c := &Cluster{dir: dir, bin: bin, run: exec.Command}
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
		c.run = func(prog string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", name, "--", prog}, args...)...)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := c.cmd("initdb", "-D", data, "-U", "hearth", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
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
		serverOpts := strings.Join([]string{
			"-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
			"-c", "fsync=" + fsync, "-c", "max_connections=200", "-c", "shared_buffers=32MB",
		}, " ")
		out, err := c.cmd("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o", serverOpts, "start").CombinedOutput()
		if err == nil {
			c.port = port
			return c, nil
		}
		logb, _ := os.ReadFile(filepath.Join(dir, "log"))
		lastErr = fmt.Errorf("pg_ctl start: %v: %s %s", err, bytes.TrimSpace(out), tail(logb))
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

func (c *Cluster) cmd(prog string, args ...string) *exec.Cmd {
	return c.run(filepath.Join(c.bin, prog), args...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) stop() {
	_ = c.cmd("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop").Run()
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
