package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSmokeBench runs the whole bench on 2,000 events, PostgreSQL
// baseline included when PostgreSQL is installed, and checks that
// latest.json has every documented key with a sane value. It checks the
// bench, not the speed: speed targets live in the report, not in tests.
func TestSmokeBench(t *testing.T) {
	if testing.Short() {
		t.Skip("the smoke bench takes about half a minute")
	}
	_, pgErr := findPostgres()
	out := filepath.Join(t.TempDir(), "latest.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, Smoke(Config{Postgres: true, Out: out, Log: testWriter{t}}))
	if err != nil {
		t.Fatal(err)
	}
	if pgErr != nil {
		t.Logf("PostgreSQL is not installed (%v): the baseline was skipped", pgErr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	positive := func(key string, v any) {
		t.Helper()
		f, ok := v.(float64)
		if !ok || !(f > 0) {
			t.Errorf("%s = %v, want a positive number", key, v)
		}
	}
	if got["events"] != float64(2000) {
		t.Errorf("events = %v, want 2000", got["events"])
	}
	for _, k := range []string{"ingest_events_per_s", "raw_insert_events_per_s", "retention_ms", "peak_rss_bytes", "bytes_per_event"} {
		positive(k, got[k])
	}
	if hc, _ := got["host_check_ms"].([]any); len(hc) != 2 {
		t.Errorf("host_check_ms = %v, want the check before and after", got["host_check_ms"])
	} else {
		positive("host_check_ms[0]", hc[0])
		positive("host_check_ms[1]", hc[1])
	}
	cpu, _ := got["ingest_cpu_us_per_event"].(map[string]any)
	positive("ingest_cpu_us_per_event.user", cpu["user"])
	if _, ok := cpu["system"].(float64); !ok {
		t.Errorf("ingest_cpu_us_per_event.system = %v, want a number", cpu["system"])
	}
	pgKeys := []string{"postgres_insert_events_per_s", "postgres_copy_events_per_s"}
	for _, k := range pgKeys {
		v, ok := got[k]
		if !ok {
			t.Errorf("key %s is missing", k)
		} else if pgErr == nil {
			positive(k, v)
		} else if v != nil {
			t.Errorf("%s = %v without PostgreSQL, want null", k, v)
		}
	}
	qs, _ := got["queries"].(map[string]any)
	for _, name := range queryNames {
		q, ok := qs[name].(map[string]any)
		if !ok {
			t.Errorf("queries.%s is missing", name)
			continue
		}
		positive("queries."+name+".p50_ms", q["p50_ms"])
		positive("queries."+name+".p99_ms", q["p99_ms"])
		if q["p99_ms"].(float64) < q["p50_ms"].(float64) {
			t.Errorf("queries.%s: p99 %v below p50 %v", name, q["p99_ms"], q["p50_ms"])
		}
		if _, ok := q["postgres_p50_ms"]; !ok {
			t.Errorf("queries.%s.postgres_p50_ms is missing", name)
		} else if pgErr == nil {
			positive("queries."+name+".postgres_p50_ms", q["postgres_p50_ms"])
		}
	}
	// Every query found something: a bench of empty answers measures nothing.
	for _, name := range []string{"logs", "by_id", "timeseries", "timeseries_minute", "geomap", "stats", "search_common"} {
		if res.Queries[name].Rows == 0 {
			t.Errorf("query %s returned no rows", name)
		}
	}
	if res.RetentionRows != 2000/30 {
		t.Errorf("retention day of %d events, want %d", res.RetentionRows, 2000/30)
	}
	if res.PeakRSSBytes < 10<<20 {
		t.Errorf("peak RSS %d bytes is implausibly small", res.PeakRSSBytes)
	}
}

// testWriter sends the bench's progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
