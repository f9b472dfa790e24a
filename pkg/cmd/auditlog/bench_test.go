package main

import (
	"strings"
	"testing"
)

// TestBenchFlags: the bench subcommand is registered, documents its flags
// and refuses nonsense before starting anything. (The bench itself is
// tested end to end by pkg/bench's TestSmokeBench.)
func TestBenchFlags(t *testing.T) {
	if code, _, errOut := runCLI(t, "bench", "-h"); code != 0 || !strings.Contains(errOut, "-smoke") || !strings.Contains(errOut, "-events") {
		t.Errorf("bench -h: %d %q", code, errOut)
	}
	for _, args := range [][]string{{"bench", "--events", "0"}, {"bench", "--runs", "-1"}, {"bench", "extra"}} {
		if code, _, errOut := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%q)", args, code, errOut)
		}
	}
	if code, _, errOut := runCLI(t); code != 2 || !strings.Contains(errOut, "bench") {
		t.Errorf("usage does not list bench: %d %q", code, errOut)
	}
}
