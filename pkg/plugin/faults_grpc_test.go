package plugin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
	"github.com/auditlog/auditlog/pkg/plugin/plugintest"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestPluginSecretsNeverShown: a datasource's ClickHouse password and
// ingest token, and a wrong token a caller presents, never appear in a
// health check (message or details), a resource answer, a query answer,
// the metrics, or anything the plugin logs, even at trace level.
func TestPluginSecretsNeverShown(t *testing.T) {
	const (
		password   = "pw-Zq8-never-show-4711"
		token      = "tok-Vx3-never-show-0815"
		wrongToken = "tok-Vx3-never-show-0816" // one character off
	)
	secrets := []string{password, token, wrongToken}
	c := plugintest.Start(t)
	var shown []string
	see := func(what string, b []byte) {
		shown = append(shown, what+": "+string(b))
	}

	// A ClickHouse server that is not there: the error names the server,
	// not the password.
	unreachable := plugintest.Datasource{UID: "secret-ch", JSONData: map[string]any{
		"engine": "clickhouse", "clickhouseAddr": closedPort(t), "clickhouseUser": "auditlog", "logLevel": "trace"},
		Secure: map[string]string{"clickhousePassword": password, "ingestToken": token}}
	h := c.CheckHealth(t, unreachable)
	if h.Status != pluginv2.CheckHealthResponse_ERROR || !strings.Contains(h.Message, "unreachable") || !strings.Contains(h.Message, "auditlog@") {
		t.Errorf("health of an unreachable server: %v %q", h.Status, h.Message)
	}
	see("health message", []byte(h.Message))
	see("health details", h.JsonDetails)
	res := c.QueryData(t, unreachable, time.Now().Add(-time.Hour), time.Now(), time.Minute, `{}`)
	if r := res.Responses["A"]; r.Error == nil {
		t.Error("a query on an unreachable server answered")
	} else {
		see("query error", []byte(r.Error.Error()))
	}
	r := c.CallResource(t, unreachable, "Editor", "POST", "events", []byte(`{"action":"login"}`), nil)
	see("resource on an unreachable server", r.Body)

	// An embedded datasource with an ingest token, at trace level.
	ds := plugintest.Datasource{UID: "secret-embedded", JSONData: map[string]any{"dataPath": plugintest.Dir(t), "logLevel": "trace"},
		Secure: map[string]string{"clickhousePassword": password, "ingestToken": token}}
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
	}{
		{"wrong token", map[string]string{"X-Auditlog-Token": wrongToken}, 401},
		{"token with a space", map[string]string{"X-Auditlog-Token": token + " "}, 401},
		{"right token", map[string]string{"X-Auditlog-Token": token}, 200},
	} {
		r := c.CallResource(t, ds, "", "POST", "events", []byte(`{"action":"login","user":{"username":"carol"}}`), tc.header)
		if r.Status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.Status, r.Body, tc.status)
		}
		see(tc.name, r.Body)
	}
	r = c.CallResource(t, ds, "", "GET", "values/user", nil, map[string]string{"X-Auditlog-Token": wrongToken})
	see("values with a wrong token", r.Body)
	h = c.CheckHealth(t, ds)
	if h.Status != pluginv2.CheckHealthResponse_OK {
		t.Errorf("health: %v %q", h.Status, h.Message)
	}
	see("health message", []byte(h.Message))
	see("health details", h.JsonDetails)
	res = c.QueryData(t, ds, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), time.Minute, `{}`, `{"refId":"B","queryType":"details"}`)
	b, _ := json.Marshal(res)
	see("query answers", b)
	m, err := c.Diagnostics.CollectMetrics(context.Background(), &pluginv2.CollectMetricsRequest{PluginContext: ds.PluginContext(t, "Admin")})
	if err != nil {
		t.Fatal(err)
	}
	see("metrics", m.Metrics.Prometheus)

	// Give the plugin's log a moment to reach us, then look everywhere.
	time.Sleep(200 * time.Millisecond)
	see("plugin log", []byte(c.Stderr()))
	if !strings.Contains(c.Stderr(), `"@level":"trace"`) {
		t.Error("no trace-level log lines: the test would not see secrets logged at trace level")
	}
	for _, s := range shown {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("secret %q shown in %.300s", secret, s)
			}
		}
	}
}

// TestPluginGeoIPCorruptSwap: a GeoIP file replaced by garbage while the
// datasource serves keeps the old database in use, and the health check
// says the reload failed while staying OK.
func TestPluginGeoIPCorruptSwap(t *testing.T) {
	c := plugintest.Start(t)
	city, _ := geoiptest.Standard(t)
	ds := plugintest.Datasource{UID: "geo-swap", JSONData: map[string]any{"dataPath": plugintest.Dir(t), "geoipCityPath": city}}
	cityOf := func(n int) string {
		t.Helper()
		id := fmt.Sprintf("0195a000-0000-7000-8000-%012d", n)
		r := c.CallResource(t, ds, "Editor", "POST", "events", []byte(`{"id":"`+id+`","action":"login","clientIp":"81.2.69.142"}`), nil)
		if r.Status != 200 {
			t.Fatalf("post: %d %s", r.Status, r.Body)
		}
		r = c.CallResource(t, ds, "Viewer", "GET", "events/"+id, nil, nil)
		var e struct{ Geo struct{ City string } }
		_ = json.Unmarshal(r.Body, &e)
		return e.Geo.City
	}
	if got := cityOf(1); got != "London" {
		t.Fatalf("before the swap: city %q", got)
	}
	tmp := city + ".download"
	if err := os.WriteFile(tmp, []byte(strings.Repeat("not a database ", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, city); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var h *pluginv2.CheckHealthResponse
	for {
		h = c.CheckHealth(t, ds)
		if strings.Contains(h.Message, "GeoIP reload failed (old database kept)") || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if h.Status != pluginv2.CheckHealthResponse_OK || !strings.Contains(h.Message, "GeoIP reload failed (old database kept)") || !strings.Contains(h.Message, filepath.Base(city)) {
		t.Fatalf("health after a corrupt swap: %v %q", h.Status, h.Message)
	}
	var details struct {
		GeoIP struct {
			LastError string
			Databases []struct{ Loaded bool }
		}
	}
	if err := json.Unmarshal(h.JsonDetails, &details); err != nil || details.GeoIP.LastError == "" || len(details.GeoIP.Databases) != 1 || !details.GeoIP.Databases[0].Loaded {
		t.Errorf("health details: %s", h.JsonDetails)
	}
	if got := cityOf(2); got != "London" {
		t.Errorf("after the swap: city %q, want London from the database kept in use", got)
	}
}

// TestPluginQueryLimits: jsonData queryMaxMemory and queryTimeout reach
// ClickHouse. With a memory limit no read can meet, queries fail one by
// one with a message naming the limit, while the health check and ingest
// (whose reads are not limited) go on working. Bad limits are health-check
// errors.
func TestPluginQueryLimits(t *testing.T) {
	c := plugintest.Start(t)
	dir := plugintest.Dir(t)
	ds := plugintest.Datasource{UID: "limited", JSONData: map[string]any{"dataPath": dir, "queryMaxMemory": 1, "queryTimeout": 5}}
	pad := strings.Repeat("p", 600)
	for b := range 2 {
		var body strings.Builder
		for i := range 10_000 {
			fmt.Fprintf(&body, `{"action":"login","user":{"username":"user-%d-%d"},"context":{"pad":%q}}`+"\n", b, i, pad)
		}
		r := c.CallResource(t, ds, "Editor", "POST", "events", []byte(body.String()), map[string]string{"Content-Type": "application/x-ndjson"})
		if r.Status != 200 || !strings.Contains(string(r.Body), `"accepted":10000`) {
			t.Fatalf("ingest under a 1-byte query memory limit: %d %.300s", r.Status, r.Body)
		}
	}
	res := c.QueryData(t, ds, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), time.Minute,
		// The search is outside ASCII so that the hot tier, which holds
		// every event here, leaves the logs read to the engine.
		`{"refId":"logs","limit":10000,"filters":{"search":"ü"}}`, `{"refId":"stats","queryType":"stats","groupBy":"user"}`)
	for _, ref := range []string{"logs", "stats"} {
		r := res.Responses[ref]
		if r.Error == nil {
			t.Errorf("%s answered under a 1-byte memory limit", ref)
			continue
		}
		if r.Status != backend.StatusBadRequest || !strings.Contains(r.Error.Error(), "memory limit") || !strings.Contains(r.Error.Error(), "queryMaxMemory") {
			t.Errorf("%s: %v %v", ref, r.Status, r.Error)
		}
	}
	if r := c.CallResource(t, ds, "Viewer", "GET", "values/user", nil, nil); r.Status != 400 || !strings.Contains(string(r.Body), "memory limit") {
		t.Errorf("values under the limit: %d %.300s", r.Status, r.Body)
	}
	if h := c.CheckHealth(t, ds); h.Status != pluginv2.CheckHealthResponse_OK || !strings.Contains(h.Message, "20000 events") {
		t.Errorf("health under a query limit: %v %q", h.Status, h.Message)
	}
	// Another datasource on the same data without the limit answers: the
	// limit is the datasource's, not the shared store's.
	free := plugintest.Datasource{UID: "free", JSONData: map[string]any{"dataPath": dir}}
	if r := c.QueryData(t, free, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), time.Minute, `{"refId":"A","queryType":"stats"}`).Responses["A"]; r.Error != nil {
		t.Errorf("without the limit: %v", r.Error)
	}

	for _, tc := range []struct {
		name     string
		jsonData map[string]any
		want     string
	}{
		{"negative timeout", map[string]any{"dataPath": dir, "queryTimeout": -1}, "queryTimeout must be between 1 and 86400 seconds"},
		{"sub-second timeout", map[string]any{"dataPath": dir, "queryTimeout": 0.2}, "queryTimeout must be at least 1 second"},
		{"negative memory", map[string]any{"dataPath": dir, "queryMaxMemory": -5}, "queryMaxMemory must be a number of bytes"},
		{"memory as text", map[string]any{"dataPath": dir, "queryMaxMemory": "lots"}, "jsonData is not valid"},
	} {
		h := c.CheckHealth(t, plugintest.Datasource{UID: "bad-" + strings.ReplaceAll(tc.name, " ", "-"), JSONData: tc.jsonData})
		if h.Status != pluginv2.CheckHealthResponse_ERROR || !strings.Contains(h.Message, tc.want) {
			t.Errorf("%s: %v %q, want %q", tc.name, h.Status, h.Message, tc.want)
		}
	}
}

// TestPluginTailSubscriberCap: every distinct live query is one hub
// subscription, and the hub holds at most 100. The 101st stream fails
// with a message saying what the limit is and what to do; the others keep
// running.
func TestPluginTailSubscriberCap(t *testing.T) {
	c := plugintest.Start(t)
	ds := plugintest.Datasource{UID: "tails", JSONData: map[string]any{"dataPath": plugintest.Dir(t)}}
	pc := ds.PluginContext(t, "Viewer")
	// The datasource must exist before the streams start.
	if h := c.CheckHealth(t, ds); h.Status != pluginv2.CheckHealthResponse_OK {
		t.Fatalf("health: %q", h.Message)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 101)
	for i := range 101 {
		f, _ := json.Marshal(map[string]any{"search": fmt.Sprintf("tail-%d", i)})
		stream, err := c.Stream.RunStream(ctx, &pluginv2.RunStreamRequest{PluginContext: pc, Path: "tail/" + base64.RawURLEncoding.EncodeToString(f)})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				if _, err := stream.Recv(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	select {
	case err := <-errs:
		for _, want := range []string{"live tail", "too many live-tail subscribers (the limit is 100)", "close some live panels"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatal("101 live tails ran; want the last refused")
	}
	// The other hundred keep running.
	select {
	case err := <-errs:
		t.Errorf("a second stream ended: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
}
