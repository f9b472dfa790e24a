package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/libchdb"
)

// runCLI runs the command in this process. Only for invocations that stop
// before opening a store: the embedded engine allows one data directory
// per process, which the process tests need for their helper.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10MiB", 10 << 20, true},
		{"512KiB", 512 << 10, true},
		{"1MB", 1_000_000, true},
		{"1mb", 1_000_000, true},
		{"8.2MB", 8_200_000, true}, // rounded: 8.2 * 1e6 is 8199999.99…
		{"4096", 4096, true},
		{"2G", 2 << 30, true},
		{"1.5KiB", 1536, true},
		{"100B", 100, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"-1MiB", 0, false},
		{"0", 0, false},
		{"10XB", 0, false},
		{"99999999999GiB", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if s := sizeFlag(10 << 20); s.String() != "10MiB" {
		t.Errorf("String = %q", s.String())
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"2025-01-31T10:00:00+01:00", time.Date(2025, 1, 31, 9, 0, 0, 0, time.UTC), true},
		{"2025-01-31", time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC), true},
		{"30d", now.Add(-30 * 24 * time.Hour), true},
		{"yesterday", time.Time{}, false},
	} {
		got, err := parseSince(tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %s, %v", tc.in, got, err)
		}
	}
}

func TestLogger(t *testing.T) {
	var b bytes.Buffer
	log, err := newLogger(&b, "trace", "text")
	if err != nil {
		t.Fatal(err)
	}
	logTrace(log, "batch")
	log.Debug("dbg")
	if !strings.Contains(b.String(), "level=TRACE msg=batch") || !strings.Contains(b.String(), "level=DEBUG msg=dbg") {
		t.Errorf("trace log: %q", b.String())
	}
	b.Reset()
	log, _ = newLogger(&b, "info", "json")
	logTrace(log, "hidden")
	log.Debug("hidden")
	log.Info("shown")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), `"msg":"shown"`) {
		t.Errorf("info log: %q", b.String())
	}
	for _, bad := range [][2]string{{"verbose", "text"}, {"info", "xml"}} {
		if _, err := newLogger(&b, bad[0], bad[1]); err == nil {
			t.Errorf("newLogger(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestRetentionFlags(t *testing.T) {
	r, err := retention("90d", []string{"login_failed=30d", "model_deleted=5y"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Default != 90*24*time.Hour || r.Rules["login_failed"] != 30*24*time.Hour || r.Rules["model_deleted"] != 5*365*24*time.Hour {
		t.Errorf("retention %+v", r)
	}
}

func TestUsage(t *testing.T) {
	code, _, errOut := runCLI(t)
	if code != 2 || !strings.Contains(errOut, "Usage: auditlog COMMAND") {
		t.Errorf("no args: %d %q", code, errOut)
	}
	for _, name := range []string{"serve", "demo", "import"} {
		if !strings.Contains(errOut, "  "+name+" ") {
			t.Errorf("usage does not list %s: %q", name, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "serve", "-h"); code != 0 || !strings.Contains(errOut, "-retention-rule") || !strings.Contains(errOut, "-geoip-city") {
		t.Errorf("serve -h: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "import"); code != 2 || !strings.Contains(errOut, "authentik") {
		t.Errorf("import: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "import", "authentik", "-h"); code != 0 || !strings.Contains(errOut, "-cursor") {
		t.Errorf("import authentik -h: %d %q", code, errOut)
	}
}

func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	badTokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(badTokens, []byte("# ok\nshort read acme\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad retention", []string{"serve", "--data", data, "--retention", "forever"}, 2, `--retention: "forever" is not a positive duration`},
		{"bad rule", []string{"serve", "--data", data, "--retention-rule", "login"}, 2, "want ACTION=DURATION"},
		{"bad engine", []string{"serve", "--data", data, "--engine", "postgres"}, 2, `--engine "postgres"`},
		{"bad size", []string{"serve", "--data", data, "--max-body", "lots"}, 2, `"lots" is not a size`},
		{"bad log level", []string{"serve", "--data", data, "--log-level", "loud"}, 2, "--log-level"},
		{"stray argument", []string{"serve", "--data", data, "now"}, 2, "unexpected arguments: now"},
		{"open on all interfaces", []string{"serve", "--data", data, "--listen", "0.0.0.0:8080"}, 1, "without a token file"},
		{"token file line", []string{"serve", "--data", data, "--token-file", badTokens}, 1, badTokens + ": line 2: token is 5 characters"},
		{"missing geoip", []string{"serve", "--data", data, "--geoip-city", filepath.Join(dir, "nope.mmdb")}, 1, `open city database "` + filepath.Join(dir, "nope.mmdb") + `"`},
		{"corrupt geoip", []string{"serve", "--data", data, "--geoip-asn", badTokens}, 1, `open asn database "` + badTokens + `"`},
		{"missing libchdb", []string{"serve", "--data", data, "--chdb-lib", filepath.Join(dir, "libchdb.so")}, 1, libchdb.ErrNotFound.Error()},
		{"import without url", []string{"import", "authentik", "--token", "t", "--target", "http://127.0.0.1:1"}, 2, "--url is required"},
		{"import without sink", []string{"import", "authentik", "--url", "http://127.0.0.1:1", "--token", "t"}, 2, "give either --target"},
		{"import with both sinks", []string{"import", "authentik", "--url", "http://127.0.0.1:1", "--token", "t", "--target", "http://127.0.0.1:2", "--data", data}, 2, "give either --target"},
		{"import bad since", []string{"import", "authentik", "--url", "http://127.0.0.1:1", "--token", "t", "--target", "http://127.0.0.1:2", "--since", "soon"}, 2, `--since "soon"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errOut, tc.code, tc.want)
			}
			if code == 1 && strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("a fatal error must be one line: %q", errOut)
			}
		})
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("a failed start created the data directory")
	}
}

func TestMissingLibchdbSaysHowToGetIt(t *testing.T) {
	t.Setenv("CHDB_LIB_PATH", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // no setup cache here
	t.Setenv("HOME", t.TempDir())
	code, _, errOut := runCLI(t, "serve", "--data", filepath.Join(t.TempDir(), "data"))
	if code != 1 || errOut != "auditlog: "+libchdb.ErrNotFound.Error()+"\n" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
