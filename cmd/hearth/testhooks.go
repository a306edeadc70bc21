//go:build hearthtest

package main

import (
	"os"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/core/space"
)

// Test hooks, compiled only into binaries built with -tags hearthtest (the
// end-to-end tests build theirs so): a release build has none.

// crashEnv names the variable that makes the daemon SIGKILL itself right
// before offload step N (1-based), to prove the offload crash-safe.
const crashEnv = "HEARTH_TEST_CRASH_BEFORE_OFFLOAD_STEP"

// profileEnv names a file the daemon writes a CPU profile of its first
// profileSecondsEnv seconds (default 30) to: how a benchmark sees where a
// daemon's time goes. The profile is written when that time is up, so a
// daemon killed sooner leaves the file empty: ask for less than its run.
const (
	profileEnv        = "HEARTH_TEST_CPUPROFILE"
	profileSecondsEnv = "HEARTH_TEST_CPUPROFILE_SECONDS"
)

func init() {
	testHooks = func(cfg *core.Config) {
		startProfile()
		n, err := strconv.Atoi(os.Getenv(crashEnv))
		if err != nil || n <= 0 {
			return
		}
		cfg.OffloadCrash = func(step space.OffloadStep) {
			if int(step) == n {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}
	}
}

// startProfile starts the CPU profile profileEnv asks for; a timer stops it.
func startProfile() {
	path := os.Getenv(profileEnv)
	if path == "" {
		return
	}
	secs, err := strconv.Atoi(os.Getenv(profileSecondsEnv))
	if err != nil || secs <= 0 {
		secs = 30
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	if pprof.StartCPUProfile(f) != nil {
		f.Close()
		return
	}
	time.AfterFunc(time.Duration(secs)*time.Second, func() {
		pprof.StopCPUProfile()
		f.Close()
	})
}
