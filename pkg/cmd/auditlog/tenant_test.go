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
	"github.com/auditlog/auditlog/pkg/hostile"
)

// tenantFixture is a tenant of the isolation tests with its tokens.
type tenantFixture struct {
	hostile.Tenant
	ingestToken, readToken string
}

var (
	fixtureA = tenantFixture{hostile.TenantA, "ingest-a-0123456789abcdef", "read-a-0123456789abcdef"}
	fixtureB = tenantFixture{hostile.TenantB, "ingest-b-0123456789abcdef", "read-b-0123456789abcdef"}
)

func noMarksOf(t *testing.T, what string, answer []byte, own, other tenantFixture, mustShow ...string) {
	t.Helper()
	hostile.CheckIsolation(t, what, answer, own.Tenant, other.Tenant, mustShow...)
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
		fmt.Fprintf(&file, "%s ingest %s\n%s read %s\n", d.ingestToken, d.Name, d.readToken, d.Name)
	}
	if err := os.WriteFile(tokens, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	city, asn := geoiptest.Standard(t)
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--token-file", tokens,
		"--geoip-city", city, "--geoip-asn", asn, "--log-level", "warn")
	base := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	for _, d := range []tenantFixture{fixtureA, fixtureB} {
		a := call(t, "POST", p.url+"/api/v1/events", d.ingestToken, "application/json", []byte(d.Events(base)))
		if a.status != 200 || !strings.Contains(string(a.body), `"accepted":2`) {
			t.Fatalf("seed %s: %d %s", d.Name, a.status, a.body)
		}
	}
	rng := fmt.Sprintf(`"from":"%d","to":"%d"`, base.Add(-time.Hour).UnixMilli(), base.Add(time.Hour).UnixMilli())

	for _, pair := range [][2]tenantFixture{{fixtureA, fixtureB}, {fixtureB, fixtureA}} {
		own, other := pair[0], pair[1]
		t.Run(own.Name, func(t *testing.T) {
			queries := []struct {
				ref, js string
				must    []string
			}{
				{"logs", `{"refId":"logs","queryType":"logs"}`, []string{own.User, own.IDs[0]}},
				{"details", fmt.Sprintf(`{"refId":"details","queryType":"details","filters":{"eventId":%q}}`, own.IDs[1]), []string{own.IDs[1], own.User}},
				{"diff", `{"refId":"diff","queryType":"diff"}`, []string{own.DiffField}},
				{"diffid", fmt.Sprintf(`{"refId":"diffid","queryType":"diff","filters":{"eventId":%q}}`, own.IDs[1]), []string{own.DiffField}},
				{"geomap", `{"refId":"geomap","queryType":"geomap"}`, []string{own.Country, own.City}},
				{"tsuser", `{"refId":"tsuser","queryType":"timeseries","groupBy":"user","intervalMs":60000}`, []string{own.User}},
				{"tscountry", `{"refId":"tscountry","queryType":"timeseries","groupBy":"country","intervalMs":60000}`, []string{own.Country}},
				{"stuser", `{"refId":"stuser","queryType":"stats","groupBy":"user"}`, []string{own.User}},
				{"stapp", `{"refId":"stapp","queryType":"stats","groupBy":"app"}`, []string{own.App}},
				{"stcountry", `{"refId":"stcountry","queryType":"stats","groupBy":"country"}`, []string{own.Country}},
				{"staction", `{"refId":"staction","queryType":"stats","groupBy":"action"}`, []string{own.DiffAction}},
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
				fmt.Sprintf(`{"refId":"D","queryType":"details","filters":{"eventId":%q}}`, other.IDs[1]),
				fmt.Sprintf(`{"refId":"F","queryType":"diff","filters":{"eventId":%q}}`, other.IDs[1]),
			} {
				a := call(t, "POST", p.url+"/api/v1/query", own.readToken, "application/json", []byte(`{`+rng+`,"queries":[`+js+`]}`))
				if a.status != http.StatusMultiStatus || !strings.Contains(string(a.body), "not found") {
					t.Errorf("the other tenant's event by id: %d %.300s", a.status, a.body)
				}
			}
			for _, id := range other.IDs {
				if a := call(t, "GET", p.url+"/api/v1/events/"+id, own.readToken, "", nil); a.status != 404 {
					t.Errorf("GET the other tenant's event %s: %d %s", id, a.status, a.body)
				}
			}
			if a := call(t, "GET", p.url+"/api/v1/events/"+own.IDs[0], own.readToken, "", nil); a.status != 200 {
				t.Errorf("GET own event: %d %s", a.status, a.body)
			} else {
				noMarksOf(t, "GET /api/v1/events/{id}", a.body, own, other, own.User)
			}
			for field, want := range map[string]string{"user": own.User, "app": own.App, "country": own.Country, "action": own.DiffAction} {
				a := call(t, "GET", p.url+"/api/v1/values/"+field, own.readToken, "", nil)
				if a.status != 200 {
					t.Errorf("values/%s: %d %s", field, a.status, a.body)
				}
				noMarksOf(t, "values/"+field, a.body, own, other, want)
			}
			a := call(t, "POST", p.url+"/api/v1/events", own.ingestToken, "application/json",
				[]byte(fmt.Sprintf(`[{"action":"login"},{"action":"login","tenant":%q}]`, other.Name)))
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
				body := fmt.Sprintf(`{"action":"login","app":%q,"user":{"username":%q},"clientIp":%q,"context":{"probe":"tail-probe %d"}}`, d.App, d.User, d.IP, i)
				if a := call(t, "POST", p.url+"/api/v1/events", d.ingestToken, "application/json", []byte(body)); a.status != 200 {
					t.Fatalf("post to %s: %d %s", d.Name, a.status, a.body)
				}
			}
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatal("the tail ended before an event arrived")
				}
				var e struct{ Tenant string }
				_ = json.Unmarshal([]byte(line), &e)
				noMarksOf(t, "tail", []byte(line), fixtureA, fixtureB, fixtureA.User)
				if e.Tenant != fixtureA.Name {
					t.Errorf("tail of %s delivered an event of %q", fixtureA.Name, e.Tenant)
				}
				return
			case <-tick.C:
			case <-ctx.Done():
				t.Fatal("no event of tenant a reached its tail")
			}
		}
	})
}
