// Package procstat reads this process's resource use for benchmarks: CPU
// time (steadier than wall time on a shared machine) and resident set size.
//
// It owns only these reads; it never changes process state, and a figure it
// cannot read is 0, not an error.
package procstat

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// CPUTime returns the process's user + system CPU time.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RSS returns the resident set size from /proc/self/statm (0 if unknown).
// It counts mmapped file pages too, which the OS can drop.
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, pages int64
	if _, err := fmt.Sscan(string(b), &size, &pages); err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
