package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStandaloneSecretsNeverShown: with AUDITLOG_CLICKHOUSE_PASSWORD set
// and a token file, the server at trace level never shows the password,
// a token, or a wrong token a caller presents: not in its log, not in
// error answers, not in /readyz, /healthz or /metrics.
func TestStandaloneSecretsNeverShown(t *testing.T) {
	const (
		password   = "pw-Lk5-never-show-31337"
		readToken  = "tok-read-never-show-4242"
		adminToken = "tok-admin-never-show-777"
		wrongToken = "tok-read-never-show-4243" // one character off
	)
	secrets := []string{password, readToken, adminToken, wrongToken}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(readToken+" read acme\n"+adminToken+" admin *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AUDITLOG_CLICKHOUSE_PASSWORD", password)
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--token-file", tokens, "--log-level", "trace")

	var shown []string
	for _, c := range []struct {
		method, path, token, body string
		status                    int
	}{
		{"POST", "/api/v1/events", wrongToken, `{"action":"login"}`, 401},
		{"POST", "/api/v1/events", "", `{"action":"login"}`, 401},
		{"POST", "/api/v1/events", readToken, `{"action":"login"}`, 403},
		{"POST", "/api/v1/events", adminToken, `{"action":"login","user":{"username":"carol"}}`, 200},
		{"POST", "/api/v1/events", adminToken, `{"action":"Bad Action"}`, 400},
		{"GET", "/api/v1/events/not-a-uuid", readToken, "", 400},
		{"POST", "/api/v1/query", wrongToken, `{"queries":[{"refId":"A"}]}`, 401},
		{"POST", "/api/v1/query", readToken, `{"queries":[{"refId":"A","filters":{"clientIps":["nope"]}}]}`, 207},
		{"GET", "/api/v1/values/user", readToken, "", 200},
		{"GET", "/api/v1/values/password", readToken, "", 400},
		{"GET", "/api/v1/nothing-here", wrongToken, "", 401},
		{"GET", "/readyz", "", "", 200},
		{"GET", "/healthz", "", "", 200},
		{"GET", "/metrics", "", "", 200},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		a := call(t, c.method, p.url+c.path, c.token, "application/json", body)
		if a.status != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, a.status, a.body, c.status)
		}
		shown = append(shown, c.method+" "+c.path+": "+string(a.body))
		for k, v := range a.header {
			shown = append(shown, c.path+" header "+k+": "+strings.Join(v, ","))
		}
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	log := p.stderr.String()
	if !strings.Contains(log, "level=TRACE") || !strings.Contains(log, "level=DEBUG") {
		t.Fatalf("no trace and debug lines in the log: the test would not see secrets logged there:\n%.2000s", log)
	}
	shown = append(shown, "log: "+log)
	for _, s := range shown {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("secret %q shown in %.300s", secret, s)
			}
		}
	}
}
