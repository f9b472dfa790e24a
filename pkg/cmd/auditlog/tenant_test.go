package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
)

// tenantFixture is one tenant's events and tokens: marks that must show in
// its own answers and never in the other tenant's.
type tenantFixture struct {
	name, ingestToken, readToken string
	ids                          [2]string // a login and a change with a diff
	user, app, ip, country, city string
	diffField, diffAction        string
}

func (d tenantFixture) events(base time.Time) string {
	return fmt.Sprintf(`[{"id":%q,"action":"login","time":%q,"app":%q,"user":{"username":%q},"clientIp":%q},`+
		`{"id":%q,"action":%q,"time":%q,"app":%q,"user":{"username":%q},"clientIp":%q,"diff":{%q:{"old":"x","new":"y"}}}]`,
		d.ids[0], base.Format(time.RFC3339), d.app, d.user, d.ip,
		d.ids[1], d.diffAction, base.Add(time.Minute).Format(time.RFC3339), d.app, d.user, d.ip, d.diffField)
}

func (d tenantFixture) marks() []string {
	return []string{d.ids[0], d.ids[1], d.user, d.app, d.country, d.city, d.diffField, d.diffAction}
}

var (
	fixtureA = tenantFixture{name: "tenant-a", ingestToken: "ingest-a-0123456789abcdef", readToken: "read-a-0123456789abcdef",
		ids:  [2]string{"0195a000-0000-7000-8000-00000000000a", "0195a000-0000-7000-8000-0000000000aa"},
		user: "alice-of-a", app: "app-of-a", ip: "81.2.69.142", country: "GB", city: "London", diffField: "field-of-a", diffAction: "model_updated"}
	fixtureB = tenantFixture{name: "tenant-b", ingestToken: "ingest-b-0123456789abcdef", readToken: "read-b-0123456789abcdef",
		ids:  [2]string{"0195a000-0000-7000-8000-00000000000b", "0195a000-0000-7000-8000-0000000000bb"},
		user: "bob-of-b", app: "app-of-b", ip: "126.0.0.5", country: "JP", city: "Tokyo", diffField: "field-of-b", diffAction: "model_deleted"}
)

func noMarksOf(t *testing.T, what string, answer []byte, own, other tenantFixture, mustShow ...string) {
	t.Helper()
	for _, m := range other.marks() {
		if strings.Contains(string(answer), m) {
			t.Errorf("%s for %s shows %q of %s: %.400s", what, own.name, m, other.name, answer)
		}
	}
	for _, m := range mustShow {
		if !strings.Contains(string(answer), m) {
			t.Errorf("%s for %s lacks its own %q: %.400s", what, own.name, m, answer)
		}
	}
}

// TestStandaloneTenantIsolation: the standalone server with tenant-scoped
// tokens. With tenant a's read token every read (each query type of POST
// /api/v1/query, details and diff by id, values, GET /api/v1/events/{id},
// the NDJSON tail) shows a's events and never b's ids, users, apps,
// countries, cities or diff fields, and the other way round; a's ingest
// token cannot write into b.
func TestStandaloneTenantIsolation(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	var file strings.Builder
	for _, d := range []tenantFixture{fixtureA, fixtureB} {
		fmt.Fprintf(&file, "%s ingest %s\n%s read %s\n", d.ingestToken, d.name, d.readToken, d.name)
	}
	if err := os.WriteFile(tokens, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	city, asn := geoiptest.Standard(t)
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--token-file", tokens,
		"--geoip-city", city, "--geoip-asn", asn, "--log-level", "warn")
	base := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	for _, d := range []tenantFixture{fixtureA, fixtureB} {
		a := call(t, "POST", p.url+"/api/v1/events", d.ingestToken, "application/json", []byte(d.events(base)))
		if a.status != 200 || !strings.Contains(string(a.body), `"accepted":2`) {
			t.Fatalf("seed %s: %d %s", d.name, a.status, a.body)
		}
	}
	rng := fmt.Sprintf(`"from":"%d","to":"%d"`, base.Add(-time.Hour).UnixMilli(), base.Add(time.Hour).UnixMilli())

	for _, pair := range [][2]tenantFixture{{fixtureA, fixtureB}, {fixtureB, fixtureA}} {
		own, other := pair[0], pair[1]
		t.Run(own.name, func(t *testing.T) {
			queries := []struct {
				ref, js string
				must    []string
			}{
				{"logs", `{"refId":"logs","queryType":"logs"}`, []string{own.user, own.ids[0]}},
				{"details", fmt.Sprintf(`{"refId":"details","queryType":"details","filters":{"eventId":%q}}`, own.ids[1]), []string{own.ids[1], own.user}},
				{"diff", `{"refId":"diff","queryType":"diff"}`, []string{own.diffField}},
				{"diffid", fmt.Sprintf(`{"refId":"diffid","queryType":"diff","filters":{"eventId":%q}}`, own.ids[1]), []string{own.diffField}},
				{"geomap", `{"refId":"geomap","queryType":"geomap"}`, []string{own.country, own.city}},
				{"tsuser", `{"refId":"tsuser","queryType":"timeseries","groupBy":"user","intervalMs":60000}`, []string{own.user}},
				{"tscountry", `{"refId":"tscountry","queryType":"timeseries","groupBy":"country","intervalMs":60000}`, []string{own.country}},
				{"stuser", `{"refId":"stuser","queryType":"stats","groupBy":"user"}`, []string{own.user}},
				{"stapp", `{"refId":"stapp","queryType":"stats","groupBy":"app"}`, []string{own.app}},
				{"stcountry", `{"refId":"stcountry","queryType":"stats","groupBy":"country"}`, []string{own.country}},
				{"staction", `{"refId":"staction","queryType":"stats","groupBy":"action"}`, []string{own.diffAction}},
			}
			for _, q := range queries {
				a := call(t, "POST", p.url+"/api/v1/query", own.readToken, "application/json", []byte(`{`+rng+`,"queries":[`+q.js+`]}`))
				if a.status != 200 {
					t.Errorf("%s: %d %.300s", q.ref, a.status, a.body)
					continue
				}
				noMarksOf(t, q.ref, a.body, own, other, q.must...)
			}
			for _, js := range []string{
				fmt.Sprintf(`{"refId":"D","queryType":"details","filters":{"eventId":%q}}`, other.ids[1]),
				fmt.Sprintf(`{"refId":"F","queryType":"diff","filters":{"eventId":%q}}`, other.ids[1]),
			} {
				a := call(t, "POST", p.url+"/api/v1/query", own.readToken, "application/json", []byte(`{`+rng+`,"queries":[`+js+`]}`))
				if a.status != http.StatusMultiStatus || !strings.Contains(string(a.body), "not found") {
					t.Errorf("the other tenant's event by id: %d %.300s", a.status, a.body)
				}
			}
			for _, id := range other.ids {
				if a := call(t, "GET", p.url+"/api/v1/events/"+id, own.readToken, "", nil); a.status != 404 {
					t.Errorf("GET the other tenant's event %s: %d %s", id, a.status, a.body)
				}
			}
			if a := call(t, "GET", p.url+"/api/v1/events/"+own.ids[0], own.readToken, "", nil); a.status != 200 {
				t.Errorf("GET own event: %d %s", a.status, a.body)
			} else {
				noMarksOf(t, "GET /api/v1/events/{id}", a.body, own, other, own.user)
			}
			for field, want := range map[string]string{"user": own.user, "app": own.app, "country": own.country, "action": own.diffAction} {
				a := call(t, "GET", p.url+"/api/v1/values/"+field, own.readToken, "", nil)
				if a.status != 200 {
					t.Errorf("values/%s: %d %s", field, a.status, a.body)
				}
				noMarksOf(t, "values/"+field, a.body, own, other, want)
			}
			a := call(t, "POST", p.url+"/api/v1/events", own.ingestToken, "application/json",
				[]byte(fmt.Sprintf(`[{"action":"login"},{"action":"login","tenant":%q}]`, other.name)))
			if a.status != http.StatusForbidden || !strings.Contains(a.errorMessage(), "may not write events of tenant") {
				t.Errorf("writing into the other tenant: %d %s", a.status, a.body)
			}
		})
	}

	t.Run("tail", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", p.url+"/api/v1/tail?search=tail-probe", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+fixtureA.readToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("tail: %d", resp.StatusCode)
		}
		lines := make(chan string, 64)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
			for sc.Scan() {
				if l := strings.TrimSpace(sc.Text()); l != "" {
					lines <- l
				}
			}
		}()
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			// b first: a leaked b event would arrive before the a event
			// the loop waits for.
			for _, d := range []tenantFixture{fixtureB, fixtureA} {
				body := fmt.Sprintf(`{"action":"login","app":%q,"user":{"username":%q},"clientIp":%q,"context":{"probe":"tail-probe %d"}}`, d.app, d.user, d.ip, i)
				if a := call(t, "POST", p.url+"/api/v1/events", d.ingestToken, "application/json", []byte(body)); a.status != 200 {
					t.Fatalf("post to %s: %d %s", d.name, a.status, a.body)
				}
			}
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatal("the tail ended before an event arrived")
				}
				var e struct{ Tenant string }
				_ = json.Unmarshal([]byte(line), &e)
				noMarksOf(t, "tail", []byte(line), fixtureA, fixtureB, fixtureA.user)
				if e.Tenant != fixtureA.name {
					t.Errorf("tail of %s delivered an event of %q", fixtureA.name, e.Tenant)
				}
				return
			case <-tick.C:
			case <-ctx.Done():
				t.Fatal("no event of tenant a reached its tail")
			}
		}
	})
}
