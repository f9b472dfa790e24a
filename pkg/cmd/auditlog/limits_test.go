package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryLimitFlags: --query-max-memory reaches ClickHouse. With a limit
// no read can meet, each query fails on its own (207, a 400 naming the
// limit) and values answer 400, while ingest (whose reads are not query
// reads) and /readyz go on working. Bad limit flags are usage errors.
func TestQueryLimitFlags(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--query-timeout", "500ms"}, "--query-timeout 500ms: want at least 1s"},
		{[]string{"--query-timeout", "soon"}, `invalid value "soon" for flag -query-timeout`},
		{[]string{"--query-max-memory", "lots"}, `"lots" is not a size`},
		{[]string{"--query-max-concurrent", "0"}, "--query-max-concurrent must be positive"},
	} {
		code, _, stderr := runCLI(t, append([]string{"serve", "--data", data}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}

	p := start(t, "serve", "--listen", "127.0.0.1:0", "--data", data, "--query-max-memory", "1", "--query-timeout", "5s", "--log-level", "warn")
	pad := strings.Repeat("p", 600)
	for b := range 2 {
		var body strings.Builder
		for i := range 10_000 {
			fmt.Fprintf(&body, `{"action":"login","user":{"username":"user-%d-%d"},"context":{"pad":%q}}`+"\n", b, i, pad)
		}
		a := call(t, "POST", p.url+"/api/v1/events", "", "application/x-ndjson", []byte(body.String()))
		if a.status != 200 || !strings.Contains(string(a.body), `"accepted":10000`) {
			t.Fatalf("ingest under a 1-byte query memory limit: %d %.300s", a.status, a.body)
		}
	}
	a := call(t, "POST", p.url+"/api/v1/query", "", "application/json",
		// The search is outside ASCII so that the hot tier, which holds every
		// event here, leaves the logs read to the engine.
		[]byte(`{"queries":[{"refId":"logs","limit":10000,"filters":{"search":"ü"}},{"refId":"stats","queryType":"stats","groupBy":"user"}]}`))
	var res struct {
		Results map[string]struct {
			Status int
			Error  string
		}
	}
	if err := json.Unmarshal(a.body, &res); err != nil || a.status != 207 {
		t.Fatalf("queries under the limit: %d %.500s", a.status, a.body)
	}
	for _, ref := range []string{"logs", "stats"} {
		r := res.Results[ref]
		if r.Status != 400 || !strings.Contains(r.Error, "memory limit") || !strings.Contains(r.Error, "--query-max-memory") {
			t.Errorf("%s: %d %q", ref, r.Status, r.Error)
		}
	}
	if a := call(t, "GET", p.url+"/api/v1/values/user", "", "", nil); a.status != 400 || !strings.Contains(a.errorMessage(), "memory limit") {
		t.Errorf("values under the limit: %d %s", a.status, a.body)
	}
	if code := getJSON(t, p.url+"/readyz", nil); code != 200 {
		t.Errorf("readyz under a query limit: %d", code)
	}
}
