package tests

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// idleWindow is how long BenchmarkIdleCost watches an idle device: two head
// syncs of every space (one every 30 s).
const idleWindow = 60 * time.Second

// idleSettle is how long the device is left alone before the window opens:
// longer than the databases' idle close (15 s), so every database that has
// no reason to stay open has closed.
const idleSettle = 25 * time.Second

// procCPU returns a process's user + system CPU time from /proc/PID/stat.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces: count fields after ")".
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// selfCPU is this process's CPU time (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procWrites returns the bytes a process caused to be written to storage
// (write_bytes of /proc/PID/io: page-cache writes and mmap dirtying alike).
func procWrites(b *testing.B, pid string) int64 {
	f, err := os.Open("/proc/" + pid + "/io")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func totalCalls(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

// BenchmarkIdleCost measures what an idle device and its node cost once sync
// has settled (DESIGN §12: the daemon ≤ 0.01 CPU-s per loaded space per
// minute + 0.05 fixed, the node likewise per connected device, ≤ 2 RPCs per
// space per minute, no disk writes). The daemon is the real `hearth serve`
// binary, its CPU and disk writes read from /proc; the node runs in this
// process over a real loopback socket: its CPU is this process's (which does
// nothing else meanwhile), its calls are counted by the node itself. Loaded
// spaces include the account space. Each figure is reported with its ratio to
// the budget (≤ 1 is within it).
func BenchmarkIdleCost(b *testing.B) {
	for _, spaces := range []int{1, 50} {
		b.Run(fmt.Sprintf("spaces=%d", spaces), func(b *testing.B) { benchIdle(b, spaces) })
	}
}

func benchIdle(b *testing.B, spaces int) {
	tn := newTestNode(b)
	data := b.TempDir()
	d := startServe(b, data, "--node", tn.n.Addr())
	cliJSON(b, data, "account", "create", "--name", "Idle")
	ids := make([]string, spaces)
	for i := range ids {
		ids[i] = str(cliJSON(b, data, "space", "create", "--name", fmt.Sprint("space ", i)), "spaceId")
		cliJSON(b, data, "object", "create", ids[i], "--type", "note", "name=hello")
	}
	for _, id := range ids {
		deadline := time.Now().Add(2 * time.Minute)
		for spaceStatus(b, data, id)["status"] != "synced" {
			if time.Now().After(deadline) {
				b.Fatalf("space %s never synced: %v", id, spaceStatus(b, data, id))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(idleSettle)
	pid := d.cmd.Process.Pid
	loaded := float64(spaces + 1) // and the account space
	minutes := idleWindow.Minutes()
	b.ResetTimer()
	for range b.N {
		cpu0, self0, w0, nw0, calls0 := procCPU(b, pid), selfCPU(), procWrites(b, strconv.Itoa(pid)), procWrites(b, "self"), tn.n.Calls()
		time.Sleep(idleWindow)
		cpu, self, w, nw, calls := procCPU(b, pid)-cpu0, selfCPU()-self0, procWrites(b, strconv.Itoa(pid))-w0, procWrites(b, "self")-nw0, tn.n.Calls()
		daemonCPU := cpu.Seconds() / minutes
		nodeCPU := self.Seconds() / minutes
		rpcs := float64(totalCalls(calls)-totalCalls(calls0)) / minutes
		daemonBudget := 0.01*loaded + 0.05
		nodeBudget := 0.01*1 + 0.05 // one connected device
		rpcBudget := 2 * loaded
		b.ReportMetric(daemonCPU, "daemon-cpu-s/min")
		b.ReportMetric(daemonCPU/daemonBudget, "daemon-cpu/budget")
		b.ReportMetric(nodeCPU, "node-cpu-s/min")
		b.ReportMetric(nodeCPU/nodeBudget, "node-cpu/budget")
		b.ReportMetric(rpcs, "rpc/min")
		b.ReportMetric(rpcs/rpcBudget, "rpc/budget")
		b.ReportMetric(float64(w)/minutes, "daemon-write-B/min")
		b.ReportMetric(float64(nw)/minutes, "node-write-B/min")
		b.Logf("%d loaded spaces, %v idle: daemon %.3f CPU-s/min (budget %.2f), node %.3f CPU-s/min (budget %.2f), %.1f RPC/min (budget %.0f), writes: daemon %d B, node %d B; calls %v",
			spaces+1, idleWindow, daemonCPU, daemonBudget, nodeCPU, nodeBudget, rpcs, rpcBudget, w, nw, callsSince(calls, calls0))
	}
}
