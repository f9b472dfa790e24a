package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
)

// oneLineError checks a failed start: exit status 1 and one line on
// stderr holding every want.
func oneLineError(t *testing.T, code int, stderr string, want ...string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit status %d, want 1; stderr:\n%s", code, stderr)
	}
	if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
		t.Errorf("the error is %d lines, want one:\n%s", n+1, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q lacks %q", stderr, w)
		}
	}
}

// mountTmpfs mounts a tmpfs of the given size (and options) on a fresh
// directory and unmounts it when the test ends. It needs mount rights
// (root in a namespace that allows it); without them the test is skipped,
// saying why.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount a tmpfs here (%v: %s); this test needs mount rights to make a real full or read-only file system", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// Still busy (a process that has not quite exited): detach it.
			if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
				t.Errorf("umount %s: %v %s / %v %s", dir, err, out, err2, out2)
			}
		}
	})
	return dir
}

// fillDisk writes a file until the file system is full, and returns a
// function that deletes it again.
func fillDisk(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := 0; ; i++ {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
		if i > 4096 {
			t.Fatal("wrote 4 GiB without filling the tmpfs")
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

type apiAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a apiAnswer) errorMessage() string {
	var e struct{ Error string }
	_ = json.Unmarshal(a.body, &e)
	return e.Error
}

func call(t *testing.T, method, url, token, contentType string, body []byte) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiAnswer{resp.StatusCode, resp.Header, b}
}

// TestFullDisk: the data directory's file system fills up while the server
// runs (a real tmpfs filled by a file, so ClickHouse meets a real ENOSPC).
// Ingest answers 503 with a JSON message saying the disk is full and that
// nothing was acknowledged, /readyz says not ready and why, reads go on.
// Once space is freed, the refused batches are accepted as new (none of
// them was half-stored), the server is ready again, and after a restart
// every acknowledged event is there exactly once.
func TestFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP full-disk test in -short mode: it runs the server")
	}
	dir := mountTmpfs(t, "size=64m")
	data := filepath.Join(dir, "data")
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "info")

	acked := makeBatches(3, 50)
	for _, b := range acked {
		if status, ok, err := post(p.url, b); err != nil || !ok {
			t.Fatalf("before the disk fills: %d %v", status, err)
		}
	}
	free := fillDisk(t, dir)
	refused := makeBatches(3, 50)
	for _, b := range refused {
		a := call(t, "POST", p.url+"/api/v1/events", "", "application/x-ndjson", b.body)
		msg := a.errorMessage()
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" ||
			!strings.Contains(msg, "its disk is full") || !strings.Contains(msg, "nothing of this request was acknowledged") {
			t.Fatalf("ingest on a full disk: %d %q %s", a.status, a.header.Get("Retry-After"), a.body)
		}
	}
	var ready struct {
		Status string
		Writes struct {
			OK    bool
			Error string
		}
	}
	if code := getJSON(t, p.url+"/readyz", &ready); code != 503 || ready.Status != "not ready" || ready.Writes.OK || !strings.Contains(ready.Writes.Error, "its disk is full") {
		t.Errorf("readyz on a full disk: %d %+v", code, ready)
	}
	if code := getJSON(t, p.url+"/healthz", nil); code != 200 {
		t.Errorf("healthz on a full disk: %d (the process is alive)", code)
	}
	q := call(t, "POST", p.url+"/api/v1/query", "", "application/json", []byte(`{"queries":[{"refId":"A","queryType":"stats"}]}`))
	if q.status != 200 {
		t.Errorf("a query on a full disk: %d %s", q.status, q.body)
	}

	free()
	for _, b := range refused {
		resp, err := httpClient.Post(p.url+"/api/v1/events", "application/x-ndjson", bytes.NewReader(b.body))
		if err != nil {
			t.Fatal(err)
		}
		var res struct{ Accepted, Duplicates int }
		_ = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if resp.StatusCode != 200 || res.Accepted != len(b.ids) || res.Duplicates != 0 {
			t.Fatalf("a refused batch sent again after freeing space: %d %+v, want all %d new", resp.StatusCode, res, len(b.ids))
		}
		b.acked = true
	}
	if code := getJSON(t, p.url+"/readyz", &ready); code != 200 || ready.Status != "ready" {
		t.Errorf("readyz after freeing space and a good insert: %d %+v", code, ready)
	}
	if log := strings.ToLower(p.stderr.String()); !strings.Contains(log, "not_enough_space") && !strings.Contains(log, "no space left") {
		t.Errorf("the log does not say why inserts failed:\n%s", p.stderr.String())
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
	}

	var ids []string
	for _, b := range append(acked, refused...) {
		ids = append(ids, b.ids...)
	}
	requireExactlyOnce(t, data, ids)
}

// TestUnwritableDataPath: a data path on a read-only file system (a real
// read-only mount: root ignores file modes, so chmod proves nothing when
// the tests run as root) fails the start with one line that names the
// path and the reason.
func TestUnwritableDataPath(t *testing.T) {
	var ro string
	if os.Geteuid() == 0 {
		ro = mountTmpfs(t, "size=1m,ro")
	} else {
		ro = t.TempDir()
		if err := os.Chmod(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(ro, 0o700) })
	}
	for _, tc := range []struct{ name, data, want string }{
		{"existing directory", ro, "is not writable"},
		{"directory to create", filepath.Join(ro, "data"), "create data path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runBinary(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", tc.data)
			reason := "read-only file system"
			if os.Geteuid() != 0 {
				reason = "permission denied"
			}
			oneLineError(t, code, stderr, tc.data, tc.want, reason)
		})
	}
}

// TestDataPathLockedByAnotherProcess: a second server on a data path in
// use fails at once with one line naming the path and the holder's pid;
// the first keeps serving.
func TestDataPathLockedByAnotherProcess(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "warn")
	abs, _ := filepath.Abs(data)
	code, _, stderr := runBinary(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", data)
	oneLineError(t, code, stderr, "data path "+abs+" is in use by another process", "(pid "+strconv.Itoa(p.cmd.Process.Pid)+")")
	if code := getJSON(t, p.url+"/readyz", nil); code != 200 {
		t.Errorf("the first server after the second tried: readyz %d", code)
	}
}

// TestWrongLibchdb: --chdb-lib pointing at a real shared library that is
// not libchdb (the C library), or at a file that is no library, fails
// with one line naming the path and the problem.
func TestWrongLibchdb(t *testing.T) {
	var libc string
	for _, p := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib/libc.so.6",
		"/lib64/libc.so.6", "/usr/lib64/libc.so.6", "/usr/lib/libSystem.B.dylib"} {
		if _, err := os.Stat(p); err == nil {
			libc = p
			break
		}
	}
	notLib := filepath.Join(t.TempDir(), "libchdb.so")
	if err := os.WriteFile(notLib, []byte("not a shared library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, lib, want string }{
		{"not a library", notLib, "libchdb: load " + notLib},
	}
	if libc != "" {
		cases = append(cases, struct{ name, lib, want string }{"the C library", libc, "wrong version"})
	} else {
		t.Log("no C library found at the usual paths; only the not-a-library case runs")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			code, _, stderr := runBinary(t, []string{"CHDB_LIB_PATH="}, "serve", "--listen", "127.0.0.1:0", "--data", data, "--chdb-lib", tc.lib)
			oneLineError(t, code, stderr, tc.lib, tc.want)
		})
	}
}

// TestGeoIPCorruptSwap: the GeoIP file is replaced by garbage while the
// server runs, and SIGHUP reloads: the old database stays in use (events
// are still located), /readyz reports the failed reload without the file's
// path and stays ready, and the log says what happened.
func TestGeoIPCorruptSwap(t *testing.T) {
	city, _ := geoiptest.Standard(t)
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"), "--geoip-city", city, "--log-level", "warn")
	cityOf := func(n int) string {
		t.Helper()
		id := fmt.Sprintf("0195a000-0000-7000-8000-%012d", n)
		a := call(t, "POST", p.url+"/api/v1/events", "", "application/json", []byte(`{"id":"`+id+`","action":"login","clientIp":"81.2.69.142"}`))
		if a.status != 200 {
			t.Fatalf("post: %d %s", a.status, a.body)
		}
		var e struct{ Geo struct{ City string } }
		if code := getJSON(t, p.url+"/api/v1/events/"+id, &e); code != 200 {
			t.Fatalf("get: %d", code)
		}
		return e.Geo.City
	}
	if got := cityOf(1); got != "London" {
		t.Fatalf("before the swap: %q", got)
	}
	tmp := city + ".part"
	if err := os.WriteFile(tmp, bytes.Repeat([]byte("garbage "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, city); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Status string
		GeoIP  struct {
			OK        bool
			LastError string
		}
	}
	var raw json.RawMessage
	deadline := time.Now().Add(20 * time.Second)
	for {
		code := getJSON(t, p.url+"/readyz", &raw)
		_ = json.Unmarshal(raw, &ready)
		if ready.GeoIP.LastError != "" || time.Now().After(deadline) {
			if code != 200 || ready.Status != "ready" || !ready.GeoIP.OK {
				t.Errorf("readyz after a failed reload: %d %s", code, raw)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ready.GeoIP.LastError == "" || !strings.Contains(ready.GeoIP.LastError, "<city file>") {
		t.Errorf("readyz does not report the failed reload: %s", raw)
	}
	if strings.Contains(string(raw), filepath.Dir(city)) {
		t.Errorf("readyz, a public endpoint, shows the file's path: %s", raw)
	}
	if got := cityOf(2); got != "London" {
		t.Errorf("after the swap: %q, want London from the database kept in use", got)
	}
	if !strings.Contains(p.stderr.String(), "geoip: reload failed; the previous databases stay in use") {
		t.Errorf("the log does not report the failed reload:\n%s", p.stderr.String())
	}
}

// TestClickHouseUnreachableAtStart: a ClickHouse address where something
// accepts and hangs up fails the start within seconds, with one line that
// says the server is unreachable and names it (not the password).
func TestClickHouseUnreachableAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	const password = "pw-Qx7-never-show-2024"
	start := time.Now()
	code, _, stderr := runBinary(t, []string{"AUDITLOG_CLICKHOUSE_PASSWORD=" + password}, "serve", "--listen", "127.0.0.1:0",
		"--engine", "clickhouse", "--clickhouse-addr", ln.Addr().String(), "--clickhouse-user", "auditlog", "--log-level", "trace")
	oneLineError(t, code, stderr, "unreachable", ln.Addr().String(), "auditlog@")
	if strings.Contains(stderr, password) {
		t.Errorf("the error shows the password: %s", stderr)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("failing took %s", took)
	}
}
