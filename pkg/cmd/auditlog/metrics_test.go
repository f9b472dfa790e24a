package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics in the Prometheus text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := httpClient.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value sums a family's samples (counter values, histogram counts) whose
// labels include all of want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var n float64
	for _, m := range fams[name].GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == k && l.GetValue() == v)
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.GetHistogram() != nil:
			n += float64(m.GetHistogram().GetSampleCount())
		case m.GetGauge() != nil:
			n += m.GetGauge().GetValue()
		default:
			n += m.GetCounter().GetValue()
		}
	}
	return n
}

// TestMetricsMove scrapes the standalone server's /metrics before and after
// ingest and queries and checks the series move, with bounded labels.
func TestMetricsMove(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP metrics process test in -short mode")
	}
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"), "--log-level", "warn")
	before := scrape(t, p.url)

	body := `{"action":"login","user":{"username":"alice"},"clientIp":"10.0.0.1"}
{"action":"login","user":{"username":"alice"}}
{"action":"Bad Action"}`
	resp, err := httpClient.Post(p.url+"/api/v1/events", "application/x-ndjson", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ingest: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = httpClient.Post(p.url+"/api/v1/events", "text/plain", strings.NewReader("x"))
	if err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("415 expected: %v %v", resp, err)
	}
	resp.Body.Close()
	q := `{"from":"now-1h","to":"now","queries":[{"refId":"A","queryType":"logs"},{"refId":"B","queryType":"stats","groupBy":"user"}]}`
	resp, err = httpClient.Post(p.url+"/api/v1/query", "application/json", strings.NewReader(q))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("query: %v %v", resp, err)
	}
	resp.Body.Close()

	after := scrape(t, p.url)
	checks := []struct {
		name   string
		labels map[string]string
		delta  float64
	}{
		{"auditlog_events_ingested_total", map[string]string{"result": "accepted"}, 2},
		{"auditlog_events_ingested_total", map[string]string{"result": "rejected"}, 1},
		{"auditlog_ingest_requests_total", map[string]string{"code": "200"}, 1},
		{"auditlog_ingest_requests_total", map[string]string{"code": "415"}, 1},
		{"auditlog_ingest_batch_size", nil, 1},
		{"auditlog_store_insert_duration_seconds", nil, 1},
		{"auditlog_query_duration_seconds", map[string]string{"query_type": "logs"}, 1},
		{"auditlog_query_duration_seconds", map[string]string{"query_type": "stats"}, 1},
		{"auditlog_query_rows_total", map[string]string{"query_type": "logs"}, 2},
	}
	for _, c := range checks {
		if d := value(after, c.name, c.labels) - value(before, c.name, c.labels); d != c.delta {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, d, c.delta)
		}
	}
	for _, name := range []string{"auditlog_ingest_queue_depth", "auditlog_store_events", "auditlog_store_bytes",
		"auditlog_stream_subscribers", "auditlog_build_info", "auditlog_geoip_lookups_total", "go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := after[name]; !ok && name != "auditlog_geoip_lookups_total" {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// Labels stay bounded: no user names or IPs anywhere.
	for name, f := range after {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "alice") || strings.Contains(l.GetValue(), "10.0.0.1") {
					t.Errorf("%s has an unbounded label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}
