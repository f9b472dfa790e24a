package libchdb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

type tarEntry struct {
	name string
	body string
	dir  bool
}

func writeTGZ(t *testing.T, p string, entries []tarEntry) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.dir {
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestInstallExtractTGZ(t *testing.T) {
	tmp := t.TempDir()
	tgz := filepath.Join(tmp, "pkg.tgz")
	lib := strings.Repeat("ELF library bytes ", 10000)
	writeTGZ(t, tgz, []tarEntry{
		{name: "package/", dir: true},
		{name: "package/package.json", body: `{"name":"x"}`},
		{name: "./package/LICENSE", body: "licence text"},
		{name: "package/libchdb.so", body: lib},
		{name: "package/index.js", body: "module.exports = 1"},
	})
	dest := filepath.Join(tmp, "dest")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	err := extractTGZ(tgz, dest, []member{
		{name: "package/LICENSE", file: "LICENSE", mode: 0o644},
		{name: "package/libchdb.so", file: "libchdb.so", mode: 0o755},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dest, "libchdb.so"))
	if err != nil || string(got) != lib {
		t.Fatalf("libchdb.so: err=%v, %d bytes, want %d", err, len(got), len(lib))
	}
	if got, _ := os.ReadFile(filepath.Join(dest, "LICENSE")); string(got) != "licence text" {
		t.Fatalf("LICENSE = %q", got)
	}
	st, err := os.Stat(filepath.Join(dest, "libchdb.so"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("libchdb.so mode: %v %v", st.Mode(), err)
	}
	if names := listDir(t, dest); len(names) != 2 {
		t.Fatalf("dest holds %v, want only LICENSE and libchdb.so", names)
	}
}

func TestInstallExtractMissingMember(t *testing.T) {
	tmp := t.TempDir()
	tgz := filepath.Join(tmp, "pkg.tgz")
	writeTGZ(t, tgz, []tarEntry{{name: "package/LICENSE", body: "x"}})
	dest := filepath.Join(tmp, "dest")
	os.MkdirAll(dest, 0o755)
	err := extractTGZ(tgz, dest, []member{
		{name: "package/LICENSE", file: "LICENSE", mode: 0o644},
		{name: "package/libchdb.so", file: "libchdb.so", mode: 0o755},
	})
	if err == nil || !strings.Contains(err.Error(), "lacks package/libchdb.so") {
		t.Fatalf("err = %v, want a missing-member error", err)
	}
	// Nothing is installed unless everything is: no LICENSE, no temp files.
	if names := listDir(t, dest); len(names) != 0 {
		t.Fatalf("dest holds %v after a failed extraction", names)
	}
}

func TestInstallExtractTruncated(t *testing.T) {
	tmp := t.TempDir()
	tgz := filepath.Join(tmp, "pkg.tgz")
	// Incompressible content so that cutting the file cuts the member.
	body := make([]byte, 256<<10)
	x := uint32(1)
	for i := range body {
		x = x*1664525 + 1013904223
		body[i] = byte(x >> 24)
	}
	writeTGZ(t, tgz, []tarEntry{{name: "package/libchdb.so", body: string(body)}})
	full, _ := os.ReadFile(tgz)
	os.WriteFile(tgz, full[:len(full)/2], 0o644)
	dest := filepath.Join(tmp, "dest")
	os.MkdirAll(dest, 0o755)
	err := extractTGZ(tgz, dest, []member{{name: "package/libchdb.so", file: "libchdb.so", mode: 0o755}})
	if err == nil {
		t.Fatal("truncated tarball extracted without error")
	}
	if names := listDir(t, dest); len(names) != 0 {
		t.Fatalf("dest holds %v after a failed extraction", names)
	}
}

// useTempCache points os.UserCacheDir at a fresh directory.
func useTempCache(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	t.Setenv("HOME", dir) // macOS: ~/Library/Caches
	if _, err := NPMPackage(); err != nil {
		t.Skip(err)
	}
	return dir
}

func TestInstallAlreadyInstalledSkipsNPM(t *testing.T) {
	useTempCache(t)
	want := filepath.Join(CacheDir(), LibName())
	os.MkdirAll(CacheDir(), 0o755)
	if err := os.WriteFile(want, []byte("lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	called := false
	old := npmPack
	npmPack = func(context.Context, io.Writer, string, string) (string, error) {
		called = true
		return "", io.ErrUnexpectedEOF
	}
	defer func() { npmPack = old }()

	got, err := Install(context.Background(), io.Discard)
	if err != nil || got != want {
		t.Fatalf("Install = %q, %v; want %q", got, err, want)
	}
	if called {
		t.Fatal("Install ran npm pack although the library is installed")
	}
}

func TestInstallDownloadsOnce(t *testing.T) {
	useTempCache(t)
	calls := 0
	old := npmPack
	npmPack = func(_ context.Context, _ io.Writer, spec, dir string) (string, error) {
		calls++
		pkg, _ := NPMPackage()
		if spec != pkg+"@"+Version {
			t.Errorf("npm pack %q, want %s@%s", spec, pkg, Version)
		}
		p := filepath.Join(dir, "lib.tgz")
		writeTGZ(t, p, []tarEntry{{name: "package/" + LibName(), body: "fake lib"}})
		return p, nil
	}
	defer func() { npmPack = old }()

	for i := 0; i < 2; i++ {
		got, err := Install(context.Background(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(got); string(b) != "fake lib" {
			t.Fatalf("installed %q", b)
		}
	}
	if calls != 1 {
		t.Fatalf("npm pack ran %d times, want 1", calls)
	}
	// The download directory is gone; only the library is in the cache.
	if names := listDir(t, filepath.Dir(CacheDir())); len(names) != 1 {
		t.Fatalf("cache holds %v", names)
	}
}

func TestInstallNPMErrors(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell script stands in for npm")
	}
	useTempCache(t)
	bin := t.TempDir()

	t.Setenv("PATH", bin)
	_, err := Install(context.Background(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "libchdb: npm pack") || !strings.Contains(err.Error(), "npm not found") {
		t.Fatalf("without npm: err = %v", err)
	}

	script := "#!/bin/sh\necho 'npm error 404 Not Found' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = Install(context.Background(), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "libchdb: npm pack @chdb/") || !strings.Contains(err.Error(), "404 Not Found") {
		t.Fatalf("failing npm: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(CacheDir(), LibName())); !os.IsNotExist(err) {
		t.Fatalf("library exists after a failed install: %v", err)
	}
}
