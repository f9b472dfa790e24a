package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
)

var aggBase = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	london = &event.Geo{Country: "United Kingdom", CountryCode: "GB", City: "London", Continent: "EU", Lat: 51.5142, Lon: -0.0931}
	berlin = &event.Geo{Country: "Germany", CountryCode: "DE", City: "Berlin", Continent: "EU", Lat: 52.52, Lon: 13.40}
	aaisp  = &event.ASN{Number: 1221, Org: "Telstra Pty Ltd", Network: "81.2.0.0/16"}
	tefde  = &event.ASN{Number: 6805, Org: "Telefonica Germany", Network: "5.4.0.0/14"}
)

// seedAggregates stores a small history with answers worked out by hand:
//
//	tenant default, 1-minute buckets from 12:00:
//	  login          alice 12:00:00, bob 12:01:10          → [1 1 0 0 0]
//	  login_failed   alice 12:00:30, 12:01:30, mallory 12:03:20 → [1 1 0 1 0]
//	  model_updated  alice 12:04:10                         → [0 0 0 0 1]
//	tenant other:   login eve 12:00:10 from London
func seedAggregates(t *testing.T, s *store.Store) {
	t.Helper()
	ev := func(action, user string, at time.Duration, geo *event.Geo, asn *event.ASN, ip string) event.Event {
		e := mkEvent(action, user, aggBase.Add(at))
		e.Geo, e.ASN, e.ClientIP = geo, asn, ip
		e.App = "authentik.events"
		return e
	}
	upd := ev("model_updated", "alice", 250*time.Second, london, aaisp, "81.2.69.142")
	upd.Diff = map[string]event.Change{"email": {Old: json.RawMessage(`"a@old.example"`), New: json.RawMessage(`"a@new.example"`)}}
	eve := ev("login", "eve", 10*time.Second, london, aaisp, "81.2.69.150")
	eve.Tenant = "other"
	mustInsert(t, s,
		ev("login", "alice", 0, london, aaisp, "81.2.69.142"),
		ev("login_failed", "alice", 30*time.Second, london, aaisp, "81.2.69.142"),
		ev("login_failed", "alice", 90*time.Second, london, aaisp, "81.2.69.142"),
		ev("login", "bob", 70*time.Second, berlin, tefde, "5.4.1.2"),
		ev("login_failed", "mallory", 200*time.Second, nil, nil, "10.0.0.1"),
		upd, eve,
	)
}

func seriesString(ss []store.Series) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "%s%v;", s.Group, s.Counts)
	}
	return b.String()
}

func TestTimeSeries(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		seedAggregates(t, s)
		end := aggBase.Add(5 * time.Minute)
		cases := []struct {
			name     string
			f        store.Filter
			dim      store.Dimension
			step     time.Duration
			from, to time.Time
			want     string
		}{
			{"by action", store.Filter{Tenant: "default"}, store.DimAction, time.Minute, aggBase, end,
				"login_failed[1 1 0 1 0];login[1 1 0 0 0];model_updated[0 0 0 0 1];"},
			{"all tenants", store.Filter{}, store.DimAction, time.Minute, aggBase, end,
				"login[2 1 0 0 0];login_failed[1 1 0 1 0];model_updated[0 0 0 0 1];"}, // a tie goes by name
			{"no grouping", store.Filter{Tenant: "default"}, store.DimNone, time.Minute, aggBase, end,
				"[2 2 0 1 1];"},
			{"no grouping, nothing matches: zeros", store.Filter{Tenant: "nobody"}, store.DimNone, time.Minute, aggBase, end,
				"[0 0 0 0 0];"},
			{"grouped, nothing matches: no series", store.Filter{Tenant: "nobody"}, store.DimUser, time.Minute, aggBase, end, ""},
			{"by user, filtered", store.Filter{Tenant: "default", Actions: []string{"login_failed"}}, store.DimUser, time.Minute, aggBase, end,
				"alice[1 1 0 0 0];mallory[0 0 0 1 0];"},
			// from inside a bucket: the bucket starts at 12:00, the read at 12:00:30.
			{"unaligned from", store.Filter{Tenant: "default"}, store.DimNone, time.Minute, aggBase.Add(30 * time.Second), end,
				"[1 2 0 1 1];"},
			{"two-minute step", store.Filter{Tenant: "default"}, store.DimCountry, 2 * time.Minute, aggBase, end,
				"GB[3 0 1];[0 1 0];DE[1 0 0];"},
			{"by asn", store.Filter{Tenant: "default"}, store.DimASN, 5 * time.Minute, aggBase, end,
				"AS1221 Telstra Pty Ltd[4];[1];AS6805 Telefonica Germany[1];"},
			{"filter range narrower than series range", store.Filter{Tenant: "default", From: aggBase.Add(time.Minute), To: aggBase.Add(2 * time.Minute)},
				store.DimNone, time.Minute, aggBase, end, "[0 2 0 0 0];"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.TimeSeries(ctx, tc.f, tc.dim, tc.step, tc.from, tc.to)
				if err != nil {
					t.Fatal(err)
				}
				if g := seriesString(got); g != tc.want {
					t.Errorf("got %s\nwant %s", g, tc.want)
				}
				for _, sr := range got {
					if len(sr.Buckets) != len(sr.Counts) || !sr.Buckets[0].Equal(store.AlignDown(tc.from, tc.step)) {
						t.Errorf("series %q: %d buckets from %v for %d counts", sr.Group, len(sr.Buckets), sr.Buckets[0], len(sr.Counts))
					}
					for i := 1; i < len(sr.Buckets); i++ {
						if d := sr.Buckets[i].Sub(sr.Buckets[i-1]); d != tc.step {
							t.Fatalf("series %q: bucket %d is %s after the previous one", sr.Group, i, d)
						}
					}
				}
			})
		}

		bad := []struct {
			name     string
			step     time.Duration
			from, to time.Time
		}{
			{"sub-second step", 500 * time.Millisecond, aggBase, end},
			{"empty range", time.Minute, end, aggBase},
			{"too many buckets", time.Second, aggBase, aggBase.Add(24 * time.Hour)},
		}
		for _, tc := range bad {
			if _, err := s.TimeSeries(ctx, store.Filter{}, store.DimNone, tc.step, tc.from, tc.to); !errors.Is(err, store.ErrBadFilter) {
				t.Errorf("%s: err = %v, want ErrBadFilter", tc.name, err)
			}
		}
	})
}

func TestTimeSeriesKeepsTheLargestGroups(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		// user u00 has 1 event, u01 2, … u24 25.
		var evs []event.Event
		for u := range store.MaxSeries + 5 {
			for i := 0; i <= u; i++ {
				evs = append(evs, mkEvent("login", fmt.Sprintf("u%02d", u), aggBase.Add(time.Duration(i)*time.Second)))
			}
		}
		mustInsert(t, s, evs...)
		got, err := s.TimeSeries(ctx, store.Filter{}, store.DimUser, time.Hour, aggBase, aggBase.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != store.MaxSeries {
			t.Fatalf("%d series, want %d", len(got), store.MaxSeries)
		}
		if got[0].Group != "u24" || got[0].Counts[0] != 25 || got[len(got)-1].Group != "u05" || got[len(got)-1].Counts[0] != 6 {
			t.Errorf("kept %s … %s, want u24[25] … u05[6]", seriesString(got[:1]), seriesString(got[len(got)-1:]))
		}
	})
}

func TestGeoPoints(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		seedAggregates(t, s)
		str := func(ps []store.GeoPoint) string {
			var b strings.Builder
			for _, p := range ps {
				fmt.Fprintf(&b, "%s,%s,%s %.4f %.4f n=%d top=%s;", p.City, p.CountryCode, p.Country, p.Lat, p.Lon, p.Count, p.TopAction)
			}
			return b.String()
		}
		cases := []struct {
			name  string
			f     store.Filter
			limit int
			want  string
		}{
			{"tenant", store.Filter{Tenant: "default"}, 0,
				"London,GB,United Kingdom 51.5142 -0.0931 n=4 top=login_failed;Berlin,DE,Germany 52.5200 13.4000 n=1 top=login;"},
			// London: 2 login + 2 login_failed; the tie goes to the first name.
			{"all tenants, tie", store.Filter{}, 0,
				"London,GB,United Kingdom 51.5142 -0.0931 n=5 top=login;Berlin,DE,Germany 52.5200 13.4000 n=1 top=login;"},
			{"limit", store.Filter{}, 1, "London,GB,United Kingdom 51.5142 -0.0931 n=5 top=login;"},
			{"filtered", store.Filter{Tenant: "default", Actions: []string{"login"}}, 0,
				"Berlin,DE,Germany 52.5200 13.4000 n=1 top=login;London,GB,United Kingdom 51.5142 -0.0931 n=1 top=login;"},
			{"no geo", store.Filter{Users: []string{"mallory"}}, 0, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.GeoPoints(ctx, tc.f, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if g := str(got); g != tc.want {
					t.Errorf("got  %s\nwant %s", g, tc.want)
				}
			})
		}
	})
}

func TestTopGroups(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		seedAggregates(t, s)
		ts := func(d time.Duration) string { return aggBase.Add(d).Format("15:04:05") }
		str := func(gs []store.Group) string {
			var b strings.Builder
			for _, g := range gs {
				fmt.Fprintf(&b, "%s n=%d u=%d %s-%s;", g.Name, g.Count, g.Users, g.FirstSeen.Format("15:04:05"), g.LastSeen.Format("15:04:05"))
			}
			return b.String()
		}
		cases := []struct {
			name string
			f    store.Filter
			dim  store.Dimension
			n    int
			want string
		}{
			{"users", store.Filter{Tenant: "default"}, store.DimUser, 10,
				"alice n=4 u=1 " + ts(0) + "-" + ts(250*time.Second) + ";bob n=1 u=1 " + ts(70*time.Second) + "-" + ts(70*time.Second) +
					";mallory n=1 u=1 " + ts(200*time.Second) + "-" + ts(200*time.Second) + ";"},
			{"actions", store.Filter{Tenant: "default"}, store.DimAction, 10,
				"login_failed n=3 u=2 " + ts(30*time.Second) + "-" + ts(200*time.Second) + ";login n=2 u=2 " + ts(0) + "-" + ts(70*time.Second) +
					";model_updated n=1 u=1 " + ts(250*time.Second) + "-" + ts(250*time.Second) + ";"},
			// login (alice, bob, eve) ties login_failed at 3; the tie goes by name.
			{"top 1 over all tenants", store.Filter{}, store.DimAction, 1,
				"login n=3 u=3 " + ts(0) + "-" + ts(70*time.Second) + ";"},
			{"countries", store.Filter{Tenant: "default"}, store.DimCountry, 10,
				"GB n=4 u=1 " + ts(0) + "-" + ts(250*time.Second) + "; n=1 u=1 " + ts(200*time.Second) + "-" + ts(200*time.Second) +
					";DE n=1 u=1 " + ts(70*time.Second) + "-" + ts(70*time.Second) + ";"},
			{"apps, everything", store.Filter{}, store.DimApp, 10,
				"authentik.events n=7 u=4 " + ts(0) + "-" + ts(250*time.Second) + ";"},
			{"none", store.Filter{Tenant: "other"}, store.DimNone, 10,
				" n=1 u=1 " + ts(10*time.Second) + "-" + ts(10*time.Second) + ";"},
			{"nothing matches", store.Filter{Tenant: "nobody"}, store.DimNone, 10, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.TopGroups(ctx, tc.f, tc.dim, tc.n)
				if err != nil {
					t.Fatal(err)
				}
				if g := str(got); g != tc.want {
					t.Errorf("got  %s\nwant %s", g, tc.want)
				}
			})
		}
	})
}

func TestValues(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		seedAggregates(t, s)
		cases := []struct {
			name, tenant string
			dim          store.Dimension
			prefix       string
			limit        int
			want         []string
		}{
			{"actions by frequency", "default", store.DimAction, "", 0, []string{"login_failed", "login", "model_updated"}},
			{"prefix ignores case", "default", store.DimAction, "LOGIN", 0, []string{"login_failed", "login"}},
			{"limit", "default", store.DimAction, "", 1, []string{"login_failed"}},
			{"users", "default", store.DimUser, "", 0, []string{"alice", "bob", "mallory"}},
			{"countries skip empty", "default", store.DimCountry, "", 0, []string{"GB", "DE"}},
			{"other tenant", "other", store.DimUser, "", 0, []string{"eve"}},
			{"all tenants", "", store.DimUser, "e", 0, []string{"eve"}},
			{"asn", "default", store.DimASN, "as6", 0, []string{"AS6805 Telefonica Germany"}},
			{"no match", "default", store.DimApp, "zzz", 0, []string{}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Values(ctx, tc.tenant, tc.dim, tc.prefix, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
					t.Errorf("got %q, want %q", got, tc.want)
				}
			})
		}
		if _, err := s.Values(ctx, "", store.DimNone, "", 0); !errors.Is(err, store.ErrBadFilter) {
			t.Errorf("values without a field: %v", err)
		}
	})
}

func TestDiffEvents(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		mk := func(action string, at time.Duration, ctxJSON string, diff map[string]event.Change) event.Event {
			e := mkEvent(action, "alice", aggBase.Add(at))
			if ctxJSON != "" {
				e.Context = json.RawMessage(ctxJSON)
			}
			e.Diff = diff
			return e
		}
		native := mk("model_updated", 1*time.Second, "", map[string]event.Change{"email": {Old: json.RawMessage(`"a"`), New: json.RawMessage(`"b"`)}})
		state := mk("model_deleted", 2*time.Second, `{"model_state":{"name":"g1"}}`, nil)
		rawDiff := mk("model_updated", 3*time.Second, `{"diff":{"name":{"previous_value":"x","new_value":"y"}}}`, nil)
		beforeAfter := mk("user_write", 4*time.Second, `{"before":{"a":1},"after":{"a":2}}`, nil)
		oldNew := mk("custom_change", 5*time.Second, `{"old":{"a":1},"new":{"a":2}}`, nil)
		scalarOld := mk("login", 6*time.Second, `{"old":"x","new":"y","message":"model_state diff before after"}`, nil)
		plain := mk("login", 7*time.Second, "", nil)
		mustInsert(t, s, native, state, rawDiff, beforeAfter, oldNew, scalarOld, plain)

		got, err := s.DiffEvents(ctx, store.Filter{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		want := []string{oldNew.ID, beforeAfter.ID, rawDiff.ID, state.ID, native.ID}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("got %v\nwant %v", ids, want)
		}
		one, err := s.DiffEvents(ctx, store.Filter{IDs: []string{native.ID}}, 10)
		if err != nil || len(one) != 1 || string(one[0].Diff["email"].New) != `"b"` {
			t.Errorf("by id: %+v %v", one, err)
		}
		if none, err := s.DiffEvents(ctx, store.Filter{IDs: []string{plain.ID}}, 10); err != nil || len(none) != 0 {
			t.Errorf("an event without a change came back: %+v %v", none, err)
		}
	})
}

// TestAggregatesTakeHostileValuesAsData sends SQL-looking text through
// every value of every aggregate and expects it matched as plain data.
func TestAggregatesTakeHostileValuesAsData(t *testing.T) {
	hostile := []string{`'`, `\`, `--`, `; DROP TABLE events`, `{x:String}`, `x' OR '1'='1`, `\'; DROP TABLE events; --`, "\x00nul"}
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		var evs []event.Event
		for i, h := range hostile {
			e := mkEvent("login", "user"+h, aggBase.Add(time.Duration(i)*time.Second))
			e.App, e.Tenant = "app"+h, "t"
			e.Geo = &event.Geo{CountryCode: "GB", City: "City" + h, Lat: 1, Lon: 1}
			evs = append(evs, e)
		}
		mustInsert(t, s, evs...)
		end := aggBase.Add(time.Hour)
		for _, h := range hostile {
			t.Run(fmt.Sprintf("%q", h), func(t *testing.T) {
				f := store.Filter{Tenant: "t", Users: []string{"user" + h}, Apps: []string{"app" + h}, Actions: []string{"login", h}, Search: "user" + h}
				ss, err := s.TimeSeries(ctx, f, store.DimUser, time.Hour, aggBase, end)
				if err != nil || len(ss) != 1 || ss[0].Group != "user"+h || ss[0].Total() != 1 {
					t.Errorf("time series: %s %v", seriesString(ss), err)
				}
				gs, err := s.TopGroups(ctx, f, store.DimApp, 10)
				if err != nil || len(gs) != 1 || gs[0].Name != "app"+h || gs[0].Count != 1 {
					t.Errorf("top groups: %+v %v", gs, err)
				}
				ps, err := s.GeoPoints(ctx, f, 10)
				if err != nil || len(ps) != 1 || ps[0].City != "City"+h {
					t.Errorf("geo points: %+v %v", ps, err)
				}
				vs, err := s.Values(ctx, "t", store.DimUser, "USER"+h, 10)
				if err != nil || !slices.Contains(vs, "user"+h) {
					t.Errorf("values: %q %v", vs, err)
				}
				if _, err := s.Values(ctx, h, store.DimUser, h, 10); err != nil {
					t.Errorf("values with a hostile tenant: %v", err)
				}
				ds, err := s.DiffEvents(ctx, store.Filter{Tenant: h, Search: h, Countries: []string{h}}, 10)
				if err != nil || len(ds) != 0 {
					t.Errorf("diff events: %d %v", len(ds), err)
				}
			})
		}
		st, err := s.Stats(ctx)
		if err != nil || st.Events != uint64(len(hostile)) {
			t.Fatalf("table changed: %+v %v", st, err)
		}
	})
}

func TestDimensions(t *testing.T) {
	for _, name := range []string{"", "action", "user", "app", "country", "asn"} {
		d, err := store.ParseDimension(name)
		if err != nil || d.String() != name {
			t.Errorf("ParseDimension(%q) = %v, %v", name, d, err)
		}
	}
	for _, bad := range []string{"Action", "user_name", "action; DROP", "tenant"} {
		if _, err := store.ParseDimension(bad); !errors.Is(err, store.ErrBadFilter) {
			t.Errorf("ParseDimension(%q) accepted", bad)
		}
	}
	if _, err := s0TopGroups(store.Dimension(99)); !errors.Is(err, store.ErrBadFilter) {
		t.Errorf("an out-of-range dimension was accepted: %v", err)
	}
}

func s0TopGroups(d store.Dimension) ([]store.Group, error) {
	return (&store.Store{}).TopGroups(ctx, store.Filter{}, d, 1)
}

func TestAlignDown(t *testing.T) {
	cases := []struct {
		t    time.Time
		step time.Duration
		want time.Time
	}{
		{aggBase.Add(59 * time.Second), time.Minute, aggBase},
		{aggBase, time.Minute, aggBase},
		{time.Unix(7, 0), 5 * time.Second, time.Unix(5, 0)},
		{time.Unix(-3, 0), 5 * time.Second, time.Unix(-5, 0)},
		{aggBase.Add(90 * time.Minute), 7 * time.Hour, time.Unix(aggBase.Add(90*time.Minute).Unix()/(7*3600)*(7*3600), 0)},
	}
	for _, tc := range cases {
		if got := store.AlignDown(tc.t, tc.step); !got.Equal(tc.want) {
			t.Errorf("AlignDown(%v, %s) = %v, want %v", tc.t, tc.step, got, tc.want)
		}
	}
}
