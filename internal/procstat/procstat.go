// Package procstat reads this process's resource use for benchmarks: CPU
// time (steadier than wall time on a shared machine) and resident set size,
// and the CPU time of a child process (a daemon a benchmark started).
//
// It owns only these reads; it never changes process state, and a figure it
// cannot read is 0, not an error.
package procstat

import (
	"fmt"
	"os"
	"strings"
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

// userHZ is the unit of /proc/PID/stat's CPU times: USER_HZ, 100 on every
// Linux architecture Go runs on.
const userHZ = 100

// CPUTimeOf returns the user + system CPU time of process pid, read from
// /proc/PID/stat at its 10 ms resolution (0 if unknown).
func CPUTimeOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: the fields that follow
	// start after its closing parenthesis, state first (field 3).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	var utime, stime int64
	if _, err := fmt.Sscan(f[11]+" "+f[12], &utime, &stime); err != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / userHZ
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
