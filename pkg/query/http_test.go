package query_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/query"
)

func fixedTenant(t string) query.TenantFunc {
	return func(*http.Request) (string, error) { return t, nil }
}

func post(t *testing.T, h http.Handler, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/query", strings.NewReader(body)))
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	return rec.Code, out
}

// dig walks a decoded JSON value by keys and indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func TestHTTPQuery(t *testing.T) {
	fx := newFixture(t)
	fx.svc.Now = func() time.Time { return t0.Add(5 * time.Minute) }
	h := fx.svc.QueryHandler(fixedTenant("acme"))

	t.Run("grafana body, mixed results", func(t *testing.T) {
		code, out := post(t, h, `{"from":"now-5m","to":"now","queries":[
			{"refId":"A","datasource":{"type":"auditlog","uid":"x"},"queryType":"stats","groupBy":"user","intervalMs":60000,"maxDataPoints":100},
			{"refId":"B","queryType":"nope"},
			{"refId":"C","queryType":"timeseries","intervalMs":60000,"maxDataPoints":1000}]}`)
		if code != http.StatusMultiStatus {
			t.Errorf("status %d, want 207 for a partial failure", code)
		}
		var names []string
		for _, f := range dig(out, "results", "A", "frames", 0, "schema", "fields").([]any) {
			names = append(names, dig(f, "name").(string))
		}
		if strings.Join(names, ",") != "user,count,users,firstSeen,lastSeen" {
			t.Errorf("A fields %v", names)
		}
		if got := fmt.Sprint(dig(out, "results", "A", "frames", 0, "data", "values", 0)); got != "[akadmin alice bob mallory]" {
			t.Errorf("A users %s", got)
		}
		if got := dig(out, "results", "A", "status"); got != 200.0 {
			t.Errorf("A status %v", got)
		}
		if got := fmt.Sprint(dig(out, "results", "C", "frames", 0, "data", "values", 1)); got != "[2 2 0 1 5]" {
			t.Errorf("C counts %s", got)
		}
		if msg, _ := dig(out, "results", "B", "error").(string); !strings.Contains(msg, `unknown queryType "nope"`) || dig(out, "results", "B", "status") != 400.0 {
			t.Errorf("B: %v", dig(out, "results", "B"))
		}
	})

	t.Run("epoch times; the SDK reads the answer back", func(t *testing.T) {
		body := fmt.Sprintf(`{"from":"%d","to":%d,"queries":[{"refId":"L","queryType":"logs","filters":{"users":["bob"]}}]}`,
			t0.UnixMilli(), t0.Add(5*time.Minute).UnixMilli())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/query", strings.NewReader(body)))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var resp backend.QueryDataResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		f := resp.Responses["L"].Frames[0]
		if got := column(f, "id"); fmt.Sprint(got) != fmt.Sprint([]string{fx.ev["e4"].ID}) || f.Meta.PreferredVisualization != data.VisTypeLogs {
			t.Errorf("logs through HTTP: %v %+v", got, f.Meta)
		}
	})

	t.Run("tenant comes from the resolver", func(t *testing.T) {
		code, out := post(t, fx.svc.QueryHandler(fixedTenant("globex")), `{"from":"now-5m","to":"now","queries":[{"refId":"A","queryType":"stats","groupBy":"user"}]}`)
		if code != 200 || fmt.Sprint(dig(out, "results", "A", "frames", 0, "data", "values", 0)) != "[eve]" {
			t.Errorf("%d %v", code, out)
		}
	})

	bad := []struct {
		name, method, body string
		tenant             query.TenantFunc
		code               int
		msg                string
	}{
		{"GET", http.MethodGet, "", fixedTenant(""), 405, "use POST"},
		{"not JSON", http.MethodPost, `{"queries":`, fixedTenant(""), 400, "body must be a JSON object"},
		{"no queries", http.MethodPost, `{"from":"now-1h","to":"now","queries":[]}`, fixedTenant(""), 400, "queries is empty"},
		{"from after to", http.MethodPost, `{"from":"now","to":"now-1h","queries":[{"refId":"A"}]}`, fixedTenant(""), 400, "must be before to"},
		{"bad time", http.MethodPost, `{"from":"yesterday-ish","to":"now","queries":[{"refId":"A"}]}`, fixedTenant(""), 400, `"yesterday-ish" is not a time`},
		{"duplicate refId", http.MethodPost, `{"queries":[{"refId":"A"},{"refId":"A"}]}`, fixedTenant(""), 400, `refId "A" is used twice`},
		{"refused tenant", http.MethodPost, `{"queries":[{"refId":"A"}]}`, func(*http.Request) (string, error) { return "", errors.New("token may not read") }, 403, "token may not read"},
		{"no resolver", http.MethodPost, `{"queries":[{"refId":"A"}]}`, nil, 500, "no tenant resolver"},
		{"huge body", http.MethodPost, `{"queries":[{"refId":"A","filters":{"search":"` + strings.Repeat("x", query.MaxQueryBody) + `"}}]}`, fixedTenant(""), 413, "larger than"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			fx.svc.QueryHandler(tc.tenant).ServeHTTP(rec, httptest.NewRequest(tc.method, "/api/v1/query", strings.NewReader(tc.body)))
			var out struct{ Error string }
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			if rec.Code != tc.code || !strings.Contains(out.Error, tc.msg) {
				t.Errorf("%d %q, want %d with %q", rec.Code, rec.Body.String(), tc.code, tc.msg)
			}
		})
	}
}

func TestValuesHandler(t *testing.T) {
	fx := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("GET /values/{field}", fx.svc.ValuesHandler(fixedTenant("acme")))
	mux.Handle("GET /globex/values/{field}", fx.svc.ValuesHandler(fixedTenant("globex")))
	cases := []struct {
		url  string
		code int
		body string
	}{
		{"/values/action?q=LOG", 200, `{"values":["login_failed","login"]}`},
		{"/values/user?limit=1", 200, `{"values":["akadmin"]}`},
		{"/values/country", 200, `{"values":["GB","DE"]}`},
		{"/values/app?q=" + "%27%3B%20DROP", 200, `{"values":[]}`},
		{"/globex/values/user", 200, `{"values":["eve"]}`},
		{"/values/tenant", 400, `{"error":"values: unknown field \"tenant\" (want action, user, app or country)"}`},
		{"/values/action?limit=abc", 400, `{"error":"values: limit \"abc\" is not a positive whole number"}`},
	}
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.url, nil))
		if rec.Code != tc.code || strings.TrimSpace(rec.Body.String()) != tc.body {
			t.Errorf("%s: %d %s, want %d %s", tc.url, rec.Code, rec.Body, tc.code, tc.body)
		}
	}
}

func TestTailPath(t *testing.T) {
	f := query.Filters{Actions: []string{"login_failed"}, Users: []string{"alice"}, ClientIPs: []string{"10.0.0.0/8"}, Countries: []string{"gb"}, Search: "x y"}
	p, err := query.TailPath(f)
	if err != nil {
		t.Fatal(err)
	}
	back, err := query.ParseTailPath(p)
	if err != nil || fmt.Sprintf("%+v", back) != fmt.Sprintf("%+v", f) {
		t.Errorf("round trip: %+v %v", back, err)
	}
	if p, _ := query.TailPath(query.Filters{}); p != "tail" {
		t.Errorf("empty filters give %q", p)
	}
	enc := func(s string) string { return "tail/" + base64.RawURLEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		path string
		want string // filters as %+v, or "error: …"
	}{
		{"tail", fmt.Sprintf("%+v", query.Filters{})},
		{enc(`{"actions":["login"]}`), fmt.Sprintf("%+v", query.Filters{Actions: []string{"login"}})},
		{"tail/" + base64.URLEncoding.EncodeToString([]byte(`{"users":"bob"}`)), fmt.Sprintf("%+v", query.Filters{Users: []string{"bob"}})},
		// Only our code writes filter keys, so an unknown one is a typo
		// that would widen the tail to every event.
		{enc(`{"actions":["login"],"extra":1}`), "error: filters.extra: unknown filter"},
		{"tails", "error: want \"tail\""},
		{"tail/***", "error: not unpadded base64url"},
		{enc(`[1]`), "error: filters must be a JSON object"},
		{enc(`{"countries":["GBR"]}`), "error: two-letter"},
		{enc(`{"clientIps":["nope"]}`), "error: not an IP address"},
		{"tail/" + strings.Repeat("A", 1000), "error: longer than"},
	}
	for _, tc := range cases {
		got, err := query.ParseTailPath(tc.path)
		s := fmt.Sprintf("%+v", got)
		if err != nil {
			s = "error: " + err.Error()
		}
		if !strings.HasPrefix(tc.want, "error: ") && s != tc.want || strings.HasPrefix(tc.want, "error: ") && !strings.Contains(s, strings.TrimPrefix(tc.want, "error: ")) {
			t.Errorf("ParseTailPath(%q) = %s, want %s", tc.path, s, tc.want)
		}
	}
}

// TestLiveLogsQuery: a live logs query answers like any logs query and
// names no channel, because the frontend subscribes to the tail itself.
func TestLiveLogsQuery(t *testing.T) {
	fx := newFixture(t)
	req := &backend.QueryDataRequest{
		PluginContext: backend.PluginContext{DataSourceInstanceSettings: &backend.DataSourceInstanceSettings{UID: "P0A1"}},
		Queries:       []backend.DataQuery{dq("A", `{"live":true,"filters":{"actions":["login_failed"]}}`)},
	}
	res := fx.svc.QueryData(ctx, req, "acme").Responses["A"]
	if res.Error != nil || len(res.Frames) != 1 {
		t.Fatalf("live logs query: %v", res.Error)
	}
	if f := res.Frames[0]; f.Meta.Channel != "" || f.Rows() == 0 {
		t.Errorf("live logs frame: channel %q, %d rows", f.Meta.Channel, f.Rows())
	}
}

func TestLogsFrameForTail(t *testing.T) {
	e := finish(mk("0195a000-0000-7000-8000-000000000001", "login_failed", "alice", 0))
	e.ClientIP, e.Geo = "81.2.69.142", london
	f := query.LogsFrame([]event.Event{e})
	if got := fieldNames(f); got != "time,body,level,id,action,user,app,clientIp,country,city" {
		t.Errorf("fields %s", got)
	}
	equalRows(t, rows(f), []string{"12:00:00|alice login_failed from 81.2.69.142 (London, GB)|warning|" + e.ID +
		"|login_failed|alice|authentik.core|81.2.69.142|GB|London"})
	empty := query.LogsFrame(nil)
	if n, _ := empty.RowLen(); n != 0 || len(empty.Fields) != 10 || empty.Fields[0].Type() != data.FieldTypeTime {
		t.Errorf("empty batch frame: %d rows, %d fields", n, len(empty.Fields))
	}
	if _, err := json.Marshal(empty); err != nil {
		t.Error(err)
	}
}

func TestParseQuery(t *testing.T) {
	cases := []struct {
		js, qt, want string
	}{
		{``, "", "logs"},
		{`{}`, "", "logs"},
		{`{"queryType":"geomap"}`, "", "geomap"},
		{`{"queryType":"geomap"}`, "stats", "stats"},
		{`{"queryType":"Logs"}`, "", `error: unknown queryType "Logs"`},
		{`{"live":"yes"}`, "", "error: live: expected bool"},
		{`{"limit":1.5}`, "", "error: limit: limit must be a whole number"},
		{`{"groupBy":7}`, "", "error: groupBy: expected string"},
		{`[]`, "", "error: query must be a JSON object"},
	}
	for _, tc := range cases {
		q, err := query.ParseQuery(json.RawMessage(tc.js), tc.qt)
		got := q.QueryType
		if err != nil {
			got = "error: " + err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("ParseQuery(%s, %q) = %s, want %s", tc.js, tc.qt, got, tc.want)
		}
	}
}

func TestSummaryAndLevel(t *testing.T) {
	e := event.Event{Action: "login_failed", Context: json.RawMessage(`{"username":"ghost","message":"Invalid\n  password"}`), ClientIP: "2001:db8::1"}
	if got := query.Summary(&e); got != "ghost login_failed from 2001:db8::1: Invalid password" {
		t.Errorf("summary %q", got)
	}
	for sev, want := range map[string]string{"debug": "debug", "info": "info", "notice": "info", "warning": "warning",
		"error": "error", "critical": "critical", "alert": "critical", "": "unknown"} {
		if got := query.Level(sev); got != want {
			t.Errorf("Level(%q) = %q, want %q", sev, got, want)
		}
	}
	if got := query.Level(strconv.Itoa(3)); got != "unknown" {
		t.Errorf("Level(3) = %q", got)
	}
}
