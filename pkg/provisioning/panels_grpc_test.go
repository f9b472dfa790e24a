package provisioning_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
	"github.com/auditlog/auditlog/pkg/plugin/plugintest"
	"github.com/auditlog/auditlog/pkg/provisioning"
)

const detailsID = "0195b000-0000-7000-8000-0000000000d1"

// demoDatasource starts the built plugin with the provisioned datasource's
// uid, seeded through the events resource with demo events plus, in the
// last few minutes, events built to fire every alert rule.
func demoDatasource(t *testing.T) (*plugintest.Client, plugintest.Datasource) {
	t.Helper()
	c := plugintest.Start(t)
	city, asn := geoiptest.Standard(t)
	ds := plugintest.Datasource{UID: "auditlog", JSONData: map[string]any{
		"engine": "embedded", "dataPath": plugintest.Dir(t), "geoipCityPath": city, "geoipAsnPath": asn,
	}}
	now := time.Now().UTC()
	post := func(body []byte) {
		t.Helper()
		res := c.CallResource(t, ds, "Admin", http.MethodPost, "events", body, map[string]string{"Content-Type": "application/x-ndjson"})
		if res.Status != http.StatusOK {
			t.Fatalf("seed: %d %s", res.Status, res.Body)
		}
	}
	post(bytes.Join(demo.GenerateRaw(42, 3000, now.Add(-6*time.Hour), now.Add(-10*time.Minute)), []byte("\n")))

	recent := func(sec int) string { return now.Add(-time.Duration(sec) * time.Second).Format(time.RFC3339Nano) }
	var fire []string
	for i := 0; i < 10; i++ {
		fire = append(fire, fmt.Sprintf(`{"action":"login_failed","time":%q,"user":{"username":"mallory"},"clientIp":"81.2.69.142"}`, recent(60+i)))
	}
	for i, a := range []string{"model_deleted", "configuration_error", "system_exception", "suspicious_request", "policy_exception", "impersonation_started", "property_mapping_exception"} {
		fire = append(fire, fmt.Sprintf(`{"action":%q,"time":%q,"user":{"username":"admin"},"clientIp":"5.4.1.2","object":{"app":"authentik_core","model":"user","pk":"9","name":"eve"}}`, a, recent(90+i)))
	}
	fire = append(fire, fmt.Sprintf(`{"id":%q,"action":"model_updated","time":%q,"user":{"username":"admin"},"clientIp":"89.160.20.112","object":{"app":"authentik_core","model":"user","pk":"9","name":"eve"},"diff":{"email":{"old":"eve@old.example","new":"eve@new.example"}}}`, detailsID, recent(120)))
	post([]byte(strings.Join(fire, "\n")))
	return c, ds
}

// TestEveryPanelAndRuleQueryRuns runs every query the provisioned
// dashboards and alert rules make through the plugin binary, on demo data,
// and checks each answer has the shape its panel or rule needs.
func TestEveryPanelAndRuleQueryRuns(t *testing.T) {
	root, err := provisioning.Root()
	if err != nil {
		t.Fatal(err)
	}
	queries, err := provisioning.Queries(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) < 15 {
		t.Fatalf("only %d provisioned queries found", len(queries))
	}
	c, ds := demoDatasource(t)
	now := time.Now().UTC()
	for _, q := range queries {
		t.Run(q.Source, func(t *testing.T) {
			if q.DatasourceUID != ds.UID {
				t.Fatalf("datasource uid %q is not the provisioned %q", q.DatasourceUID, ds.UID)
			}
			model, err := q.WithVars(map[string][]string{"event_id": {detailsID}})
			if err != nil {
				t.Fatal(err)
			}
			rng := q.RelativeRange
			if rng == 0 {
				rng = 24 * time.Hour
			}
			res := c.QueryData(t, ds, now.Add(-rng), now.Add(time.Minute), time.Minute, string(model))
			var dr = res.Responses[q.RefID]
			if len(res.Responses) == 1 {
				for _, r := range res.Responses {
					dr = r
				}
			}
			if dr.Error != nil {
				t.Fatalf("query error: %v\nmodel %s", dr.Error, model)
			}
			checkFrames(t, q.Frame, dr.Frames)
		})
	}
}

func checkFrames(t *testing.T, kind string, frames data.Frames) {
	t.Helper()
	if len(frames) == 0 {
		t.Fatal("no frames")
	}
	rows := 0
	for _, f := range frames {
		rows += f.Rows()
	}
	if rows == 0 {
		t.Fatalf("empty %s answer", kind)
	}
	f := frames[0]
	need := map[string][]string{
		"logs":    {"time", "body", "level", "id"},
		"details": {"key", "value"},
		"diff":    {"time", "eventId", "field", "old", "new"},
		"geomap":  {"latitude", "longitude", "count"},
		"stats":   {"count", "users", "firstSeen", "lastSeen"},
	}[kind]
	for _, name := range need {
		if fld, _ := f.FieldByName(name); fld == nil {
			t.Errorf("%s frame lacks field %q", kind, name)
		}
	}
	switch kind {
	case "logs":
		if f.Meta == nil || f.Meta.PreferredVisualization != data.VisTypeLogs {
			t.Errorf("logs frame is not marked for the logs panel")
		}
	case "timeseries":
		var total float64
		for _, fr := range frames {
			if len(fr.Fields) != 2 || fr.Fields[0].Type() != data.FieldTypeTime || !fr.Fields[1].Type().Numeric() {
				t.Fatalf("time series frame fields: %v", fr.Fields)
			}
			total += sum(fr.Fields[1])
		}
		if total == 0 {
			t.Errorf("time series of zeros")
		}
	}
}

func sum(f *data.Field) float64 {
	var s float64
	for i := 0; i < f.Len(); i++ {
		if v, ok := f.ConcreteAt(i); ok {
			switch n := v.(type) {
			case float64:
				s += n
			case int64:
				s += float64(n)
			}
		}
	}
	return s
}

// TestAlertConditionsFire evaluates each provisioned rule as Grafana would
// (query A through the plugin, reduce B, threshold C) on data built to fire
// it, and checks that at least one alert instance fires.
func TestAlertConditionsFire(t *testing.T) {
	root, err := provisioning.Root()
	if err != nil {
		t.Fatal(err)
	}
	groups, err := provisioning.LoadAlertRules(root)
	if err != nil {
		t.Fatal(err)
	}
	c, ds := demoDatasource(t)
	n := 0
	for _, g := range groups {
		for _, r := range g.Rules {
			n++
			t.Run(r.Title, func(t *testing.T) {
				byRef := map[string]provisioning.RuleQuery{}
				for _, d := range r.Data {
					byRef[d.RefID] = d
				}
				a, b, cond := byRef["A"], byRef["B"], byRef[r.Condition]
				model, err := a.ModelJSON()
				if err != nil {
					t.Fatal(err)
				}
				now := time.Now().UTC()
				res := c.QueryData(t, ds, now.Add(-a.Range()), now, time.Minute, string(model))
				dr := res.Responses["A"]
				if dr.Error != nil {
					t.Fatalf("rule query: %v", dr.Error)
				}
				reducer, _ := b.Model["reducer"].(string)
				evals, _ := cond.Model["conditions"].([]any)
				if len(evals) == 0 {
					t.Fatalf("threshold %s has no conditions", r.Condition)
				}
				ev := evals[0].(map[string]any)["evaluator"].(map[string]any)
				typ := ev["type"].(string)
				limit := toFloat(ev["params"].([]any)[0])
				fired := []string{}
				for _, f := range dr.Frames {
					if len(f.Fields) < 2 {
						continue
					}
					v := reduce(reducer, f.Fields[1])
					if (typ == "gt" && v > limit) || (typ == "lt" && v < limit) {
						lb, _ := json.Marshal(f.Fields[1].Labels)
						fired = append(fired, string(lb))
					}
				}
				if len(fired) == 0 {
					t.Errorf("rule did not fire on data built to fire it (reducer %s, %s %v)", reducer, typ, limit)
				}
			})
		}
	}
	if n < 6 {
		t.Errorf("only %d alert rules", n)
	}
}

func reduce(reducer string, f *data.Field) float64 {
	switch reducer {
	case "sum":
		return sum(f)
	case "last":
		if f.Len() == 0 {
			return math.NaN()
		}
		v, _ := f.ConcreteAt(f.Len() - 1)
		return toFloat(v)
	case "max":
		m := math.Inf(-1)
		for i := 0; i < f.Len(); i++ {
			v, _ := f.ConcreteAt(i)
			m = math.Max(m, toFloat(v))
		}
		return m
	}
	return math.NaN()
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	case int64:
		return float64(n)
	}
	return math.NaN()
}
