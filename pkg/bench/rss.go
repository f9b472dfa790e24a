package bench

import (
	"crypto/sha256"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// peakRSS is the process's maximum resident set size so far, in bytes.
func peakRSS() uint64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return uint64(ru.Maxrss) // bytes on macOS
	}
	return uint64(ru.Maxrss) * 1024 // KiB on Linux
}

// cpuTime is the CPU time this process has used so far, in user and
// kernel (system) mode.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// loadAvg is the 1, 5 and 15 minute load averages, or "" where
// /proc/loadavg does not exist.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// hostCheck times a fixed CPU-bound job (SHA-256 over 32 MiB, best of
// three), in milliseconds. The bench shares its machine with whatever
// else runs there: a host that gives this process less CPU than usual
// makes every number of the run worse at once, which the load average
// does not always show (another tenant of a virtual machine's host).
// The same job before and after, and across runs, tells such a run apart.
// It hashes one MiB 32 times, so that it adds nothing to the peak RSS.
func hostCheck() float64 {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	best := time.Duration(1<<63 - 1)
	for range 3 {
		start := time.Now()
		h := sha256.New()
		for range 32 {
			h.Write(buf)
		}
		h.Sum(nil)
		best = min(best, time.Since(start))
	}
	return float64(best.Microseconds()) / 1000
}
