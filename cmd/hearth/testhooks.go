//go:build hearthtest

package main

import (
	"os"
	"strconv"
	"syscall"

	"github.com/hearth-sync/hearth/core"
	"github.com/hearth-sync/hearth/core/space"
)

// Test hooks, compiled only into binaries built with -tags hearthtest (the
// end-to-end tests build theirs so): a release build has none.

// crashEnv names the variable that makes the daemon SIGKILL itself right
// before offload step N (1-based), to prove the offload crash-safe.
const crashEnv = "HEARTH_TEST_CRASH_BEFORE_OFFLOAD_STEP"

func init() {
	testHooks = func(cfg *core.Config) {
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
