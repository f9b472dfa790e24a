package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
	"github.com/auditlog/auditlog/pkg/plugin/plugintest"
)

// seeded starts the plugin with an embedded datasource holding events of
// known answers, posted through the events resource as Grafana would.
func seeded(t *testing.T) (*plugintest.Client, plugintest.Datasource, time.Time) {
	t.Helper()
	c := plugintest.Start(t)
	city, asn := geoiptest.Standard(t)
	ds := plugintest.Datasource{UID: "seeded", JSONData: map[string]any{
		"engine": "embedded", "dataPath": plugintest.Dir(t), "geoipCityPath": city, "geoipAsnPath": asn,
	}, Secure: map[string]string{"ingestToken": "s3cret-ingest-token"}}
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	at := func(min int) string { return base.Add(time.Duration(min) * time.Minute).Format(time.RFC3339) }
	events := []string{
		fmt.Sprintf(`{"id":"0195a000-0000-7000-8000-000000000001","action":"login","time":%q,"user":{"id":"1","username":"alice"},"clientIp":"81.2.69.142"}`, at(0)),
		fmt.Sprintf(`{"action":"login_failed","time":%q,"user":{"username":"alice"},"clientIp":"81.2.69.142"}`, at(1)),
		fmt.Sprintf(`{"action":"login_failed","time":%q,"user":{"username":"alice"},"clientIp":"81.2.69.142"}`, at(2)),
		fmt.Sprintf(`{"action":"login_failed","time":%q,"user":{"username":"alice"},"clientIp":"81.2.69.142"}`, at(3)),
		fmt.Sprintf(`{"action":"login","time":%q,"user":{"username":"bob"},"clientIp":"1.128.0.1"}`, at(5)),
		fmt.Sprintf(`{"id":"0195a000-0000-7000-8000-000000000002","action":"model_updated","time":%q,"user":{"username":"admin"},"object":{"app":"authentik_core","model":"user","pk":"7","name":"alice"},"diff":{"email":{"old":"alice@old.example","new":"alice@new.example"}}}`, at(10)),
		fmt.Sprintf(`{"pk":"f52f9eb9-dc2a-4f1e-afea-ad5af90bf680","action":"model_updated","created":%q,"user":{"pk":1,"username":"akadmin","email":"root@localhost"},"app":"authentik.events.signals","client_ip":"10.0.0.1","context":{"model":{"app":"authentik_core","model_name":"group","pk":"g1","name":"admins"},"diff":{"name":{"previous_value":"admin","new_value":"admins"}}}}`, at(11)),
	}
	res := c.CallResource(t, ds, "Editor", http.MethodPost, "events", []byte("["+strings.Join(events, ",")+"]"), map[string]string{"Content-Type": "application/json"})
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"accepted":7`) {
		t.Fatalf("seed: %d %s", res.Status, res.Body)
	}
	return c, ds, base
}

func frameStrings(t *testing.T, f *data.Frame, field string) []string {
	t.Helper()
	fld, _ := f.FieldByName(field)
	if fld == nil {
		t.Fatalf("frame %q has no field %q", f.Name, field)
	}
	out := make([]string, fld.Len())
	for i := range out {
		v, _ := fld.ConcreteAt(i)
		out[i] = fmt.Sprint(v)
	}
	return out
}

func TestQueriesOverGRPC(t *testing.T) {
	c, ds, base := seeded(t)
	from, to := base, base.Add(time.Hour)

	t.Run("logs", func(t *testing.T) {
		res := c.QueryData(t, ds, from, to, time.Minute, `{"refId":"A","queryType":"logs"}`,
			`{"refId":"B","queryType":"logs","filters":{"actions":["login_failed"],"users":["alice"]}}`)
		a := res.Responses["A"]
		if a.Error != nil || len(a.Frames) != 1 {
			t.Fatalf("logs: %v", a.Error)
		}
		f := a.Frames[0]
		if f.Meta == nil || f.Meta.PreferredVisualization != data.VisTypeLogs || f.Fields[0].Name != "time" {
			t.Errorf("logs frame meta/fields: %+v", f.Meta)
		}
		if got := frameStrings(t, f, "action"); fmt.Sprint(got) != "[model_updated model_updated login login_failed login_failed login_failed login]" {
			t.Errorf("logs actions newest first: %v", got)
		}
		if body := frameStrings(t, f, "body"); body[6] != "alice login from 81.2.69.142 (London, GB)" {
			t.Errorf("logs body: %q", body[6])
		}
		if got := res.Responses["B"].Frames[0].Rows(); got != 3 {
			t.Errorf("filtered logs: %d rows, want 3", got)
		}
	})

	t.Run("timeseries per action per bucket", func(t *testing.T) {
		res := c.QueryData(t, ds, from, base.Add(10*time.Minute), time.Minute, `{"refId":"A","queryType":"timeseries","groupBy":"action"}`)
		a := res.Responses["A"]
		if a.Error != nil {
			t.Fatal(a.Error)
		}
		counts := map[string]string{}
		for _, f := range a.Frames {
			cnt := f.Fields[1]
			var vals []string
			for i := 0; i < cnt.Len(); i++ {
				v, _ := cnt.ConcreteAt(i)
				vals = append(vals, fmt.Sprint(v))
			}
			counts[cnt.Labels["action"]] = strings.Join(vals, ",")
		}
		if counts["login_failed"] != "0,1,1,1,0,0,0,0,0,0" || counts["login"] != "1,0,0,0,0,1,0,0,0,0" {
			t.Errorf("per-minute counts: %v", counts)
		}
	})

	t.Run("alert query without frontend", func(t *testing.T) {
		// What alert evaluation sends: no defaults filled in by the editor.
		res := c.QueryData(t, ds, from, to, 0, `{"refId":"A","datasource":{"type":"auditlog-events-datasource","uid":"seeded"},"queryType":"timeseries","groupBy":"user","filters":{"actions":["login_failed"]},"intervalMs":60000,"maxDataPoints":43200}`)
		a := res.Responses["A"]
		if a.Error != nil || len(a.Frames) != 1 {
			t.Fatalf("alert query: %v, %d frames", a.Error, len(a.Frames))
		}
		f := a.Frames[0]
		if f.Fields[1].Labels["user"] != "alice" || f.Fields[1].Type() != data.FieldTypeFloat64 {
			t.Errorf("alert series: labels %v type %v", f.Fields[1].Labels, f.Fields[1].Type())
		}
		var sum float64
		for i := 0; i < f.Rows(); i++ {
			v, _ := f.Fields[1].ConcreteAt(i)
			sum += v.(float64)
		}
		if sum != 3 {
			t.Errorf("alert series sums to %v, want 3", sum)
		}
	})

	t.Run("geomap", func(t *testing.T) {
		f := c.QueryData(t, ds, from, to, time.Minute, `{"queryType":"geomap"}`).Responses["A"].Frames[0]
		cities, counts := frameStrings(t, f, "city"), frameStrings(t, f, "count")
		lat := frameStrings(t, f, "latitude")
		found := false
		for i := range cities {
			if cities[i] == "London" {
				found = true
				if counts[i] != "4" || lat[i] != "51.5142" {
					t.Errorf("London: count %s lat %s, want 4 and 51.5142", counts[i], lat[i])
				}
			}
		}
		if !found {
			t.Errorf("no London on the map: %v", cities)
		}
	})

	t.Run("stats", func(t *testing.T) {
		f := c.QueryData(t, ds, from, to, time.Minute, `{"queryType":"stats","groupBy":"user","limit":2}`).Responses["A"].Frames[0]
		if got := frameStrings(t, f, "user"); fmt.Sprint(got) != "[alice admin]" {
			t.Errorf("top users: %v", got)
		}
		if got := frameStrings(t, f, "count"); got[0] != "4" {
			t.Errorf("alice count %v", got)
		}
	})

	t.Run("details and diff", func(t *testing.T) {
		res := c.QueryData(t, ds, from, to, time.Minute,
			`{"refId":"D","queryType":"details","filters":{"eventId":"0195a000-0000-7000-8000-000000000002"}}`,
			`{"refId":"F","queryType":"diff","filters":{"eventId":"0195a000-0000-7000-8000-000000000002"}}`,
			`{"refId":"G","queryType":"diff"}`,
			`{"refId":"E","queryType":"details"}`)
		kv := map[string]string{}
		d := res.Responses["D"].Frames[0]
		keys, vals := frameStrings(t, d, "key"), frameStrings(t, d, "value")
		for i := range keys {
			kv[keys[i]] = vals[i]
		}
		if kv["action"] != "model_updated" || kv["user.username"] != "admin" || kv["object.model"] != "user" {
			t.Errorf("details: %v", kv)
		}
		f := res.Responses["F"].Frames[0]
		if fmt.Sprint(frameStrings(t, f, "field"), frameStrings(t, f, "old"), frameStrings(t, f, "new")) != "[email] [alice@old.example] [alice@new.example]" {
			t.Errorf("diff rows: %v %v %v", frameStrings(t, f, "field"), frameStrings(t, f, "old"), frameStrings(t, f, "new"))
		}
		g := res.Responses["G"].Frames[0]
		if got := fmt.Sprint(frameStrings(t, g, "field")); got != "[name email]" {
			t.Errorf("diff over the range (authentik context.diff and native diff): %v", got)
		}
		if e := res.Responses["E"].Error; e == nil || !strings.Contains(e.Error(), "eventId") {
			t.Errorf("details without an eventId: %v", e)
		}
	})

	t.Run("values resource", func(t *testing.T) {
		res := c.CallResource(t, ds, "Viewer", http.MethodGet, "values/user?q=al&limit=10", nil, nil)
		if res.Status != 200 || string(res.Body) != `{"values":["alice"]}`+"\n" && string(res.Body) != `{"values":["alice"]}` {
			t.Errorf("values: %d %s", res.Status, res.Body)
		}
	})

	t.Run("resource roles", func(t *testing.T) {
		ev := []byte(`{"action":"login","user":{"username":"carol"}}`)
		if res := c.CallResource(t, ds, "Viewer", http.MethodPost, "events", ev, nil); res.Status != http.StatusForbidden {
			t.Errorf("viewer post: %d %s", res.Status, res.Body)
		}
		if res := c.CallResource(t, ds, "Viewer", http.MethodGet, "events/0195a000-0000-7000-8000-000000000001", nil, nil); res.Status != 200 || !strings.Contains(string(res.Body), `"city":"London"`) {
			t.Errorf("viewer get by id: %d %s", res.Status, res.Body)
		}
		if res := c.CallResource(t, ds, "", http.MethodPost, "events", ev, map[string]string{"X-Auditlog-Token": "s3cret-ingest-token"}); res.Status != 200 {
			t.Errorf("ingest token post: %d %s", res.Status, res.Body)
		}
		if res := c.CallResource(t, ds, "", http.MethodPost, "events", ev, map[string]string{"X-Auditlog-Token": "wrong-token-value"}); res.Status != http.StatusUnauthorized {
			t.Errorf("wrong token: %d %s", res.Status, res.Body)
		}
		if res := c.CallResource(t, ds, "Editor", http.MethodPost, "events", []byte(`{"action":"Bad Action"}`), nil); res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "action") {
			t.Errorf("bad event: %d %s", res.Status, res.Body)
		}
	})
}

// TestTailOverGRPC: a subscriber sees events stored after it subscribed
// that match its filter, and not the ones that do not.
func TestTailOverGRPC(t *testing.T) {
	c, ds, _ := seeded(t)
	frames := c.Tail(t, ds.PluginContext(t, "Viewer"), map[string]any{"actions": []string{"login_failed"}})
	got := make(chan []string, 16)
	go func() {
		defer close(got)
		for raw := range frames {
			var f data.Frame
			if err := json.Unmarshal(raw, &f); err != nil {
				continue
			}
			if fld, _ := f.FieldByName("user"); fld != nil && fld.Len() > 0 {
				var users []string
				for i := 0; i < fld.Len(); i++ {
					v, _ := fld.ConcreteAt(i)
					users = append(users, fmt.Sprint(v))
				}
				got <- users
			}
		}
	}()
	deadline := time.After(20 * time.Second)
	// RunStream subscribes asynchronously, so keep posting a pair (one
	// outside the filter, one inside) until the matching one arrives.
	post := time.NewTicker(300 * time.Millisecond)
	defer post.Stop()
	for i := 0; ; i++ {
		body := fmt.Sprintf(`[{"action":"login","user":{"username":"nomatch%d"}},{"action":"login_failed","user":{"username":"match%d"}}]`, i, i)
		if res := c.CallResource(t, ds, "Editor", http.MethodPost, "events", []byte(body), nil); res.Status != 200 {
			t.Fatalf("post: %d %s", res.Status, res.Body)
		}
		select {
		case users, ok := <-got:
			if !ok {
				t.Fatal("stream ended before an event arrived")
			}
			for _, u := range users {
				if !strings.HasPrefix(u, "match") {
					t.Fatalf("tail delivered %q, which fails the filter", u)
				}
			}
			return
		case <-post.C:
		case <-deadline:
			t.Fatal("no matching event reached the subscriber")
		}
	}
}

// TestMetricsOverGRPC: Grafana scrapes the plugin through CollectMetrics;
// the query and ingest series move when the plugin works.
func TestMetricsOverGRPC(t *testing.T) {
	c, ds, base := seeded(t)
	scrape := func() map[string]*dto.MetricFamily {
		t.Helper()
		res, err := c.Diagnostics.CollectMetrics(context.Background(), &pluginv2.CollectMetricsRequest{PluginContext: ds.PluginContext(t, "Admin")})
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(string(res.Metrics.Prometheus)))
		if err != nil {
			t.Fatalf("parse plugin metrics: %v", err)
		}
		return fams
	}
	count := func(fams map[string]*dto.MetricFamily, name, label, value string) float64 {
		var n float64
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if h := m.GetHistogram(); h != nil {
						n += float64(h.GetSampleCount())
					} else {
						n += m.GetCounter().GetValue()
					}
				}
			}
		}
		return n
	}
	before := scrape()
	c.QueryData(t, ds, base, base.Add(time.Hour), time.Minute, `{"queryType":"logs"}`, `{"refId":"B","queryType":"geomap"}`)
	after := scrape()
	if d := count(after, "auditlog_query_duration_seconds", "query_type", "logs") - count(before, "auditlog_query_duration_seconds", "query_type", "logs"); d != 1 {
		t.Errorf("logs query duration observations moved by %v, want 1", d)
	}
	if d := count(after, "auditlog_query_rows_total", "query_type", "logs") - count(before, "auditlog_query_rows_total", "query_type", "logs"); d != 7 {
		t.Errorf("logs rows moved by %v, want 7", d)
	}
	if b := after["auditlog_ingest_batch_size"].GetMetric(); len(b) == 0 || b[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("no ingest batch observed: %v", b)
	}
	if g := after["auditlog_build_info"].GetMetric(); len(g) == 0 {
		t.Errorf("no build info")
	}
	if _, ok := after["go_goroutines"]; !ok {
		t.Errorf("Go collector missing")
	}
}
