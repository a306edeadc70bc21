package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// jsonError runs a command that must fail, with --json, and returns its
// error object and stderr line.
func jsonError(t *testing.T, data string, args ...string) (code, message, stderr string, exit int) {
	t.Helper()
	out, errOut, exit := cli(t, data, append([]string{"--json"}, args...)...)
	require.NotEqualf(t, 0, exit, "hearth %v succeeded: %s", args, out)
	var v struct {
		Error struct{ Code, Message string }
	}
	require.NoErrorf(t, json.Unmarshal([]byte(out), &v), "hearth %v: stdout %q", args, out)
	assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line on stderr: %q", errOut)
	assert.Equal(t, "hearth: "+v.Error.Message+"\n", errOut, "the JSON message is the stderr line")
	return v.Error.Code, v.Error.Message, errOut, exit
}

// leaks lists what a message for people must not carry.
func leaks(t *testing.T, args []string, msg string) {
	t.Helper()
	for _, bad := range []string{"crypto:", "acl:", "objtree:", "spaceindex:", "signed:", "rpc error", "code = ", "desc = "} {
		assert.NotContainsf(t, msg, bad, "hearth %v: %q leaks an internal prefix", args, msg)
	}
	f := strings.SplitN(msg, ": ", 3)
	if len(f) == 3 {
		assert.NotEqualf(t, f[0], f[1], "hearth %v: %q repeats its operation", args, msg)
	}
}

// TestCLIErrors: every command that takes a space says "not found" for a
// space the account does not know and "not a space id" for one that is not
// an id, with no internal prefixes; the owner kicking themself is told to
// delete; usage errors exit 2 with the JSON error object.
func TestCLIErrors(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	data := t.TempDir()
	startServe(t, data, "--node", node.addr)
	me := str(cliJSON(t, data, "account", "create", "--name", "Ada"), "accountId")
	sp := str(cliJSON(t, data, "space", "create", "--name", "Home"), "spaceId")
	obj := str(cliJSON(t, data, "object", "create", sp, "name=x"), "objectId")

	unknown := strings.Repeat("b", 51) + "a"
	k, err := crypto.GenerateKey()
	require.NoError(t, err)
	stranger := string(k.Public().Identity())
	other := strings.Repeat("c", 51) + "a"
	for _, args := range [][]string{
		{"space", "invite", "SPACE"}, {"space", "invites", "SPACE"}, {"space", "invite-revoke", "SPACE", other},
		{"space", "requests", "SPACE"}, {"space", "approve", "SPACE", me}, {"space", "decline", "SPACE", me},
		{"space", "members", "SPACE"}, {"space", "kick", "SPACE", me}, {"space", "leave", "SPACE"},
		{"space", "delete", "SPACE", "--yes"}, {"space", "delete-cancel", "SPACE"}, {"space", "offload", "SPACE"},
		{"space", "load", "SPACE"}, {"space", "status", "SPACE"}, {"space", "wait-synced", "SPACE", "--timeout", "1s"},
		{"object", "create", "SPACE", "a=1"}, {"object", "set", "SPACE", obj, "a=1"}, {"object", "unset", "SPACE", obj, "a"},
		{"object", "get", "SPACE", obj}, {"object", "delete", "SPACE", obj}, {"object", "query", "SPACE"},
		{"files", "list", "SPACE"}, {"files", "status", "SPACE", other}, {"index", "rebuild", "SPACE"},
		{"index", "verify", "SPACE"}, {"export", "SPACE"},
	} {
		for _, tc := range []struct{ id, code, says string }{
			{unknown, "not_found", "not found"},
			{"nope", "bad_input", "is not a space id"},
		} {
			a := make([]string, len(args))
			for i, w := range args {
				a[i] = strings.ReplaceAll(w, "SPACE", tc.id)
			}
			if a[0] == "export" {
				_, errOut, code := cli(t, data, a...) // export streams: no --json
				assert.Equal(t, 1, code, "%v", a)
				assert.Contains(t, errOut, tc.says, "%v", a)
				continue
			}
			code, msg, _, exit := jsonError(t, data, a...)
			assert.Equal(t, 1, exit, "%v", a)
			assert.Equal(t, tc.code, code, "hearth %v: %s", a, msg)
			assert.Contains(t, msg, tc.says, "hearth %v", a)
			leaks(t, a, msg)
		}
	}

	// Other refusals keep to the same rules.
	for _, tc := range []struct {
		args []string
		code string
		says string
	}{
		{[]string{"space", "kick", sp, me}, "bad_input", "the owner cannot be removed: to end the space for everyone, delete it"},
		{[]string{"space", "kick", sp, "nobody"}, "bad_input", "is not an account id"},
		{[]string{"space", "approve", sp, me}, "permission_denied", "has no pending join request"},
		{[]string{"space", "invite-revoke", sp, other}, "not_found", "is not open"},
		{[]string{"space", "invite-revoke", sp, "x"}, "bad_input", "is not an invite id"},
		{[]string{"object", "get", sp, "x"}, "bad_input", ""},
		{[]string{"object", "query", sp, "--limit", "-1"}, "bad_input", "limit and offset must not be negative"},
		{[]string{"object", "query", sp, "--filter", "n >> 1"}, "bad_input", "unknown operator"},
		{[]string{"files", "get", sp, "nope", "--out", filepath.Join(t.TempDir(), "x")}, "bad_input", "is not a file id"},
		{[]string{"account", "create", "--name", ""}, "bad_input", "the name is empty"},
		{[]string{"account", "select", stranger}, "not_found", "not on this data dir"},
		{[]string{"space", "delete", sp}, "usage", "needs --yes"},
		{[]string{"space", "bogus"}, "usage", `unknown command "bogus"`},
		{[]string{"space", "list", "--bogus"}, "usage", "unknown flag: --bogus"},
		{[]string{"object", "get", sp}, "usage", "accepts 2 arg(s), received 1"},
	} {
		code, msg, _, exit := jsonError(t, data, tc.args...)
		if tc.code == "usage" {
			assert.Equal(t, 2, exit, "%v", tc.args)
		}
		if tc.code != "" {
			assert.Equal(t, tc.code, code, "hearth %v: %s", tc.args, msg)
		}
		assert.Contains(t, msg, tc.says, "hearth %v", tc.args)
		leaks(t, tc.args, msg)
	}
	// The flag error's JSON object comes wherever --json stands.
	out, _, exit := cli(t, data, "space", "list", "--bogus", "--json")
	assert.Equal(t, 2, exit)
	assert.Contains(t, out, `"code":"usage"`)
}

// TestCLIFilesSafety: files add refuses a FIFO at once and the daemon still
// stops cleanly; files get refuses to overwrite without --force and writes
// to stdout with --out -; progress totals never pass the file's size.
func TestCLIFilesSafety(t *testing.T) {
	data := t.TempDir()
	d := startServe(t, data, "--node", "embedded")
	cliJSON(t, data, "account", "create", "--name", "Ada")
	sp := str(cliJSON(t, data, "space", "create", "--name", "Files"), "spaceId")
	events := startEvents(t, data)

	fifo := filepath.Join(t.TempDir(), "pipe")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	began := time.Now()
	code, msg, _, _ := jsonError(t, data, "files", "add", sp, fifo)
	assert.Equal(t, "bad_input", code)
	assert.Contains(t, msg, "not a regular file (a named pipe)")
	assert.Less(t, time.Since(began), 30*time.Second, "refused at once, not blocked on the FIFO")
	code, msg, _, _ = jsonError(t, data, "files", "add", sp, "/dev/zero")
	assert.Equal(t, "bad_input", code, msg)
	code, _, _, _ = jsonError(t, data, "files", "add", sp, t.TempDir())
	assert.Equal(t, "bad_input", code, "a directory")

	content := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16+7) // three chunks and a bit
	src := filepath.Join(t.TempDir(), "big.bin")
	require.NoError(t, os.WriteFile(src, content, 0o600))
	added := cliJSON(t, data, "files", "add", sp, src)
	fileID := str(added, "fileId")
	assert.Regexp(t, `^[a-z2-7]{52}$`, fileID, "a base32 id like every other")
	assert.EqualValues(t, len(content), added["size"])

	// Progress of the add: every report within its total, the last one the size.
	finished := events.waitFor(t, "the add's last progress event", func(v map[string]any) bool {
		p := message(v, "progress")
		return p != nil && p["kind"] == "file.add" && p["finished"] == true
	})
	assert.EqualValues(t, len(content), message(finished, "progress")["done"])
	assert.EqualValues(t, len(content), message(finished, "progress")["total"])
	events.mu.Lock()
	for _, v := range events.lines {
		if p := message(v, "progress"); p != nil && p["kind"] == "file.add" {
			done, _ := p["done"].(float64)
			total, _ := p["total"].(float64)
			assert.LessOrEqual(t, done, total, "progress %v", p)
			assert.LessOrEqual(t, total, float64(len(content)), "the total is the file's size, not twice it: %v", p)
		}
	}
	events.mu.Unlock()

	out := filepath.Join(t.TempDir(), "copy.bin")
	cliJSON(t, data, "files", "get", sp, fileID, "--out", out)
	require.NoError(t, os.WriteFile(out, []byte("mine"), 0o600))
	code, msg, _, _ = jsonError(t, data, "files", "get", sp, fileID, "--out", out)
	assert.Equal(t, "already_exists", code)
	assert.Contains(t, msg, "--force")
	kept, _ := os.ReadFile(out)
	assert.Equal(t, "mine", string(kept), "nothing was overwritten")
	cliJSON(t, data, "files", "get", sp, fileID, "--out", out, "--force")
	got, _ := os.ReadFile(out)
	assert.Equal(t, content, got)
	stdout, errOut, exit := cli(t, data, "files", "get", sp, fileID, "--out", "-")
	require.Equal(t, 0, exit, errOut)
	assert.Equal(t, content, []byte(stdout), "--out - writes the bytes to stdout, nothing else")
	status := cliJSON(t, data, "files", "status", sp, fileID)
	assert.Contains(t, []any{"synced", "syncing", "queued"}, status["status"])

	began = time.Now()
	assert.Equal(t, 0, d.stop(syscall.SIGTERM), "the daemon stops cleanly after the refused FIFO")
	assert.Less(t, time.Since(began), 5*time.Second)
}

// TestCLIEscapesNames: names other people chose — a member's display name,
// a space's name carried in an invite link — reach human output escaped,
// JSON output exact.
func TestCLIEscapesNames(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	owner, member := t.TempDir(), t.TempDir()
	startServe(t, owner, "--node", node.addr)
	startServe(t, member, "--node", node.addr)
	evilSpace := "Home\x1b]0;owned\x07\x1b[2J"
	evilName := "Mallory\x1b[31m\u202eevil"
	cliJSON(t, owner, "account", "create", "--name", "Olga")
	cliJSON(t, member, "account", "create", "--name", evilName)
	sp := str(cliJSON(t, owner, "space", "create", "--name", evilSpace), "spaceId")
	cliJSON(t, member, "space", "join", str(cliJSON(t, owner, "space", "invite", sp, "--no-approval"), "invite"))

	for _, run := range []struct {
		data string
		args []string
		want string
	}{
		{owner, []string{"space", "members", sp}, `Mallory\x1b[31m\u202eevil`},
		{member, []string{"space", "list"}, `Home\x1b]0;owned\x07\x1b[2J`},
		{member, []string{"account", "show"}, `Mallory\x1b[31m\u202eevil`},
	} {
		out, errOut, code := cli(t, run.data, run.args...)
		require.Equal(t, 0, code, errOut)
		assert.NotContains(t, out, "\x1b", "hearth %v prints a raw escape", run.args)
		assert.NotContains(t, out, "\u202e", "hearth %v prints a raw bidi override", run.args)
		assert.Contains(t, out, run.want, "hearth %v", run.args)
	}
	var names []string
	for _, m := range cliJSON(t, owner, "space", "members", sp)["members"].([]any) {
		names = append(names, str(m.(map[string]any), "name"))
	}
	assert.Contains(t, names, evilName, "JSON carries the exact name")
}

// TestDeleteAsksOnATerminal: without --yes, space delete asks on a terminal
// (util-linux script(1) gives it one) and does nothing unless answered yes.
func TestDeleteAsksOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) is not installed: no terminal to test the prompt on")
	}
	data := t.TempDir()
	startServe(t, data, "--node", "embedded")
	cliJSON(t, data, "account", "create", "--name", "Ada")
	sp := str(cliJSON(t, data, "space", "create", "--name", "Doomed"), "spaceId")
	onTerminal := func(answer string) (string, int) {
		cmd := exec.Command("script", "-qec", hearthBin+" --data "+data+" space delete "+sp, "/dev/null")
		cmd.Stdin = strings.NewReader(answer + "\n")
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := onTerminal("n")
	assert.Contains(t, out, `Delete space `+sp+` "Doomed" for every member?`)
	assert.Contains(t, out, "not confirmed: nothing was deleted")
	assert.Equal(t, 1, code)
	assert.Equal(t, "loaded", spaceEntry(t, data, sp)["mode"])
	out, code = onTerminal("yes")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "delete-cancel")
	assert.Equal(t, "pendingDeletion", spaceEntry(t, data, sp)["remoteStatus"])
}
