package procstat

import (
	"os"
	"testing"
	"time"
)

// TestCPUTimeOfSelfAgreesWithRusage: /proc/self/stat and getrusage count the
// same CPU time, within /proc's 10 ms ticks (and the time between the reads).
func TestCPUTimeOfSelfAgreesWithRusage(t *testing.T) {
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
	} // burn CPU, so both are well above zero
	self, rusage := CPUTimeOf(os.Getpid()), CPUTime()
	if self <= 0 {
		t.Fatalf("CPUTimeOf(self) = %v after 200 ms of work", self)
	}
	if d := rusage - self; d < -20*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("CPUTimeOf(self) = %v, getrusage = %v", self, rusage)
	}
}

func TestCPUTimeOfMissingProcessIsZero(t *testing.T) {
	if got := CPUTimeOf(-1); got != 0 {
		t.Fatalf("CPUTimeOf(-1) = %v, want 0", got)
	}
}
