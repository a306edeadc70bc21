package tests

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// eventsProc is a running `hearth events`: its stdout lines, decoded.
type eventsProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex // guards lines
	lines  []map[string]any
	exited chan struct{}
}

// startEvents runs `hearth --json events args...` and waits for its ready line.
func startEvents(t *testing.T, data string, args ...string) *eventsProc {
	t.Helper()
	cmd := exec.Command(hearthBin, append([]string{"--data", data, "--json", "events"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	p := &eventsProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var v map[string]any
			if json.Unmarshal(sc.Bytes(), &v) != nil {
				v = map[string]any{"unparsed": sc.Text()}
			}
			p.mu.Lock()
			p.lines = append(p.lines, v)
			p.mu.Unlock()
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("hearth events stderr:\n%s", stderr)
		}
	})
	p.waitFor(t, "the ready line", func(v map[string]any) bool { return v["ready"] == true })
	return p
}

// waitFor waits until a printed line satisfies pred and returns it.
func (p *eventsProc) waitFor(t *testing.T, what string, pred func(map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	eventually(t, what, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, v := range p.lines {
			if pred(v) {
				found = v
				return true
			}
		}
		return false
	})
	return found
}

// message returns the first message of an event line with the given key.
func message(v map[string]any, key string) map[string]any {
	msgs, _ := v["messages"].([]any)
	for _, m := range msgs {
		if mm, ok := m.(map[string]any); ok {
			if body, ok := mm[key].(map[string]any); ok {
				return body
			}
		}
	}
	return nil
}

// TestEventsAcrossDevices: a change on device A appears in a subscription
// on device B (through the node), with plain JSON detail values; an edit
// reaches it as an amendment; offloading the space on B makes its objects
// leave a cross-space subscription with an explicit event, and the space's
// removal is a space state event, never a sync status.
func TestEventsAcrossDevices(t *testing.T) {
	node := startNode(t, t.TempDir(), "")
	dataA, dataB := t.TempDir(), t.TempDir()
	startServe(t, dataA, "--node", node.addr)
	startServe(t, dataB, "--node", node.addr)

	created := cliJSON(t, dataA, "account", "create", "--name", "Ada")
	sp := str(cliJSON(t, dataA, "space", "create", "--name", "notes"), "spaceId")
	first := str(cliJSON(t, dataA, "object", "create", sp, "--type", "note", "name=first"), "objectId")
	cliJSON(t, dataB, "account", "recover", "--mnemonic", str(created, "mnemonic"))
	eventually(t, "device B has the first object", func() bool {
		d, _ := objectDetails(t, dataB, sp, first)
		return d["name"] == "first"
	})

	one := startEvents(t, dataB, "--space", sp)
	all := startEvents(t, dataB)
	onA := startEvents(t, dataA, "--space", sp)

	obj := str(cliJSON(t, dataA, "object", "create", sp, "--type", "note", "name=from A", "n=3", `tags=["x","y"]`), "objectId")
	set := one.waitFor(t, "device B's subscription shows A's object", func(v map[string]any) bool {
		m := message(v, "objectDetailsSet")
		return m != nil && m["id"] == obj
	})
	details := message(set, "objectDetailsSet")["details"].(map[string]any)
	require.Equal(t, "from A", details["name"])
	require.Equal(t, float64(3), details["n"])
	require.Equal(t, []any{"x", "y"}, details["tags"])
	require.Equal(t, sp, message(set, "objectDetailsSet")["spaceId"])
	require.NotNil(t, message(set, "subscriptionAdd"), "the add travels in the same batch as the details")
	// On A the object starts queued or syncing and turns synced once the node
	// has it: status changes reach subscriptions like any other change.
	onA.waitFor(t, "A's subscription sees the object become synced", func(v map[string]any) bool {
		m := message(v, "objectDetailsAmend")
		if m == nil || m["id"] != obj {
			return false
		}
		d, _ := m["details"].(map[string]any)
		return d["syncStatus"] == "synced"
	})
	all.waitFor(t, "the cross-space subscription shows it too", func(v map[string]any) bool {
		m := message(v, "subscriptionAdd")
		return m != nil && m["id"] == obj
	})

	cliJSON(t, dataA, "object", "set", sp, obj, "name=edited")
	one.waitFor(t, "the edit arrives as an amendment", func(v map[string]any) bool {
		m := message(v, "objectDetailsAmend")
		if m == nil || m["id"] != obj {
			return false
		}
		d, _ := m["details"].(map[string]any)
		return d["name"] == "edited"
	})

	cliJSON(t, dataB, "space", "offload", sp, "--force")
	removed := all.waitFor(t, "the offloaded space leaves the cross-space subscription", func(v map[string]any) bool {
		m := message(v, "subscriptionSpaceRemoved")
		return m != nil && m["spaceId"] == sp
	})
	var gone []string
	msgs, _ := removed["messages"].([]any)
	for _, m := range msgs {
		if r, ok := m.(map[string]any)["subscriptionRemove"].(map[string]any); ok {
			gone = append(gone, r["id"].(string))
		}
	}
	require.ElementsMatch(t, []string{first, obj}, gone)
	all.waitFor(t, "a space state event says it is offloaded", func(v map[string]any) bool {
		m := message(v, "spaceState")
		if m == nil {
			return false
		}
		s, _ := m["space"].(map[string]any)
		return s["spaceId"] == sp && strings.Contains(strings.ToLower(toJSON(s)), "offload")
	})
	// Sync status messages carry their space, and none arrives for the
	// offloaded space after its removal was told.
	all.mu.Lock()
	seenRemoval := false
	for _, v := range all.lines {
		if message(v, "subscriptionSpaceRemoved") != nil {
			seenRemoval = true
		}
		if st := message(v, "syncStatus"); st != nil {
			require.NotEmpty(t, st["spaceId"])
			if seenRemoval {
				require.NotEqual(t, sp, st["spaceId"], "an offloaded space reported a sync status")
			}
		}
	}
	all.mu.Unlock()

	// Interrupting ends the stream with status 0.
	require.NoError(t, one.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-one.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("hearth events did not exit on SIGINT")
	}
	require.Equal(t, 0, one.cmd.ProcessState.ExitCode())
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
