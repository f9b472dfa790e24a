package query_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/query"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

func ids(fx *fixture, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fx.ev[n].ID
	}
	return out
}

func column(f *data.Frame, name string) []string {
	fl, i := f.FieldByName(name)
	if i < 0 {
		return nil
	}
	out := make([]string, fl.Len())
	for j := range out {
		out[j] = fmt.Sprint(fl.At(j))
	}
	return out
}

func TestLogs(t *testing.T) {
	fx := newFixture(t)
	cases := []struct {
		name, tenant, js string
		want             []string
		notice           string
	}{
		{"tenant, newest first", "acme", `{}`, ids(fx, "e10", "e9", "e8", "e7", "e6", "e5", "e3", "e4", "e2", "e1"), ""},
		{"actions", "acme", `{"filters":{"actions":["login_failed"]}}`, ids(fx, "e5", "e3", "e2"), ""},
		{"All (*) means no filter", "acme", `{"filters":{"actions":["*"],"countries":["*","de"],"users":["*"],"clientIps":["*"]}}`, ids(fx, "e10", "e9", "e8", "e7", "e6", "e5", "e3", "e4", "e2", "e1"), ""},
		{"user by email", "acme", `{"filters":{"users":["bob@example.com"]}}`, ids(fx, "e4"), ""},
		{"cidr", "acme", `{"filters":{"clientIps":["81.2.69.0/24"]}}`, ids(fx, "e6", "e3", "e2", "e1"), ""},
		{"single ip", "acme", `{"filters":{"clientIps":["5.4.1.2"]}}`, ids(fx, "e7", "e4"), ""},
		{"country, lower case", "acme", `{"filters":{"countries":["de"]}}`, ids(fx, "e4"), ""},
		{"apps", "acme", `{"filters":{"apps":["authentik.events.signals"]}}`, ids(fx, "e7"), ""},
		{"search", "acme", `{"filters":{"search":"invalid CRED"}}`, ids(fx, "e5"), ""},
		{"event id", "acme", `{"filters":{"eventId":"` + strings.ToUpper(fx.ev["e4"].ID) + `"}}`, ids(fx, "e4"), ""},
		{"lone string for a list", "acme", `{"filters":{"users":"mallory"}}`, ids(fx, "e5"), ""},
		{"limit", "acme", `{"limit":2}`, ids(fx, "e10", "e9"), "showing the newest 2 events"},
		{"limit as string", "acme", `{"limit":"1"}`, ids(fx, "e10"), "showing the newest 1 events"},
		{"limit above the cap is clamped", "globex", `{"limit":50000}`, ids(fx, "e11"), "above the maximum of 10000"},
		{"all tenants", "", `{"filters":{"users":["eve","bob"]}}`, ids(fx, "e4", "e11"), ""},
		{"all tenants as *", "*", `{"filters":{"users":["eve"]}}`, ids(fx, "e11"), ""},
		{"other tenant sees nothing of acme", "globex", `{"filters":{"users":["alice"]}}`, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fr := fx.one(t, tc.tenant, dq("A", tc.js))
			if len(fr) != 1 {
				t.Fatalf("%d frames", len(fr))
			}
			f := fr[0]
			if got := fieldNames(f); got != "time,body,level,id,action,user,app,clientIp,country,city" {
				t.Errorf("fields %s", got)
			}
			if f.Meta == nil || f.Meta.PreferredVisualization != data.VisTypeLogs {
				t.Errorf("meta %+v, want the logs visualisation", f.Meta)
			}
			if got := column(f, "id"); fmt.Sprint(got) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("ids\n got %v\nwant %v", got, tc.want)
			}
			var notes []string
			for _, n := range f.Meta.Notices {
				notes = append(notes, n.Text)
			}
			if tc.notice != "" && !strings.Contains(strings.Join(notes, ";"), tc.notice) || tc.notice == "" && len(notes) > 0 {
				t.Errorf("notices %q, want one with %q", notes, tc.notice)
			}
		})
	}

	t.Run("rows", func(t *testing.T) {
		f := fx.one(t, "acme", dq("A", `{"queryType":"logs","filters":{"users":["mallory","akadmin"],"actions":["login_failed","model_updated","model_deleted"]}}`))[0]
		n, _ := f.RowLen()
		var got []string
		for i := range n {
			r := f.RowCopy(i)
			got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%s", r[0].(time.Time).Format("15:04:05"), r[1], r[2], r[4], r[5], r[6], r[7], r[8], r[9]))
		}
		equalRows(t, got, []string{
			"12:04:50|akadmin model_updated authentik_core.user pk 7|info|model_updated|akadmin|authentik.core|||",
			"12:04:30|akadmin model_deleted authentik_core.group g1 (pk g8)|info|model_deleted|akadmin|authentik.core|||",
			"12:04:20|akadmin model_updated authentik_core.group admins (pk g7) from 5.4.1.2|info|model_updated|akadmin|authentik.events.signals|5.4.1.2||",
			"12:04:10|akadmin model_updated authentik_core.user alice (pk 42) from 81.2.69.142 (London, GB)|info|model_updated|akadmin|authentik.core|81.2.69.142|GB|London",
			"12:03:20|mallory login_failed from 10.0.0.1: Invalid credentials|warning|login_failed|mallory|authentik.core|10.0.0.1||",
		})
	})
}

func TestTimeSeries(t *testing.T) {
	fx := newFixture(t)
	render := func(fr data.Frames) []string {
		var out []string
		for _, f := range fr {
			ts, vs := f.Fields[0], f.Fields[1]
			var vals []string
			for i := range vs.Len() {
				vals = append(vals, fmt.Sprint(vs.At(i)))
			}
			first := ""
			if ts.Len() > 0 {
				first = ts.At(0).(time.Time).Format("15:04:05")
			}
			out = append(out, fmt.Sprintf("%s %s@%s [%s]", vs.Name, vs.Labels, first, strings.Join(vals, " ")))
		}
		return out
	}
	cases := []struct {
		name, js string
		q        func(*backend.DataQuery)
		want     []string
	}{
		{"by action, zero buckets filled", `{"queryType":"timeseries","groupBy":"action"}`, nil, []string{
			"count action=login_failed@12:00:00 [1 1 0 1 0]",
			"count action=model_updated@12:00:00 [0 0 0 0 3]",
			"count action=login@12:00:00 [1 1 0 0 0]",
			"count action=model_deleted@12:00:00 [0 0 0 0 1]",
			"count action=user_write@12:00:00 [0 0 0 0 1]",
		}},
		{"no grouping", `{"queryType":"timeseries"}`, nil, []string{"count @12:00:00 [2 2 0 1 5]"}},
		{"queryType outside the JSON", `{"groupBy":"country","filters":{"actions":["login"]}}`,
			func(q *backend.DataQuery) { q.QueryType = "timeseries" }, []string{
				"count country=DE@12:00:00 [0 1 0 0 0]", "count country=GB@12:00:00 [1 0 0 0 0]",
			}},
		{"interval widened by maxDataPoints", `{"queryType":"timeseries"}`,
			func(q *backend.DataQuery) { q.Interval, q.MaxDataPoints = time.Second, 3 }, []string{"count @12:00:00 [4 6]"}}, // 150 s: 3 buckets at most, however aligned
		{"unaligned range", `{"queryType":"timeseries"}`,
			func(q *backend.DataQuery) { q.TimeRange.From = t0.Add(80 * time.Second) }, []string{"count @12:01:00 [1 0 1 5]"}},
		{"nothing matches, grouped: one empty frame", `{"queryType":"timeseries","groupBy":"user","filters":{"actions":["nope"]}}`, nil,
			[]string{"count @ []"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := dq("A", tc.js)
			if tc.q != nil {
				tc.q(&q)
			}
			fr := fx.one(t, "acme", q)
			equalRows(t, render(fr), tc.want)
			for _, f := range fr {
				if f.Meta == nil || f.Meta.Type != data.FrameTypeTimeSeriesMulti || f.Fields[1].Type() != data.FieldTypeFloat64 {
					t.Errorf("frame is not a numeric time series: %+v %s", f.Meta, f.Fields[1].Type())
				}
			}
		})
	}
}

// TestAlertQuery sends a query as Grafana's alert evaluation does: only the
// saved JSON (no frontend defaults), datasource and interval keys present,
// the 1 s interval and 43200 maxDataPoints alerting uses.
func TestAlertQuery(t *testing.T) {
	fx := newFixture(t)
	js := `{"refId":"A","datasource":{"type":"auditlog-datasource","uid":"P0A1"},"queryType":"timeseries","groupBy":"user",
		"filters":{"actions":["login_failed"]},"intervalMs":1000,"maxDataPoints":43200}`
	for _, qt := range []string{"", "timeseries"} {
		q := backend.DataQuery{RefID: "A", QueryType: qt, JSON: json.RawMessage(js), TimeRange: rng, Interval: time.Second, MaxDataPoints: 43200}
		fr := fx.one(t, "acme", q)
		if len(fr) != 2 {
			t.Fatalf("%d series, want alice and mallory", len(fr))
		}
		want := map[string]map[int]float64{"alice": {30: 1, 90: 1}, "mallory": {200: 1}}
		for _, f := range fr {
			if len(f.Fields) != 2 || f.Fields[0].Type() != data.FieldTypeTime || !f.Fields[1].Type().Numeric() {
				t.Fatalf("not a time + number frame: %s", fieldNames(f))
			}
			user := f.Fields[1].Labels["user"]
			if f.Fields[1].Len() != 300 {
				t.Errorf("%s: %d points, want 300 one-second buckets", user, f.Fields[1].Len())
			}
			for i := range f.Fields[1].Len() {
				v, _ := f.Fields[1].FloatAt(i)
				if v != want[user][i] {
					t.Errorf("%s[%d] = %v, want %v", user, i, v, want[user][i])
				}
			}
			delete(want, user)
		}
		if len(want) != 0 {
			t.Errorf("missing series %v", want)
		}
	}
}

func TestStep(t *testing.T) {
	cases := []struct {
		interval time.Duration
		mdp      int64
		rng      time.Duration
		want     time.Duration
	}{
		{time.Second, 43200, 5 * time.Minute, time.Second},
		{100 * time.Millisecond, 0, time.Minute, time.Second},
		{time.Second, 0, 24 * time.Hour, 9 * time.Second}, // 86400 s / 9999 buckets
		{time.Minute, 1000, time.Hour, time.Minute},
		{time.Second, 100, time.Hour, 37 * time.Second}, // 3600 s / 99
		{time.Second, 0, 365 * 24 * time.Hour, 3154 * time.Second},
	}
	for _, tc := range cases {
		got := query.Step(tc.interval, tc.mdp, t0, t0.Add(tc.rng))
		if got != tc.want {
			t.Errorf("Step(%s, %d, %s) = %s, want %s", tc.interval, tc.mdp, tc.rng, got, tc.want)
		}
		start := store.AlignDown(t0, got)
		if n := math.Ceil(float64(t0.Add(tc.rng).Sub(start)) / float64(got)); n > store.MaxBuckets {
			t.Errorf("Step(%s, %d, %s) = %s makes %v buckets", tc.interval, tc.mdp, tc.rng, got, n)
		}
	}
}

func TestGeomap(t *testing.T) {
	fx := newFixture(t)
	f := fx.one(t, "acme", dq("A", `{"queryType":"geomap"}`))[0]
	if got := fieldNames(f); got != "latitude,longitude,city,country,count,topAction" {
		t.Errorf("fields %s", got)
	}
	equalRows(t, rows(f), []string{"51.5142|-0.0931|London|GB|4|login_failed", "52.52|13.4|Berlin|DE|1|login"})

	f = fx.one(t, "", dq("A", `{"queryType":"geomap","filters":{"actions":["login"]}}`))[0]
	equalRows(t, rows(f), []string{"51.5142|-0.0931|London|GB|2|login", "52.52|13.4|Berlin|DE|1|login"})
}

func TestStats(t *testing.T) {
	fx := newFixture(t)
	cases := []struct {
		name, js, fields string
		want             []string
	}{
		{"users", `{"queryType":"stats","groupBy":"user"}`, "user,count,users,firstSeen,lastSeen", []string{
			"akadmin|5|1|12:04:10|12:04:50", "alice|3|1|12:00:00|12:01:30", "bob|1|1|12:01:10|12:01:10", "mallory|1|1|12:03:20|12:03:20",
		}},
		{"default dimension, limit", `{"queryType":"stats","limit":2}`, "action,count,users,firstSeen,lastSeen", []string{
			"login_failed|3|2|12:00:30|12:03:20", "model_updated|3|1|12:04:10|12:04:50",
		}},
		{"filtered by country", `{"queryType":"stats","groupBy":"app","filters":{"countries":["GB"]}}`, "app,count,users,firstSeen,lastSeen", []string{
			"authentik.core|4|2|12:00:00|12:04:10",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := fx.one(t, "acme", dq("A", tc.js))[0]
			if got := fieldNames(f); got != tc.fields {
				t.Errorf("fields %s, want %s", got, tc.fields)
			}
			equalRows(t, rows(f), tc.want)
		})
	}
}

func TestDetails(t *testing.T) {
	fx := newFixture(t)
	e6 := fx.ev["e6"]
	f := fx.one(t, "acme", dq("A", `{"queryType":"details","filters":{"eventId":"`+e6.ID+`"}}`))[0]
	if got := fieldNames(f); got != "key,value" {
		t.Errorf("fields %s", got)
	}
	equalRows(t, rows(f), []string{
		"id|" + e6.ID, "time|2026-03-01T12:04:10.000Z", "action|model_updated", "app|authentik.core",
		"user.id|1", "user.username|akadmin", "user.email|akadmin@example.com", "clientIp|81.2.69.142",
		"tenant|acme", "severity|info", "object.app|authentik_core", "object.model|user", "object.pk|42", "object.name|alice",
		"expires|2027-03-01T12:04:10.000Z", "receivedAt|2026-03-01T12:04:11.000Z",
		"geo.country|United Kingdom", "geo.countryCode|GB", "geo.city|London", "geo.continent|EU", "geo.lat|51.5142", "geo.lon|-0.0931",
		"diff.email.old|a@old.example", "diff.email.new|a@new.example",
	})

	f = fx.one(t, "acme", dq("A", `{"queryType":"details","filters":{"eventId":"`+fx.ev["e7"].ID+`"}}`))[0]
	got := map[string]string{}
	for _, r := range rows(f) {
		k, v, _ := strings.Cut(r, "|")
		got[k] = v
	}
	for k, v := range map[string]string{
		"context.http_request.method": "PATCH", "context.model.name": "admins", "context.diff.users.add": "[1,2]",
		"context.diff.parents.clear": "true", "diff.parents.new": "cleared", "diff.users.new": "+[1, 2]",
		"diff.name.old": "old", "app": "authentik.events.signals", "user.id": "1",
	} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestDiff(t *testing.T) {
	fx := newFixture(t)
	id := func(n string) string { return fx.ev[n].ID }
	e7rows := []string{
		"12:04:20|" + id("e7") + "|authentik_core.group admins (pk g7)|name|old|new",
		"12:04:20|" + id("e7") + "|authentik_core.group admins (pk g7)|parents||cleared",
		"12:04:20|" + id("e7") + "|authentik_core.group admins (pk g7)|roles||-[r3]",
		"12:04:20|" + id("e7") + "|authentik_core.group admins (pk g7)|users||+[1, 2]",
	}
	e8rows := []string{
		"12:04:30|" + id("e8") + "|authentik_core.group g1 (pk g8)|attributes|{\"a\":1}|",
		"12:04:30|" + id("e8") + "|authentik_core.group g1 (pk g8)|is_superuser|false|",
		"12:04:30|" + id("e8") + "|authentik_core.group g1 (pk g8)|name|g1|",
	}
	all := append(append(append([]string{
		"12:04:50|" + id("e10") + "|authentik_core.user pk 7|email|p@a|p@b",
		"12:04:40|" + id("e9") + "||email|x@a|x@b",
		"12:04:40|" + id("e9") + "||mfa||true",
		"12:04:40|" + id("e9") + "||profile.city|Paris|Lyon",
	}, e8rows...), e7rows...),
		"12:04:10|"+id("e6")+"|authentik_core.user alice (pk 42)|email|a@old.example|a@new.example")
	cases := []struct {
		name, tenant, js string
		want             []string
	}{
		{"every change in range", "acme", `{"queryType":"diff"}`, all},
		{"one event: native email change", "acme", `{"queryType":"diff","filters":{"eventId":"` + id("e6") + `"}}`, all[len(all)-1:]},
		{"one event: authentik diff with m2m", "acme", `{"queryType":"diff","filters":{"eventId":"` + id("e7") + `"}}`, e7rows},
		{"filtered to deletions", "acme", `{"queryType":"diff","filters":{"actions":["model_deleted"],"users":["akadmin"]}}`, e8rows},
		{"event without changes", "acme", `{"queryType":"diff","filters":{"eventId":"` + id("e1") + `"}}`, nil},
		{"other tenant", "globex", `{"queryType":"diff"}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := fx.one(t, tc.tenant, dq("A", tc.js))[0]
			if got := fieldNames(f); got != "time,eventId,object,field,old,new" {
				t.Errorf("fields %s", got)
			}
			equalRows(t, rows(f), tc.want)
		})
	}
}

// TestErrorsArePerQuery sends one good query among bad ones: each bad one
// gets its own clear error and status, and the good one its frames.
func TestErrorsArePerQuery(t *testing.T) {
	fx := newFixture(t)
	missing := "0195a000-0000-7000-8000-999999999999"
	qs := []backend.DataQuery{
		dq("OK", `{"queryType":"stats"}`),
		dq("JSON", `{"queryType":`),
		dq("TYPE", `{"queryType":"sql"}`),
		dq("CIDR", `{"filters":{"clientIps":["10.0.0.0/33"]}}`),
		dq("IP", `{"filters":{"clientIps":["10.0.0.256"]}}`),
		dq("CC", `{"filters":{"countries":["GBR"]}}`),
		dq("NOID", `{"queryType":"details"}`),
		dq("BADID", `{"queryType":"diff","filters":{"eventId":"x' OR 1=1 --"}}`),
		dq("GONE", `{"queryType":"details","filters":{"eventId":"`+missing+`"}}`),
		dq("OTHER", `{"queryType":"details","filters":{"eventId":"`+fx.ev["e11"].ID+`"}}`),
		dq("GROUP", `{"queryType":"timeseries","groupBy":"tenant"}`),
		dq("NEG", `{"limit":-1}`),
		dq("WORD", `{"limit":"lots"}`),
		dq("LIST", `{"filters":{"actions":[1,2]}}`),
		dq("FILTERS", `{"filters":"login"}`),
		dq("BIG", `{"filters":{"users":`+manyUsers(1000, 40)+`}}`),
		func() backend.DataQuery {
			q := dq("RANGE", `{"queryType":"timeseries"}`)
			q.TimeRange = backend.TimeRange{}
			return q
		}(),
	}
	resp := fx.run(t, "acme", qs...)
	want := map[string]struct {
		status backend.Status
		msg    string
	}{
		"JSON":    {400, "query JSON"},
		"TYPE":    {400, `unknown queryType "sql"`},
		"CIDR":    {400, `filters.clientIps[0]: "10.0.0.0/33" is not an IP address or CIDR`},
		"IP":      {400, `"10.0.0.256" is not an IP address or CIDR`},
		"CC":      {400, `filters.countries[0]: "GBR" is not a two-letter ISO country code`},
		"NOID":    {400, "filters.eventId is required"},
		"BADID":   {400, `filters.eventId: "x' OR 1=1 --" is not an event id`},
		"GONE":    {404, "event " + missing + ": not found"},
		"OTHER":   {404, "not found"},
		"GROUP":   {400, `groupBy "tenant"`},
		"NEG":     {400, "limit: limit must be a whole number"},
		"WORD":    {400, "limit: limit must be a whole number"},
		"LIST":    {400, "filters.actions: expected an array of strings"},
		"FILTERS": {400, "filters must be a JSON object"},
		"BIG":     {400, "filters: too large"},
		"RANGE":   {400, "a time range with from before to is required"},
	}
	for ref, w := range want {
		r := resp.Responses[ref]
		if r.Error == nil {
			t.Errorf("%s: no error", ref)
			continue
		}
		if r.Status != w.status || r.ErrorSource != backend.ErrorSourceDownstream || !strings.Contains(r.Error.Error(), w.msg) {
			t.Errorf("%s: %d %s %q, want %d downstream containing %q", ref, r.Status, r.ErrorSource, r.Error, w.status, w.msg)
		}
		if !strings.HasPrefix(r.Error.Error(), "query "+ref+": ") {
			t.Errorf("%s: error %q does not name its query", ref, r.Error)
		}
	}
	if ok := resp.Responses["OK"]; ok.Error != nil || len(ok.Frames) != 1 || len(rows(ok.Frames[0])) != 5 {
		t.Errorf("the good query failed alongside: %v %v", ok.Error, ok.Frames)
	}
	if len(resp.Responses) != len(qs) {
		t.Errorf("%d responses for %d queries", len(resp.Responses), len(qs))
	}
}

// TestHostileFilterValues passes SQL-looking text through every filter of
// every query type: it must come back as data, and the table must stay.
func TestHostileFilterValues(t *testing.T) {
	hostile := []string{`'`, `\`, `--`, `; DROP TABLE events`, `{x:String}`, `' OR '1'='1`, `\'); DROP TABLE events; --`, `%_`}
	s := storetest.Embedded(t, store.Options{})
	svc := &query.Service{Store: s}
	var evs []event.Event
	for i, h := range hostile {
		e := mk(fmt.Sprintf("0195a000-0000-7000-8000-%012d", 100+i), "act"+h, "u"+h, time.Duration(i)*time.Second)
		e.App = "app" + h
		e.Context = json.RawMessage(fmt.Sprintf(`{"note":%q}`, "n"+h))
		e.Geo = &event.Geo{CountryCode: "GB", City: "c" + h, Lat: 1, Lon: 2}
		e.Diff = map[string]event.Change{"f" + h: {Old: json.RawMessage(fmt.Sprintf("%q", "o"+h)), New: json.RawMessage(`1`)}}
		evs = append(evs, finish(e))
	}
	if _, err := s.Insert(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for i, h := range hostile {
		t.Run(fmt.Sprintf("%q", h), func(t *testing.T) {
			fb, _ := json.Marshal(map[string]any{
				"actions": []string{"act" + h, h}, "users": []string{"u" + h}, "apps": []string{"app" + h},
				"search": h, "countries": []string{"gb"},
			})
			filters := string(fb)
			for _, c := range []struct{ js, col, want string }{
				{`{"queryType":"logs","filters":` + filters + `}`, "user", "u" + h},
				{`{"queryType":"stats","groupBy":"app","filters":` + filters + `}`, "app", "app" + h},
				{`{"queryType":"geomap","filters":` + filters + `}`, "city", "c" + h},
				{`{"queryType":"diff","filters":` + filters + `}`, "old", "o" + h},
				{`{"queryType":"details","filters":{"eventId":"` + evs[i].ID + `"}}`, "value", "act" + h},
			} {
				r := svc.QueryData(ctx, &backend.QueryDataRequest{Queries: []backend.DataQuery{dq("A", c.js)}}, "acme").Responses["A"]
				if r.Error != nil {
					t.Fatalf("%s: %v", c.js, r.Error)
				}
				if got := column(r.Frames[0], c.col); !contains(got, c.want) {
					t.Errorf("%s: column %s = %q, want %q in it", c.js, c.col, got, c.want)
				}
			}
			r := svc.QueryData(ctx, &backend.QueryDataRequest{Queries: []backend.DataQuery{
				dq("A", `{"queryType":"timeseries","groupBy":"user","filters":`+filters+`}`)}}, "acme").Responses["A"]
			if r.Error != nil || len(r.Frames) != 1 || r.Frames[0].Fields[1].Labels["user"] != "u"+h {
				t.Errorf("timeseries: %v %v", r.Error, r.Frames)
			}
			// A hostile tenant is data too.
			r = svc.QueryData(ctx, &backend.QueryDataRequest{Queries: []backend.DataQuery{dq("A", `{}`)}}, h).Responses["A"]
			if r.Error != nil || len(column(r.Frames[0], "id")) != 0 {
				t.Errorf("tenant %q: %v %v", h, r.Error, r.Frames)
			}
		})
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Events != uint64(len(hostile)) {
		t.Fatalf("the table changed: %+v %v", st, err)
	}
}

// manyUsers is a JSON array of n distinct user names of size bytes each.
func manyUsers(n, size int) string {
	u := make([]string, n)
	for i := range u {
		u[i] = fmt.Sprintf("%0*d", size, i)
	}
	u[0] = "alice"
	b, _ := json.Marshal(u)
	return string(b)
}

// TestLargeFiltersRun: a filter just inside MaxFilterBytes still makes a
// statement ClickHouse accepts, for the query type whose SQL repeats it.
func TestLargeFiltersRun(t *testing.T) {
	fx := newFixture(t)
	users := manyUsers(230, 30) // 230 × 34 × 3 ≈ 23 KiB of the 32 KiB budget
	ips := make([]string, 60)
	for i := range ips {
		ips[i] = fmt.Sprintf("2001:db8:%x::/48", i)
	}
	ips[0] = "81.2.69.0/24"
	ipj, _ := json.Marshal(ips)
	for _, js := range []string{
		`{"queryType":"timeseries","groupBy":"user","filters":{"users":` + users + `,"clientIps":` + string(ipj) + `}}`,
		`{"queryType":"logs","filters":{"users":` + users + `,"clientIps":` + string(ipj) + `}}`,
	} {
		fr := fx.one(t, "acme", dq("A", js))
		if n, _ := fr[0].RowLen(); n == 0 {
			t.Errorf("%.40s…: no rows for alice", js)
		}
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestMatcherAgreesWithStore checks that the in-memory matcher of the live
// tail selects exactly what the store's WHERE clause selects.
func TestMatcherAgreesWithStore(t *testing.T) {
	fx := newFixture(t)
	all, err := fx.s.Events(ctx, store.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tenant string
		f      query.Filters
	}{
		{"", query.Filters{}},
		{"acme", query.Filters{}},
		{"globex", query.Filters{}},
		{"*", query.Filters{Actions: []string{"login", "login_failed"}}},
		{"acme", query.Filters{Users: []string{"root@localhost", "1"}}},
		{"", query.Filters{Users: []string{"bob@example.com", "eve"}}},
		{"", query.Filters{Apps: []string{"authentik.events.signals"}}},
		{"", query.Filters{ClientIPs: []string{"81.2.69.0/24"}}},
		{"", query.Filters{ClientIPs: []string{"81.2.69.150", "10.0.0.0/8"}}},
		{"", query.Filters{ClientIPs: []string{"::ffff:0:0/96"}}},
		{"", query.Filters{ClientIPs: []string{"::/128"}}}, // events without an IP
		{"", query.Filters{Countries: []string{"gb", "De"}}},
		{"", query.Filters{Search: "LONDON"}},
		{"", query.Filters{Search: "::ffff:5.4"}},
		{"", query.Filters{Search: "p@b"}},             // inside the context
		{"", query.Filters{Search: `"old":"a@old`}},    // inside the stored diff JSON
		{"", query.Filters{Search: "login_failed au"}}, // across two fields
		{"", query.Filters{Search: "admins"}},
		{"", query.Filters{EventID: fx.ev["e3"].ID}},
		{"acme", query.Filters{Actions: []string{"login"}, Countries: []string{"GB"}, Search: "alice"}},
	} {
		c, err := tc.f.Compile()
		if err != nil {
			t.Fatal(err)
		}
		fromStore, err := fx.s.Events(ctx, c.Store(tc.tenant, time.Time{}, time.Time{}), 0)
		if err != nil {
			t.Fatal(err)
		}
		m := c.Matcher(tc.tenant)
		var inMemory, stored []string
		for i := range all {
			if m.Match(&all[i]) {
				inMemory = append(inMemory, all[i].ID)
			}
		}
		for _, e := range fromStore {
			stored = append(stored, e.ID)
		}
		if fmt.Sprint(inMemory) != fmt.Sprint(stored) {
			t.Errorf("tenant %q %+v:\nmatcher %v\n  store %v", tc.tenant, tc.f, inMemory, stored)
		}
		if len(stored) == 0 && tc.f.Search != "" {
			t.Errorf("%+v matched nothing; the case proves nothing", tc.f)
		}
	}
}
