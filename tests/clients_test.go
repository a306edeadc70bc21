package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hearth-sync/hearth/pb/grpccodec"
)

// Helpers for the tests that drive Hearth with the clients apps use: the
// Java binding (mobile_test.go), an Electron-style Node client
// (electron_test.go), a browser over gRPC-Web (browser_test.go) and grpcurl
// (grpcurl_test.go). What they need is installed by scripts/test-deps.sh,
// which `make test` runs first and each test runs again for its own part
// (idempotent, and fast when everything is there).

// clientDeadline bounds one client run (install excluded): generous for a
// race-built daemon on a busy 2-core machine. Never a timing assertion.
const clientDeadline = 3 * time.Minute

// repoRoot is the module root (go test runs in tests/).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	return root
}

// toolPath is a tool installed by scripts/test-deps.sh into bin/tools.
func toolPath(t testing.TB, name string) string {
	return filepath.Join(repoRoot(t), "bin", "tools", name)
}

// ensureDeps runs scripts/test-deps.sh with args (e.g. "grpcurl", or "npm",
// "tests/node"), failing the test if it fails.
func ensureDeps(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // a cold install of chromium
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(repoRoot(t), "scripts", "test-deps.sh")}, args...)...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	if len(out) > 0 {
		t.Logf("test-deps %v:\n%s", args, out)
	}
	require.NoErrorf(t, err, "scripts/test-deps.sh %v", args)
}

// canInstallSystemPackages reports whether test-deps.sh can apt-get here.
func canInstallSystemPackages() bool {
	if os.Geteuid() != 0 {
		return false
	}
	_, err := exec.LookPath("apt-get")
	return err == nil
}

// missingTool fails the test in CI (CI=true: a clean CI machine installs
// every tool through scripts/test-deps.sh, so a missing one is a broken
// install, never a reason to skip) and skips it elsewhere, saying why.
func missingTool(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// requireNode ensures node and the npm folder dir (relative to the repo)
// are installed, or skips when node cannot be had here.
func requireNode(t *testing.T, dir string) {
	t.Helper()
	ensureDeps(t, "npm", dir)
	if _, err := exec.LookPath("node"); err != nil {
		if canInstallSystemPackages() {
			t.Fatalf("node is missing although test-deps.sh could install it: %v", err)
		}
		missingTool(t, "node is not installed and cannot be installed here (needs root and apt-get)")
	}
	require.FileExists(t, filepath.Join(repoRoot(t), dir, "node_modules", ".hearth-lock.sha256"),
		"npm ci in %s did not complete", dir)
}

// serveInfo is <data>/serve.json.
type serveInfo struct {
	GRPC    string `json:"grpc"`
	GRPCWeb string `json:"grpcweb"`
	Token   string `json:"token"`
}

func readServeInfo(t *testing.T, data string) serveInfo {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(data, "serve.json"))
	require.NoError(t, err)
	var info serveInfo
	require.NoError(t, json.Unmarshal(raw, &info))
	require.NotEmpty(t, info.Token)
	return info
}

// run runs a client program to completion within clientDeadline and returns
// its stdout, stderr and exit code. The program gets its own process group,
// killed whole at the deadline.
func run(t testing.TB, dir string, env []string, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %s %v: %v\n%s", name, args, err, errb.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %v\nstdout:\n%s\nstderr:\n%s", name, args, clientDeadline, out.String(), errb.String())
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

var resultLine = regexp.MustCompile(`(?m)^RESULT (\{.*\})$`)

// decodeResult decodes the "RESULT {json}" line a client prints last.
func decodeResult(t *testing.T, stdout string, v any) {
	t.Helper()
	m := resultLine.FindStringSubmatch(stdout)
	require.NotNilf(t, m, "no RESULT line in:\n%s", stdout)
	require.NoError(t, json.Unmarshal([]byte(m[1]), v))
}

// accountIDs lists the data dir's accounts through the CLI.
func accountIDs(t *testing.T, data string) []string {
	t.Helper()
	out := cliJSON(t, data, "account", "list")
	var accounts []struct{ AccountID string }
	raw, _ := json.Marshal(out["accounts"])
	require.NoErrorf(t, json.Unmarshal(raw, &accounts), "account list: %v", out)
	ids := make([]string, 0, len(accounts))
	for _, a := range accounts {
		ids = append(ids, a.AccountID)
	}
	return ids
}

// requireObject checks through the CLI that the object a client created is
// there, with the client's type and title.
func requireObject(t *testing.T, data, space, object, typ, title string) {
	t.Helper()
	require.NotEmpty(t, space, "the client reported no space")
	require.NotEmpty(t, object, "the client reported no object")
	got := cliJSON(t, data, "object", "get", space, object)
	require.Equal(t, object, got["objectId"])
	require.Equal(t, typ, got["type"])
	details, _ := got["details"].(map[string]any)
	require.Equalf(t, title, details["title"], "details: %v", got["details"])
	require.Equal(t, 3.0, details["n"])
}

// apiDescriptorSet is the client API's schema (pb/commands.proto and the
// files it imports, imports first) as an encoded FileDescriptorSet, for
// clients that load schemas at run time instead of generating code.
func apiDescriptorSet(t *testing.T) []byte {
	t.Helper()
	require.NoError(t, grpccodec.RegisterReflection("commands.proto"))
	root, err := protoregistry.GlobalFiles.FindFileByPath("commands.proto")
	require.NoError(t, err)
	var files []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	var add func(f protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		for i := 0; i < f.Imports().Len(); i++ {
			add(f.Imports().Get(i).FileDescriptor)
		}
		files = append(files, protodesc.ToFileDescriptorProto(f))
	}
	add(root)
	b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: files})
	require.NoError(t, err)
	return b
}

// requireLinux skips on other systems: these tests build a Linux JNI
// library and run Debian's chromium.
func requireLinux(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("needs Linux (this is %s)", runtime.GOOS)
	}
}

// lastLines is the tail of s, for failure messages.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
