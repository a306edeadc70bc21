package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// contractRun runs commands through the real binary and checks each one's
// --json output against docs/cli.md: its documented shape, the Words table,
// ids in the one id encoding, numbers as numbers. It records what it
// checked, so the test can fail on a documented command it never ran.
type contractRun struct {
	t       *testing.T
	doc     contractDoc
	mu      sync.Mutex
	checked map[string]bool
}

var (
	idPattern     = regexp.MustCompile(`^[a-z2-7]{52}$`)
	digitsPattern = regexp.MustCompile(`^-?[0-9]+$`)
	// idKeys are the fields that hold ids.
	idKeys = map[string]bool{"accountId": true, "deviceId": true, "spaceId": true, "objectId": true, "inviteId": true,
		"fileId": true, "identity": true, "createdBy": true, "selected": true}
)

// json runs `hearth --json ARGS` for data, requires success and checks the
// output against the contract of the command.
func (c *contractRun) json(data string, args ...string) map[string]any {
	c.t.Helper()
	out := cliJSON(c.t, data, args...)
	c.check(c.commandFor(args), out)
	return out
}

// commandFor is the documented command args run: the longest documented
// command its first words spell.
func (c *contractRun) commandFor(args []string) string {
	best := ""
	for i := 1; i <= len(args); i++ {
		w := strings.Join(args[:i], " ")
		if _, ok := c.doc.commands[w]; ok {
			best = w
		}
	}
	if best == "" {
		return strings.Join(args, " ")
	}
	return best
}

// check holds one output to the contract of command words.
func (c *contractRun) check(words string, out map[string]any) {
	c.t.Helper()
	cmd, ok := c.doc.commands[words]
	if !assert.Truef(c.t, ok, "hearth %s is not in docs/cli.md", words) {
		return
	}
	c.mu.Lock()
	c.checked[words] = true
	c.mu.Unlock()
	for _, p := range checkShape(words, out, cmd.shape) {
		c.t.Errorf("hearth %s --json against docs/cli.md: %s\n  row: %s\n  output: %v", words, p, cmd.row, out)
	}
	for _, p := range c.rules(words, words, "", out) {
		c.t.Errorf("hearth %s --json: %s\n  output: %v", words, p, out)
	}
}

// rules checks the contract's general rules over v: words of enum fields,
// ids, numbers. container is the name of the array or command v is in.
func (c *contractRun) rules(command, container, key string, v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if key == "details" {
			return nil // the objects' own data
		}
		for k, e := range x {
			for _, r := range c.doc.words {
				if r.field == k && (contains(r.contexts, container) || contains(r.contexts, command)) {
					if s, _ := e.(string); !contains(r.words, s) {
						out = append(out, k+": "+s+" is not one of "+strings.Join(r.words, " "))
					}
				}
			}
			sub := container
			if _, isMap := e.(map[string]any); isMap {
				sub = k
			}
			out = append(out, c.rules(command, sub, k, e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, c.rules(command, key, key, e)...)
		}
	case string:
		if idKeys[key] && x != "" && !idPattern.MatchString(x) {
			out = append(out, key+": "+x+" is not a 52-character base32 id")
		}
		if key != "name" && key != "createdByName" && digitsPattern.MatchString(x) {
			out = append(out, key+": the number "+x+" is printed as a string")
		}
		if regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`).MatchString(x) {
			out = append(out, key+": "+x+" is an upper-case enum name, not a word")
		}
	}
	return out
}

// commandTree lists the binary's commands (leaves and runnable groups) by
// reading `hearth … --help`.
func commandTree(t *testing.T, words ...string) []string {
	out, _, code := cli(t, t.TempDir(), append(words, "--help")...)
	require.Equal(t, 0, code)
	var cmds []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Available Commands:"):
			in = true
		case in && strings.TrimSpace(line) == "":
			in = false
		case in:
			name := strings.Fields(line)[0]
			if name == "help" {
				continue
			}
			sub := append(append([]string{}, words...), name)
			if kids := commandTree(t, sub...); len(kids) > 0 && name != "completion" {
				cmds = append(cmds, kids...)
			} else {
				cmds = append(cmds, strings.Join(sub, " "))
			}
		}
	}
	return cmds
}

// TestCLIContract drives every command of docs/cli.md through the real
// binary — three devices and a node — and checks every --json output
// against the document; it fails when the binary has a command the document
// does not list, or the document one this test does not run.
func TestCLIContract(t *testing.T) {
	doc := loadContract(t)
	c := &contractRun{t: t, doc: doc, checked: map[string]bool{}}

	tree := commandTree(t)
	for _, w := range tree {
		_, ok := doc.commands[w]
		assert.Truef(t, ok, "the binary has 'hearth %s', docs/cli.md does not list it", w)
	}

	node := startNode(t, t.TempDir(), "")
	owner, member, joiner := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{owner, member, joiner} {
		startServe(t, d, "--node", node.addr)
	}

	// Accounts.
	created := c.json(owner, "account", "create", "--name", "Olga")
	ownerID := str(created, "accountId")
	c.json(owner, "account", "show")
	memberID := str(c.json(member, "account", "create", "--name", "Max"), "accountId")
	joinerID := str(c.json(joiner, "account", "create", "--name", "Jo"), "accountId")

	// Events on the owner's device, read throughout.
	events := startEvents(t, owner)

	sp := str(c.json(owner, "space", "create", "--name", "Team"), "spaceId")
	completion, _, code := cli(t, owner, "__complete", "space", "members", "")
	assert.Equal(t, 0, code)
	assert.Contains(t, completion, sp+"\tTeam", "a SPACE argument completes to the account's spaces")
	list := c.json(owner, "space", "list")
	assert.Equal(t, ownerID, list["account"].(map[string]any)["accountId"], "space list says which account")

	// Objects.
	obj := str(c.json(owner, "object", "create", sp, "--type", "task", "name=Buy milk", "n=3", `tags=["a","b"]`), "objectId")
	c.json(owner, "object", "set", sp, obj, "done=false")
	c.json(owner, "object", "unset", sp, obj, "tags")
	got := c.json(owner, "object", "get", sp, obj)
	details := got["details"].(map[string]any)
	for _, k := range []string{"created", "modified", "type"} {
		assert.Contains(t, details, k, "object get shows the derived %s like a query", k)
	}
	q := c.json(owner, "object", "query", sp, "--filter", "n >= 1", "--sort", "modified:desc")
	assert.EqualValues(t, 1, q["total"])
	gone := str(c.json(owner, "object", "create", sp, "name=gone"), "objectId")
	c.json(owner, "object", "delete", sp, gone)

	// Invites and members.
	auto := str(c.json(owner, "space", "invite", sp, "--no-approval"), "invite")
	approval := str(c.json(owner, "space", "invite", sp, "--role", "reader"), "invite")
	c.json(owner, "space", "invite", sp)
	invites := c.json(owner, "space", "invites", sp)["invites"].([]any)
	require.Len(t, invites, 3)
	assert.Equal(t, "Olga", invites[0].(map[string]any)["createdByName"])
	c.json(owner, "space", "invite-revoke", sp, str(invites[2].(map[string]any), "inviteId"))
	require.Len(t, c.json(owner, "space", "invites", sp)["invites"], 2, "revoked")
	joined := c.json(member, "space", "join", auto)
	assert.Equal(t, "active", joined["accountStatus"])
	asked := c.json(joiner, "space", "join", approval)
	assert.Equal(t, "joining", asked["accountStatus"])
	reqs := c.json(owner, "space", "requests", sp)["requests"].([]any)
	require.Len(t, reqs, 1)
	assert.Equal(t, map[string]any{"identity": joinerID, "name": "Jo", "role": "reader", "status": "joining"}, reqs[0])
	c.json(owner, "space", "decline", sp, joinerID)
	// The joiner's device learns of the decline; a second account there asks again.
	eventually(t, "the joiner sees the decline", func() bool { return spaceEntry(t, joiner, sp)["accountStatus"] == "deleted" })
	second := str(c.json(joiner, "account", "create", "--name", "Jo Two"), "accountId")
	accounts := c.json(joiner, "account", "list")
	assert.Len(t, accounts["accounts"], 2)
	assert.Equal(t, second, accounts["selected"])
	c.json(joiner, "space", "join", approval)
	c.json(owner, "space", "approve", sp, second, "--role", "reader")
	eventually(t, "the approved account loads the space", func() bool { return spaceEntry(t, joiner, sp)["mode"] == "loaded" })
	members := map[string]map[string]any{}
	for _, m := range c.json(owner, "space", "members", sp)["members"].([]any) {
		members[str(m.(map[string]any), "identity")] = m.(map[string]any)
	}
	assert.Equal(t, "Max", members[memberID]["name"], "names travel in join requests")
	assert.Equal(t, "Olga", members[ownerID]["name"])
	assert.Equal(t, "declined", members[joinerID]["status"])
	assert.Equal(t, "reader", members[joinerID]["role"], "a declined request shows the role asked for, never none")

	// Files.
	path := filepath.Join(t.TempDir(), "note.txt")
	require.NoError(t, os.WriteFile(path, []byte("hello, contract"), 0o600))
	added := c.json(owner, "files", "add", sp, path)
	fileID := str(added, "fileId")
	files := c.json(owner, "files", "list", sp)["files"].([]any)
	require.Len(t, files, 1)
	assert.Equal(t, fileID, files[0].(map[string]any)["fileId"])
	c.json(owner, "files", "status", sp, fileID)
	out := filepath.Join(t.TempDir(), "copy.txt")
	c.json(owner, "files", "get", sp, fileID, "--out", out)
	c.json(owner, "files", "gc", "--grace", "0s")

	// Maintenance and tools.
	c.json(owner, "index", "rebuild", sp)
	c.json(owner, "index", "verify", sp)
	c.json(owner, "space", "wait-synced", sp, "--timeout", "60s")
	c.json(owner, "space", "status", sp)
	doctor := c.json(owner, "doctor")
	assert.Empty(t, doctor["problems"])
	c.json(owner, "version")
	exported := filepath.Join(t.TempDir(), "export")
	c.json(owner, "export", sp, "--out", exported)
	copySpace := str(c.json(owner, "space", "create", "--name", "Copy"), "spaceId")
	c.json(owner, "import", copySpace, exported)
	assert.EqualValues(t, 2, c.json(owner, "object", "query", copySpace)["total"], "the task and the file came back")
	c.json(owner, "space", "wait-synced", copySpace)
	c.json(owner, "space", "offload", copySpace)
	c.json(owner, "space", "load", copySpace)

	// Kick, leave, delete and cancel.
	kicked := c.json(owner, "space", "kick", sp, memberID)
	assert.EqualValues(t, 2, kicked["invitesRevoked"], "a kick closes every open invite")
	assert.Empty(t, c.json(owner, "space", "invites", sp)["invites"])
	c.json(joiner, "space", "leave", sp)
	c.json(joiner, "account", "select", joinerID)
	deleted := c.json(owner, "space", "delete", sp, "--yes")
	assert.NotEmpty(t, deleted["deletionAt"])
	c.json(owner, "space", "delete-cancel", sp)
	eventually(t, "the owner has the space back", func() bool {
		_, _, code := cli(t, owner, "object", "get", sp, obj)
		return code == 0
	})
	c.json(member, "account", "recover", "--mnemonic", str(created, "mnemonic"))
	c.json(member, "account", "stop")

	// Commands without JSON output: they run.
	_, _, code = cli(t, owner, "completion", "bash")
	assert.Equal(t, 0, code)
	c.mark("completion", "serve", "node")

	// Events: the contract's words and numbers on every line.
	events.mu.Lock()
	lines := append([]map[string]any(nil), events.lines...)
	events.mu.Unlock()
	require.NotEmpty(t, lines)
	c.check("events", lines[0])
	sawMode := false
	for _, ev := range lines[1:] {
		raw, _ := json.Marshal(ev)
		for _, p := range c.rules("events", "events", "", ev) {
			t.Errorf("hearth events: %s\n  line: %s", p, raw)
		}
		if st := message(ev, "spaceState"); st != nil {
			sawMode = true
			space, _ := st["space"].(map[string]any)
			assert.Contains(t, []any{"unloaded", "loading", "loaded", "joining", "offloading", "offloaded"}, space["mode"], "%s", raw)
			assert.Contains(t, []any{"active", "joining", "deleted", "removed"}, space["accountStatus"], "an enum's word is always there: %s", raw)
		}
	}
	assert.True(t, sawMode, "events carried a space mode")

	// Every documented command was run and checked.
	var missing []string
	for w := range doc.commands {
		if !c.checked[w] {
			missing = append(missing, w)
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "documented in docs/cli.md, never checked by this test")
}

func (c *contractRun) mark(words ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range words {
		c.checked[w] = true
	}
}
