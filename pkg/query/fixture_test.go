package query_test

import (
	"context"
	"encoding/json"
	"fmt"
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

func TestMain(m *testing.M) { storetest.Main(m) }

var (
	ctx = context.Background()
	t0  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rng = backend.TimeRange{From: t0, To: t0.Add(5 * time.Minute)}

	london = &event.Geo{Country: "United Kingdom", CountryCode: "GB", City: "London", Continent: "EU", Lat: 51.5142, Lon: -0.0931}
	berlin = &event.Geo{Country: "Germany", CountryCode: "DE", City: "Berlin", Continent: "EU", Lat: 52.52, Lon: 13.40}
)

// fixture is a store seeded with a history whose answers are worked out
// by hand in the tests. Tenant acme, from 12:00:00:
//
//	+0s   e1  login          alice    81.2.69.142 London
//	+30s  e2  login_failed   alice    81.2.69.142 London
//	+70s  e4  login          bob      5.4.1.2     Berlin
//	+90s  e3  login_failed   alice    81.2.69.142 London
//	+200s e5  login_failed   mallory  10.0.0.1
//	+250s e6  model_updated  akadmin  native diff email a@old.example → a@new.example, London
//	+260s e7  model_updated  akadmin  authentik JSON: context.diff with field, m2m add/remove, clear
//	+270s e8  model_deleted  akadmin  context.model_state
//	+280s e9  user_write     akadmin  context before/after
//	+290s e10 model_updated  akadmin  raw context.diff that ingest did not normalize
//
// Tenant globex: +10s login eve London.
type fixture struct {
	s   *store.Store
	svc *query.Service
	ev  map[string]event.Event
}

func mk(id, action, user string, at time.Duration) event.Event {
	e := event.Event{ID: id, Action: action, Tenant: "acme", App: "authentik.core",
		User: event.User{ID: "1", Username: user, Email: user + "@example.com"}, Time: t0.Add(at)}
	return e
}

func finish(e event.Event) event.Event {
	event.Normalize(&e, e.Time)
	event.Retention{}.Apply(&e)
	e.ReceivedAt = e.Time.Add(time.Second)
	return e
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := storetest.Embedded(t, store.Options{})
	fx := &fixture{s: s, svc: &query.Service{Store: s}, ev: map[string]event.Event{}}
	id := func(n int) string { return fmt.Sprintf("0195a000-0000-7000-8000-%012d", n) }

	e1 := mk(id(1), "login", "alice", 0)
	e1.ClientIP, e1.Geo = "81.2.69.142", london
	e1.ASN = &event.ASN{Number: 20712, Org: "Andrews & Arnold Ltd", Network: "81.2.64.0/19"}
	e2 := e1
	e2.ID, e2.Action, e2.Time = id(2), "login_failed", t0.Add(30*time.Second)
	e3 := e2
	e3.ID, e3.Time = id(3), t0.Add(90*time.Second)
	e4 := mk(id(4), "login", "bob", 70*time.Second)
	e4.ClientIP, e4.Geo = "5.4.1.2", berlin
	e5 := mk(id(5), "login_failed", "mallory", 200*time.Second)
	e5.ClientIP = "10.0.0.1"
	e5.Context = json.RawMessage(`{"message":"Invalid credentials","username":"mallory"}`)
	e6 := mk(id(6), "model_updated", "akadmin", 250*time.Second)
	e6.ClientIP, e6.Geo = "81.2.69.142", london
	e6.Object = event.Object{App: "authentik_core", Model: "user", PK: "42", Name: "alice"}
	e6.Diff = map[string]event.Change{"email": {Old: json.RawMessage(`"a@old.example"`), New: json.RawMessage(`"a@new.example"`)}}

	e7, err := event.Decode([]byte(`{"pk":"` + id(7) + `","user":{"pk":1,"username":"akadmin","email":"root@localhost"},
		"action":"model_updated","app":"authentik.events.signals","client_ip":"5.4.1.2","created":"2026-03-01T12:04:20Z",
		"context":{"model":{"app":"authentik_core","model_name":"group","pk":"g7","name":"admins"},
		  "http_request":{"method":"PATCH","path":"/api/v3/core/groups/g7/"},
		  "diff":{"name":{"previous_value":"old","new_value":"new"},"users":{"add":[1,2]},"roles":{"remove":["r3"]},"parents":{"clear":true}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	e7.Tenant = "acme"
	e8 := mk(id(8), "model_deleted", "akadmin", 270*time.Second)
	e8.Object = event.Object{App: "authentik_core", Model: "group", PK: "g8", Name: "g1"}
	e8.Context = json.RawMessage(`{"model_state":{"name":"g1","is_superuser":false,"attributes":{"a":1}}}`)
	e9 := mk(id(9), "user_write", "akadmin", 280*time.Second)
	e9.Context = json.RawMessage(`{"before":{"email":"x@a","profile":{"city":"Paris","tz":"CET"}},"after":{"email":"x@b","profile":{"city":"Lyon","tz":"CET"},"mfa":true}}`)
	e10 := mk(id(10), "model_updated", "akadmin", 290*time.Second)
	e10.Object = event.Object{App: "authentik_core", Model: "user", PK: "7"}
	e10.Context = json.RawMessage(`{"diff":{"email":{"previous_value":"p@a","new_value":"p@b"}}}`)
	eve := mk(id(11), "login", "eve", 10*time.Second)
	eve.Tenant, eve.ClientIP, eve.Geo = "globex", "81.2.69.150", london

	var all []event.Event
	for i, e := range []event.Event{e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, eve} {
		e = finish(e)
		fx.ev[fmt.Sprintf("e%d", i+1)] = e
		all = append(all, e)
	}
	if _, err := s.Insert(ctx, all); err != nil {
		t.Fatal(err)
	}
	return fx
}

// dq builds a DataQuery from JSON, with the fixture's range and a 1-minute
// interval unless the test changes them.
func dq(ref, js string) backend.DataQuery {
	return backend.DataQuery{RefID: ref, JSON: json.RawMessage(js), TimeRange: rng, Interval: time.Minute, MaxDataPoints: 1000}
}

func (fx *fixture) run(t *testing.T, tenant string, qs ...backend.DataQuery) *backend.QueryDataResponse {
	t.Helper()
	return fx.svc.QueryData(ctx, &backend.QueryDataRequest{Queries: qs}, tenant)
}

// one runs one query and fails the test on a query error.
func (fx *fixture) one(t *testing.T, tenant string, q backend.DataQuery) data.Frames {
	t.Helper()
	r := fx.run(t, tenant, q).Responses[q.RefID]
	if r.Error != nil {
		t.Fatalf("query %s: %v", q.RefID, r.Error)
	}
	return r.Frames
}

// rows renders a frame as one "a|b|c" string per row; times as 15:04:05.
func rows(f *data.Frame) []string {
	n, _ := f.RowLen()
	out := make([]string, n)
	for i := range n {
		var cells []string
		for _, fl := range f.Fields {
			v := fl.At(i)
			switch x := v.(type) {
			case time.Time:
				cells = append(cells, x.UTC().Format("15:04:05"))
			default:
				cells = append(cells, fmt.Sprint(x))
			}
		}
		out[i] = strings.Join(cells, "|")
	}
	return out
}

func fieldNames(f *data.Frame) string {
	var n []string
	for _, fl := range f.Fields {
		n = append(n, fl.Name)
	}
	return strings.Join(n, ",")
}

func equalRows(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
