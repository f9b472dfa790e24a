package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/authentik"
	"github.com/auditlog/auditlog/pkg/authentik/authentiktest"
	"github.com/auditlog/auditlog/pkg/demo"
)

// runBinary runs auditlog to completion, bounded in time.
func runBinary(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestImportCommand imports from an authentik-shaped server into a data
// directory, resumes after a failure, and is a no-op when run again.
func TestImportCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP import command test in -short mode: it builds and runs auditlog")
	}
	now := time.Now().UTC()
	raws := demo.GenerateRaw(11, 150, now.Add(-7*24*time.Hour), now)
	ak := authentiktest.New(t, "ak-secret-token", raws)
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"import", "authentik", "--url", ak.URL, "--data", data, "--page-size", "40", "--log-level", "warn"}
	env := []string{"AUTHENTIK_TOKEN=ak-secret-token"} // the token stays out of the process list

	ak.FailFrom(3) // two pages, then authentik fails on every try
	code, out, errOut := runBinary(t, env, args...)
	if code != 1 || !strings.Contains(errOut, "HTTP 500: database is restarting") || !strings.Contains(errOut, "run the same command again to resume") {
		t.Fatalf("failing import: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "ak-secret-token") {
		t.Fatal("the token was printed")
	}
	cur, found, err := authentik.LoadCursor(filepath.Join(data, authentik.DefaultCursorFile))
	if err != nil || !found || cur.Imported == 0 || cur.Imported >= 150 {
		t.Fatalf("cursor after the failure: %+v %v %v", cur, found, err)
	}

	ak.FailFrom(0)
	code, out, errOut = runBinary(t, env, args...)
	if code != 0 || !strings.Contains(out, "new, 0 already stored, 0 rejected") || !strings.Contains(errOut, "events 100%") {
		t.Fatalf("resumed import: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, _ = runBinary(t, env, args...)
	if code != 0 || !strings.Contains(out, "import: 0 events") {
		t.Fatalf("third run: exit %d %s", code, out)
	}

	var ids []string
	for _, r := range raws {
		var e struct{ PK string }
		if err := json.Unmarshal(r, &e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.PK)
	}
	if len(ids) != 150 {
		t.Fatalf("%d events served, want 150", len(ids))
	}
	requireExactlyOnce(t, data, ids)
}
