//go:build unix

package syncstatus

import (
	"syscall"
	"time"
)

// cpuNow is the process's CPU time (user + system, every thread: GC
// included), the budget's measure; wall time is noise on 2 cores.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
