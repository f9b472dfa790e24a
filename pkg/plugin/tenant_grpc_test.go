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
	"github.com/auditlog/auditlog/pkg/hostile"
	"github.com/auditlog/auditlog/pkg/plugin/plugintest"
)

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
	for _, d := range []hostile.Tenant{hostile.TenantA, hostile.TenantB} {
		ds[d.Name] = plugintest.Datasource{UID: "uid-" + d.Name, JSONData: map[string]any{
			"dataPath": dir, "tenant": d.Name, "geoipCityPath": city, "geoipAsnPath": asn}}
		res := c.CallResource(t, ds[d.Name], "Editor", http.MethodPost, "events", []byte(d.Events(base)), map[string]string{"Content-Type": "application/json"})
		if res.Status != 200 || !strings.Contains(string(res.Body), `"accepted":2`) {
			t.Fatalf("seed %s: %d %s", d.Name, res.Status, res.Body)
		}
	}
	from, to := base.Add(-time.Hour), base.Add(time.Hour)

	for _, pair := range [][2]hostile.Tenant{{hostile.TenantA, hostile.TenantB}, {hostile.TenantB, hostile.TenantA}} {
		own, other := pair[0], pair[1]
		d := ds[own.Name]
		t.Run(own.Name, func(t *testing.T) {
			queries := []struct{ name, js string }{
				{"logs", `{"refId":"logs","queryType":"logs"}`},
				{"details", fmt.Sprintf(`{"refId":"details","queryType":"details","filters":{"eventId":%q}}`, own.IDs[1])},
				{"diff", `{"refId":"diff","queryType":"diff"}`},
				{"diff by id", fmt.Sprintf(`{"refId":"diffid","queryType":"diff","filters":{"eventId":%q}}`, own.IDs[1])},
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
				"logs": {own.User, own.IDs[0]}, "details": {own.IDs[1], own.User}, "diff": {own.DiffField},
				"diffid": {own.DiffField}, "geomap": {own.Country, own.City}, "tsuser": {own.User},
				"tscountry": {own.Country}, "stuser": {own.User}, "stapp": {own.App}, "stcountry": {own.Country},
				"staction": {own.DiffAction},
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
				hostile.CheckIsolation(t, q.name, b, own, other, must[ref.RefID]...)
			}

			// The other tenant's events by id: not found, as if they did
			// not exist.
			res = c.QueryData(t, d, from, to, time.Minute,
				fmt.Sprintf(`{"refId":"D","queryType":"details","filters":{"eventId":%q}}`, other.IDs[1]),
				fmt.Sprintf(`{"refId":"F","queryType":"diff","filters":{"eventId":%q}}`, other.IDs[1]),
				fmt.Sprintf(`{"refId":"L","queryType":"logs","filters":{"eventId":%q}}`, other.IDs[0]))
			for _, ref := range []string{"D", "F"} {
				if r := res.Responses[ref]; r.Error == nil || r.Status != backend.StatusNotFound {
					t.Errorf("%s of the other tenant's event: %v %v, want not found", ref, r.Status, r.Error)
				}
			}
			if r := res.Responses["L"]; r.Error != nil || len(r.Frames) != 1 || r.Frames[0].Rows() != 0 {
				t.Errorf("logs filtered on the other tenant's id: %v", r.Error)
			}
			for _, id := range other.IDs {
				if r := c.CallResource(t, d, "Viewer", "GET", "events/"+id, nil, nil); r.Status != 404 {
					t.Errorf("GET events/%s of the other tenant: %d %s", id, r.Status, r.Body)
				}
			}
			if r := c.CallResource(t, d, "Viewer", "GET", "events/"+own.IDs[0], nil, nil); r.Status != 200 {
				t.Errorf("GET own event: %d %s", r.Status, r.Body)
			} else {
				hostile.CheckIsolation(t, "GET events/{id}", r.Body, own, other, own.User)
			}
			for field, want := range map[string]string{"user": own.User, "app": own.App, "country": own.Country, "action": own.DiffAction} {
				r := c.CallResource(t, d, "Viewer", "GET", "values/"+field, nil, nil)
				if r.Status != 200 {
					t.Errorf("values/%s: %d %s", field, r.Status, r.Body)
				}
				hostile.CheckIsolation(t, "values/"+field, r.Body, own, other, want)
			}
			// Writing into the other tenant is refused as a whole.
			r := c.CallResource(t, d, "Editor", http.MethodPost, "events",
				[]byte(fmt.Sprintf(`[{"action":"login"},{"action":"login","tenant":%q}]`, other.Name)), nil)
			if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "may not write events of tenant") {
				t.Errorf("writing into the other tenant: %d %s", r.Status, r.Body)
			}
		})
	}

	// Live tail of tenant a while both write: only a's events arrive.
	t.Run("tail", func(t *testing.T) {
		pc := ds[hostile.TenantA.Name].PluginContext(t, "Viewer")
		got := c.Tail(t, pc, map[string]any{"search": "tail-probe"})
		deadline := time.After(20 * time.Second)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			// b first, so a b event that leaked would arrive no later
			// than the a event the loop waits for.
			for _, d := range []hostile.Tenant{hostile.TenantB, hostile.TenantA} {
				body := fmt.Sprintf(`{"action":"login","app":%q,"user":{"username":%q},"clientIp":%q,"context":{"probe":"tail-probe %d"}}`, d.App, d.User, d.IP, i)
				if r := c.CallResource(t, ds[d.Name], "Editor", http.MethodPost, "events", []byte(body), nil); r.Status != 200 {
					t.Fatalf("post to %s: %d %s", d.Name, r.Status, r.Body)
				}
			}
			select {
			case frame, ok := <-got:
				if !ok {
					t.Fatal("the tail ended before an event arrived")
				}
				if !strings.Contains(string(frame), hostile.TenantA.User) {
					continue // the schema-only frame
				}
				hostile.CheckIsolation(t, "live tail", frame, hostile.TenantA, hostile.TenantB, hostile.TenantA.User)
				return
			case <-tick.C:
			case <-deadline:
				t.Fatal("no event of tenant a reached its tail")
			}
		}
	})
}
