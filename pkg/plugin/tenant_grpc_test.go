package plugin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
	"github.com/auditlog/auditlog/pkg/plugin/plugintest"
)

// tenantData is one tenant's events: marks that must show in its own
// answers and never in the other tenant's.
type tenantData struct {
	name                        string
	ids                         [2]string // a login and a model_updated with a diff
	user, app, ip, country      string
	city, diffField, diffAction string
}

func (d tenantData) events(base time.Time) string {
	return fmt.Sprintf(`[{"id":%q,"action":"login","time":%q,"app":%q,"user":{"username":%q},"clientIp":%q},`+
		`{"id":%q,"action":%q,"time":%q,"app":%q,"user":{"username":%q},"clientIp":%q,"diff":{%q:{"old":"x","new":"y"}}}]`,
		d.ids[0], base.Format(time.RFC3339), d.app, d.user, d.ip,
		d.ids[1], d.diffAction, base.Add(time.Minute).Format(time.RFC3339), d.app, d.user, d.ip, d.diffField)
}

// marks are the strings that identify the tenant's events in any answer.
func (d tenantData) marks() []string {
	return []string{d.ids[0], d.ids[1], d.user, d.app, d.country, d.city, d.diffField, d.diffAction}
}

var (
	tenantA = tenantData{name: "tenant-a", ids: [2]string{"0195a000-0000-7000-8000-00000000000a", "0195a000-0000-7000-8000-0000000000aa"},
		user: "alice-of-a", app: "app-of-a", ip: "81.2.69.142", country: "GB", city: "London", diffField: "field-of-a", diffAction: "model_updated"}
	tenantB = tenantData{name: "tenant-b", ids: [2]string{"0195a000-0000-7000-8000-00000000000b", "0195a000-0000-7000-8000-0000000000bb"},
		user: "bob-of-b", app: "app-of-b", ip: "126.0.0.5", country: "JP", city: "Tokyo", diffField: "field-of-b", diffAction: "model_deleted"}
)

// checkAnswer fails when an answer of own's shows any mark of other's,
// and (when mustShow) when it shows none of own's.
func checkAnswer(t *testing.T, what string, answer []byte, own, other tenantData, mustShow ...string) {
	t.Helper()
	for _, m := range other.marks() {
		if strings.Contains(string(answer), m) {
			t.Errorf("%s of %s shows %q of %s: %.400s", what, own.name, m, other.name, answer)
		}
	}
	for _, m := range mustShow {
		if !strings.Contains(string(answer), m) {
			t.Errorf("%s of %s lacks its own %q: %.400s", what, own.name, m, answer)
		}
	}
}

// TestPluginTenantIsolation: two datasources on one data path, scoped to
// tenants a and b. Every way the plugin reads (each query type, the
// values and events resources, the live tail) shows a datasource its own
// tenant's events and never the other's ids, users, apps, countries,
// cities or diff fields; writing into the other tenant is refused.
func TestPluginTenantIsolation(t *testing.T) {
	c := plugintest.Start(t)
	city, asn := geoiptest.Standard(t)
	dir := plugintest.Dir(t)
	ds := map[string]plugintest.Datasource{}
	base := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	for _, d := range []tenantData{tenantA, tenantB} {
		ds[d.name] = plugintest.Datasource{UID: "uid-" + d.name, JSONData: map[string]any{
			"dataPath": dir, "tenant": d.name, "geoipCityPath": city, "geoipAsnPath": asn}}
		res := c.CallResource(t, ds[d.name], "Editor", http.MethodPost, "events", []byte(d.events(base)), map[string]string{"Content-Type": "application/json"})
		if res.Status != 200 || !strings.Contains(string(res.Body), `"accepted":2`) {
			t.Fatalf("seed %s: %d %s", d.name, res.Status, res.Body)
		}
	}
	from, to := base.Add(-time.Hour), base.Add(time.Hour)

	for _, pair := range [][2]tenantData{{tenantA, tenantB}, {tenantB, tenantA}} {
		own, other := pair[0], pair[1]
		d := ds[own.name]
		t.Run(own.name, func(t *testing.T) {
			queries := []struct{ name, js string }{
				{"logs", `{"refId":"logs","queryType":"logs"}`},
				{"details", fmt.Sprintf(`{"refId":"details","queryType":"details","filters":{"eventId":%q}}`, own.ids[1])},
				{"diff", `{"refId":"diff","queryType":"diff"}`},
				{"diff by id", fmt.Sprintf(`{"refId":"diffid","queryType":"diff","filters":{"eventId":%q}}`, own.ids[1])},
				{"geomap", `{"refId":"geomap","queryType":"geomap"}`},
				{"timeseries by user", `{"refId":"tsuser","queryType":"timeseries","groupBy":"user"}`},
				{"timeseries by country", `{"refId":"tscountry","queryType":"timeseries","groupBy":"country"}`},
				{"stats by user", `{"refId":"stuser","queryType":"stats","groupBy":"user"}`},
				{"stats by app", `{"refId":"stapp","queryType":"stats","groupBy":"app"}`},
				{"stats by country", `{"refId":"stcountry","queryType":"stats","groupBy":"country"}`},
				{"stats by action", `{"refId":"staction","queryType":"stats","groupBy":"action"}`},
			}
			var js []string
			for _, q := range queries {
				js = append(js, q.js)
			}
			res := c.QueryData(t, d, from, to, time.Minute, js...)
			must := map[string][]string{
				"logs": {own.user, own.ids[0]}, "details": {own.ids[1], own.user}, "diff": {own.diffField},
				"diffid": {own.diffField}, "geomap": {own.country, own.city}, "tsuser": {own.user},
				"tscountry": {own.country}, "stuser": {own.user}, "stapp": {own.app}, "stcountry": {own.country},
				"staction": {own.diffAction},
			}
			for _, q := range queries {
				var ref struct{ RefID string }
				_ = json.Unmarshal([]byte(q.js), &ref)
				r := res.Responses[ref.RefID]
				if r.Error != nil {
					t.Errorf("%s: %v", q.name, r.Error)
					continue
				}
				b, err := json.Marshal(r.Frames)
				if err != nil {
					t.Fatal(err)
				}
				checkAnswer(t, q.name, b, own, other, must[ref.RefID]...)
			}

			// The other tenant's events by id: not found, as if they did
			// not exist.
			res = c.QueryData(t, d, from, to, time.Minute,
				fmt.Sprintf(`{"refId":"D","queryType":"details","filters":{"eventId":%q}}`, other.ids[1]),
				fmt.Sprintf(`{"refId":"F","queryType":"diff","filters":{"eventId":%q}}`, other.ids[1]),
				fmt.Sprintf(`{"refId":"L","queryType":"logs","filters":{"eventId":%q}}`, other.ids[0]))
			for _, ref := range []string{"D", "F"} {
				if r := res.Responses[ref]; r.Error == nil || r.Status != backend.StatusNotFound {
					t.Errorf("%s of the other tenant's event: %v %v, want not found", ref, r.Status, r.Error)
				}
			}
			if r := res.Responses["L"]; r.Error != nil || len(r.Frames) != 1 || r.Frames[0].Rows() != 0 {
				t.Errorf("logs filtered on the other tenant's id: %v", r.Error)
			}
			for _, id := range other.ids {
				if r := c.CallResource(t, d, "Viewer", "GET", "events/"+id, nil, nil); r.Status != 404 {
					t.Errorf("GET events/%s of the other tenant: %d %s", id, r.Status, r.Body)
				}
			}
			if r := c.CallResource(t, d, "Viewer", "GET", "events/"+own.ids[0], nil, nil); r.Status != 200 {
				t.Errorf("GET own event: %d %s", r.Status, r.Body)
			} else {
				checkAnswer(t, "GET events/{id}", r.Body, own, other, own.user)
			}
			for field, want := range map[string]string{"user": own.user, "app": own.app, "country": own.country, "action": own.diffAction} {
				r := c.CallResource(t, d, "Viewer", "GET", "values/"+field, nil, nil)
				if r.Status != 200 {
					t.Errorf("values/%s: %d %s", field, r.Status, r.Body)
				}
				checkAnswer(t, "values/"+field, r.Body, own, other, want)
			}
			// Writing into the other tenant is refused as a whole.
			r := c.CallResource(t, d, "Editor", http.MethodPost, "events",
				[]byte(fmt.Sprintf(`[{"action":"login"},{"action":"login","tenant":%q}]`, other.name)), nil)
			if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "may not write events of tenant") {
				t.Errorf("writing into the other tenant: %d %s", r.Status, r.Body)
			}
		})
	}

	// Live tail of tenant a while both write: only a's events arrive.
	t.Run("tail", func(t *testing.T) {
		pc := ds[tenantA.name].PluginContext(t, "Viewer")
		got := c.Tail(t, pc, map[string]any{"search": "tail-probe"})
		deadline := time.After(20 * time.Second)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			// b first, so a b event that leaked would arrive no later
			// than the a event the loop waits for.
			for _, d := range []tenantData{tenantB, tenantA} {
				body := fmt.Sprintf(`{"action":"login","app":%q,"user":{"username":%q},"clientIp":%q,"context":{"probe":"tail-probe %d"}}`, d.app, d.user, d.ip, i)
				if r := c.CallResource(t, ds[d.name], "Editor", http.MethodPost, "events", []byte(body), nil); r.Status != 200 {
					t.Fatalf("post to %s: %d %s", d.name, r.Status, r.Body)
				}
			}
			select {
			case frame, ok := <-got:
				if !ok {
					t.Fatal("the tail ended before an event arrived")
				}
				if !strings.Contains(string(frame), tenantA.user) {
					continue // the schema-only frame
				}
				checkAnswer(t, "live tail", frame, tenantA, tenantB, tenantA.user)
				return
			case <-tick.C:
			case <-deadline:
				t.Fatal("no event of tenant a reached its tail")
			}
		}
	})
}
