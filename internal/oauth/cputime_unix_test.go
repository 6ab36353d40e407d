//go:build unix

package oauth

import "syscall"

// processCPUTime is the CPU time the test process has used, in nanoseconds,
// all threads (the garbage collector's included).
func processCPUTime() (int64, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
