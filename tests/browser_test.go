package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pageReport is what tests/browser/page.js POSTs to /result.
type pageReport struct {
	Origin  string
	OK      bool
	Steps   []string
	Version string
	Alice   string
	Bob     string
	Events  []string
	Space   string
	Object  string
	Error   string
	Code    *int
}

// TestBrowserGRPCWeb loads a page into headless Chromium (Debian's package)
// that calls `hearth serve` over gRPC-Web with @connectrpc/connect-web: from
// an allowed origin it creates a session, listens to events, runs account
// commands, creates a space and an object; the same page from a disallowed origin is refused before any
// command runs.
func TestBrowserGRPCWeb(t *testing.T) {
	requireLinux(t)
	chromium := requireChromium(t)
	requireNode(t, "tests/browser")

	root := repoRoot(t)
	site := t.TempDir()
	// Bundle the page's script (connect-web, protobuf-es) with esbuild.
	_, errOut, code := run(t, filepath.Join(root, "tests", "browser"), nil,
		"node", "node_modules/esbuild/bin/esbuild", "page.js", "--bundle", "--format=esm", "--target=es2022",
		"--outfile="+filepath.Join(site, "app.js"), "--log-level=warning")
	require.Equalf(t, 0, code, "esbuild: %s", errOut)
	page, err := os.ReadFile(filepath.Join(root, "tests", "browser", "index.html"))
	require.NoError(t, err)
	app, err := os.ReadFile(filepath.Join(site, "app.js"))
	require.NoError(t, err)

	data := t.TempDir()
	d := startServe(t, data, "--local-only") // default allowlist: http://localhost:* and http://127.0.0.1:*
	info := readServeInfo(t, data)
	config, err := json.Marshal(map[string]string{"grpcweb": "http://" + info.GRPCWeb, "token": info.Token})
	require.NoError(t, err)
	files := map[string][]byte{"/": page, "/app.js": app, "/config.json": config, "/descriptors.binpb": apiDescriptorSet(t)}

	// Allowed: the page is served from http://127.0.0.1:PORT.
	allowed := servePage(t, "127.0.0.1:0", files)
	rep := runPage(t, chromium, allowed)
	t.Logf("page at %s: %+v", rep.Origin, rep)
	require.Truef(t, rep.OK, "the page from an allowed origin failed: %s (steps done: %v)\ndaemon:\n%s",
		rep.Error, rep.Steps, lastLines(d.stderr.String(), 20))
	assert.Equal(t, "dev", rep.Version)
	assert.Equal(t, []string{
		"accountShow:" + rep.Alice, "accountStopped:" + rep.Alice,
		"accountShow:" + rep.Bob, "accountStopped:" + rep.Bob,
		"accountShow:" + rep.Alice,
	}, rep.Events)
	accounts := accountIDs(t, data)
	assert.ElementsMatch(t, []string{rep.Alice, rep.Bob}, accounts)
	requireObject(t, data, rep.Space, rep.Object, "note", "Hello from the browser")

	// Refused: the same page from http://127.0.0.2:PORT (loopback, but not on
	// the allowlist). Its first call fails in the browser and nothing changes.
	refused := servePage(t, "127.0.0.2:0", files)
	rep = runPage(t, chromium, refused)
	t.Logf("page at %s: %+v", rep.Origin, rep)
	assert.False(t, rep.OK, "a page from a disallowed origin could call the daemon")
	assert.Empty(t, rep.Steps, "a page from a disallowed origin got a session")
	assert.NotEmpty(t, rep.Error)
	assert.ElementsMatch(t, accounts, accountIDs(t, data), "the refused page changed nothing")

	// What the browser saw is the bridge's refusal of that origin.
	req, err := http.NewRequest(http.MethodOptions, "http://"+info.GRPCWeb+"/hearth.ClientCommands/SessionCreate", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", refused.origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	assert.Equal(t, 0, d.stop(syscall.SIGTERM))
}

// requireChromium returns Debian's chromium, installing it when it can.
func requireChromium(t *testing.T) string {
	t.Helper()
	ensureDeps(t, "chromium")
	path, err := exec.LookPath("chromium")
	if err != nil {
		if canInstallSystemPackages() {
			t.Fatalf("chromium is missing although scripts/test-deps.sh could install it (see its log above)")
		}
		missingTool(t, "chromium is not installed and cannot be installed here (needs root and apt-get): apt-get install chromium")
	}
	return path
}

// needsNoSandbox reports whether Chromium must run without its sandbox:
// as root (Chromium refuses to start otherwise), or where this user cannot
// create the user namespace the sandbox needs (many containers). A user who
// can keeps the sandbox.
func needsNoSandbox() bool {
	if os.Geteuid() == 0 {
		return true
	}
	return exec.Command("unshare", "--user", "--map-root-user", "true").Run() != nil
}

// site is the test's web server for one origin.
type site struct {
	origin  string
	results chan pageReport
}

// servePage serves files on addr and collects the page's POST /result.
func servePage(t *testing.T, addr string, files map[string][]byte) *site {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoErrorf(t, err, "listen on %s", addr)
	s := &site{origin: "http://" + ln.Addr().String(), results: make(chan pageReport, 1)}
	types := map[string]string{"/": "text/html; charset=utf-8", "/app.js": "text/javascript", "/config.json": "application/json", "/descriptors.binpb": "application/octet-stream"}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/result" {
			var rep pageReport
			body, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(body, &rep); err != nil {
				rep = pageReport{Error: "undecodable report: " + string(body)}
			}
			select {
			case s.results <- rep:
			default:
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		b, ok := files[r.URL.Path]
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", types[r.URL.Path])
		w.Header().Set("Cache-Control", "no-store")
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(b))
	})}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("page server: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return s
}

// runPage opens the site's page in headless Chromium and returns its report.
// Chromium and all its children are killed before it returns.
func runPage(t *testing.T, chromium string, s *site) pageReport {
	t.Helper()
	profile := t.TempDir()
	args := []string{
		"--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + profile,
		"--enable-logging=stderr", "--v=0",
	}
	if needsNoSandbox() {
		args = append(args, "--no-sandbox")
	}
	cmd := exec.Command(chromium, append(args, s.origin+"/")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()

	select {
	case rep := <-s.results:
		return rep
	case <-exited:
		t.Fatalf("chromium exited before the page reported:\n%s", lastLines(logs.String(), 40))
	case <-time.After(clientDeadline):
		t.Fatalf("the page at %s reported nothing within %v; chromium:\n%s", s.origin, clientDeadline, lastLines(logs.String(), 40))
	}
	return pageReport{}
}
