package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/store"
)

// The process tests build bin/auditlog and drive it as a user would, on
// 127.0.0.1 only. Counting what a data directory holds is done by this
// test binary re-run as a helper process, because the embedded engine
// serves one data directory per process.

const (
	helperEnv    = "AUDITLOG_TEST_COUNT_DATA"
	helperIDsEnv = "AUDITLOG_TEST_COUNT_IDS"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(countHelper(dir, os.Getenv(helperIDsEnv)))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// counts is what the helper reports.
type counts struct {
	Total uint64         `json:"total"`
	IDs   map[string]int `json:"ids"`
}

// countHelper prints the number of rows in the store and per id listed in
// the file idsPath.
func countHelper(dir, idsPath string) int {
	ctx := context.Background()
	eng, err := store.OpenEmbedded("", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer eng.Close()
	st, err := store.Open(ctx, eng, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := counts{Total: stats.Events, IDs: map[string]int{}}
	var ids []string
	if idsPath != "" {
		b, err := os.ReadFile(idsPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ids = strings.Fields(string(b))
	}
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		evs, err := st.Events(ctx, store.Filter{IDs: ids[:n]}, store.MaxLimit)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, e := range evs {
			out.IDs[e.ID]++
		}
		ids = ids[n:]
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return 1
	}
	return 0
}

// countRows runs the helper on a stopped server's data directory.
func countRows(t *testing.T, dir string, ids []string) counts {
	t.Helper()
	idsPath := filepath.Join(t.TempDir(), "ids")
	if err := os.WriteFile(idsPath, []byte(strings.Join(ids, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir, helperIDsEnv+"="+idsPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("count helper: %v: %s", err, stderr.String())
	}
	var c counts
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("count helper said %q: %v", out, err)
	}
	return c
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// binary builds the command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "auditlog-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "auditlog")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running auditlog process.
type proc struct {
	cmd    *exec.Cmd
	url    string
	lines  chan string // stdout
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs auditlog with args and waits for "listening on URL".
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 100), stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	line := p.waitLine(t, "listening on ", 90*time.Second)
	_, rest, _ := strings.Cut(line, "listening on ")
	p.url, _, _ = strings.Cut(rest, " ")
	if !strings.HasPrefix(p.url, "http://127.0.0.1:") {
		t.Fatalf("listening on %q, want a loopback URL", p.url)
	}
	return p
}

// waitLine returns the first stdout line containing s.
func (p *proc) waitLine(t *testing.T, s string, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("auditlog exited before printing %q; stderr:\n%s", s, p.stderr.String())
			}
			if strings.Contains(line, s) {
				return line
			}
		case <-deadline:
			t.Fatalf("auditlog did not print %q within %s; stderr:\n%s", s, within, p.stderr.String())
		}
	}
}

// stop sends sig and waits for the exit, returning the exit code (-1 for
// death by signal).
func (p *proc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range p.lines { // keep the pipe drained
		}
	}()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("auditlog did not exit within 60s of %s; stderr:\n%s", sig, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %d %q is not JSON", url, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// requireExactlyOnce checks that the store in dir holds each id once and
// nothing else: the "no event lost, none twice" guarantee.
func requireExactlyOnce(t *testing.T, dir string, ids []string) {
	t.Helper()
	c := countRows(t, dir, ids)
	for _, id := range ids {
		if c.IDs[id] != 1 {
			t.Errorf("event %s stored %d times, want once", id, c.IDs[id])
		}
	}
	if c.Total != uint64(len(ids)) {
		t.Errorf("the store has %d rows, want %d", c.Total, len(ids))
	}
}
