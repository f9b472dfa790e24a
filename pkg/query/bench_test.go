package query_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/query"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// benchEvents is the size of the seeded history. At about 2.5 k events a
// second in one tenant it is a day of a busy authentik.
const benchEvents = 200_000

var benchPlaces = []event.Geo{
	{Country: "United Kingdom", CountryCode: "GB", City: "London", Lat: 51.5142, Lon: -0.0931},
	{Country: "Germany", CountryCode: "DE", City: "Berlin", Lat: 52.52, Lon: 13.40},
	{Country: "United States", CountryCode: "US", City: "New York", Lat: 40.71, Lon: -74.01},
	{Country: "France", CountryCode: "FR", City: "Paris", Lat: 48.86, Lon: 2.35},
	{Country: "Japan", CountryCode: "JP", City: "Tokyo", Lat: 35.68, Lon: 139.69},
	{Country: "Brazil", CountryCode: "BR", City: "São Paulo", Lat: -23.55, Lon: -46.63},
	{Country: "India", CountryCode: "IN", City: "Mumbai", Lat: 19.08, Lon: 72.88},
	{Country: "Australia", CountryCode: "AU", City: "Sydney", Lat: -33.87, Lon: 151.21},
}

// seedBench writes a deterministic day of events: a skewed mix of
// actions, 2,000 users of whom a few are busy, places and networks.
func seedBench(b *testing.B, s *store.Store, start time.Time) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	actions := []string{"login", "login", "login", "login", "logout", "logout", "authorize_application", "authorize_application",
		"login_failed", "flow_execution", "model_updated", "model_created", "model_deleted", "password_set", "suspicious_request"}
	span := 24 * time.Hour
	batch := make([]event.Event, 0, 20_000)
	for i := range benchEvents {
		at := start.Add(time.Duration(int64(i) * int64(span) / benchEvents))
		u := int(r.ExpFloat64()*200) % 2000
		e := event.Event{
			ID:       event.NewID(at),
			Time:     at,
			Action:   actions[r.IntN(len(actions))],
			App:      "authentik.events.signals",
			Tenant:   "bench",
			User:     event.User{ID: fmt.Sprint(u), Username: fmt.Sprintf("user%04d", u), Email: fmt.Sprintf("user%04d@example.com", u)},
			ClientIP: fmt.Sprintf("81.2.%d.%d", r.IntN(256), r.IntN(256)),
			Context:  json.RawMessage(`{"http_request":{"method":"GET","path":"/api/v3/core/users/"},"auth_method":"password"}`),
		}
		if r.IntN(10) > 0 {
			g := benchPlaces[int(r.ExpFloat64()*2)%len(benchPlaces)]
			e.Geo = &g
			e.ASN = &event.ASN{Number: uint32(1000 + r.IntN(50)), Org: "Net"}
		}
		if e.Action == "model_updated" {
			e.Object = event.Object{App: "authentik_core", Model: "user", PK: fmt.Sprint(u), Name: e.User.Username}
			e.Diff = map[string]event.Change{"last_login": {Old: json.RawMessage(`"2026-01-01"`), New: json.RawMessage(`"2026-03-01"`)}}
		}
		event.Normalize(&e, at)
		event.Retention{}.Apply(&e)
		e.ReceivedAt = at
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			if _, err := s.Insert(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if _, err := s.Insert(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueries runs each query type the way a dashboard does over a
// seeded day of events and reports latency percentiles next to ns/op.
func BenchmarkQueries(b *testing.B) {
	s := storetest.Embedded(b, store.Options{})
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Now()
	seedBench(b, s, start)
	b.Logf("seeded %d events in %s", benchEvents, time.Since(t0).Round(time.Millisecond))
	svc := &query.Service{Store: s}
	day := backend.TimeRange{From: start, To: start.Add(24 * time.Hour)}
	hour := backend.TimeRange{From: start.Add(12 * time.Hour), To: start.Add(13 * time.Hour)}

	cases := []struct {
		name string
		js   string
		tr   backend.TimeRange
		iv   time.Duration
		mdp  int64
	}{
		{"logs/page-1000-last-hour", `{"queryType":"logs"}`, hour, time.Second, 1000},
		{"logs/filtered-day", `{"queryType":"logs","filters":{"actions":["login_failed"],"countries":["GB"]},"limit":100}`, day, time.Second, 1000},
		{"logs/search-day", `{"queryType":"logs","filters":{"search":"user0042@"},"limit":100}`, day, time.Second, 1000},
		{"timeseries/by-action-day-1m", `{"queryType":"timeseries","groupBy":"action"}`, day, time.Minute, 1440},
		{"timeseries/alert-by-user-10m-1s", `{"queryType":"timeseries","groupBy":"user","filters":{"actions":["login_failed"]}}`,
			backend.TimeRange{From: start.Add(12 * time.Hour), To: start.Add(12*time.Hour + 10*time.Minute)}, time.Second, 43200},
		{"geomap/day", `{"queryType":"geomap"}`, day, time.Minute, 1000},
		{"stats/top-users-day", `{"queryType":"stats","groupBy":"user","limit":10}`, day, time.Minute, 1000},
		{"diff/day", `{"queryType":"diff","limit":100}`, day, time.Minute, 1000},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			q := backend.DataQuery{RefID: "A", JSON: json.RawMessage(c.js), TimeRange: c.tr, Interval: c.iv, MaxDataPoints: c.mdp}
			req := &backend.QueryDataRequest{Queries: []backend.DataQuery{q}}
			var lat []time.Duration
			for b.Loop() {
				t := time.Now()
				r := svc.QueryData(ctx, req, "bench").Responses["A"]
				lat = append(lat, time.Since(t))
				if r.Error != nil {
					b.Fatal(r.Error)
				}
				if n, _ := r.Frames[0].RowLen(); n == 0 {
					b.Fatal("no rows: the benchmark measures nothing")
				}
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}

	b.Run("values/prefix", func(b *testing.B) {
		var lat []time.Duration
		for b.Loop() {
			t := time.Now()
			v, err := s.Values(ctx, "bench", store.DimUser, "USER00", 20)
			lat = append(lat, time.Since(t))
			if err != nil || len(v) == 0 {
				b.Fatal(v, err)
			}
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
	})
}
