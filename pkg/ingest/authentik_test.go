package ingest_test

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/store"
)

// authentikEvents are events as authentik's API returns them
// (GET /api/v3/events/events/), one per interesting shape.
const authentikEvents = `[
{"pk":"f52f9eb9-dc2a-4f1e-afea-ad5af90bf680",
 "user":{"pk":1,"email":"root@localhost","username":"akadmin"},
 "action":"authorize_application","app":"authentik.providers.oauth2.views.authorize",
 "context":{
  "http_request":{"path":"/api/v3/flows/executor/default-provider-authorization-implicit-consent/",
    "method":"GET","args":{"query":"..."},"user_agent":"Mozilla/5.0 ...","request_id":"abc123"},
  "geo":{"continent":"EU","country":"DE","city":"Berlin","lat":52.52,"long":13.40},
  "asn":{"asn":6805,"as_org":"Telefonica Germany","network":"5.4.0.0/14"},
  "authorized_application":{"pk":"bed6a2b9a7a44bbd8a5e5b1d3d4e6f70","app":"authentik_core","name":"Alertmanager","model_name":"application"},
  "flow":"53287faa","scopes":"openid email profile"},
 "client_ip":"5.4.1.2","created":"2023-02-15T10:02:48.615499Z",
 "expires":"2099-02-15T10:02:48.612809Z",
 "brand":{"pk":"10800000000000000000000000000000","app":"authentik_brands","name":"Default brand","model_name":"brand"}},
{"pk":"0b7e2f5e-8a36-4c36-9e0e-7f5d0f3a9c11",
 "user":{"pk":7,"email":"alice@corp.example","username":"alice"},
 "action":"model_updated","app":"authentik.events.middleware",
 "context":{
  "model":{"app":"authentik_core","model_name":"user","pk":42,"name":"bob"},
  "diff":{"email":{"previous_value":"bob@old.example","new_value":"bob@new.example"},
          "groups":{"add":[3,4]},
          "sources":{"remove":["aa11"]},
          "permissions":{"clear":true}},
  "http_request":{"path":"/api/v3/core/users/42/","method":"PATCH","user_agent":"curl/8"}},
 "client_ip":"81.2.69.142","created":"2024-05-01T08:00:00.123456Z",
 "expires":"2099-05-01T08:00:00Z",
 "tenant":{"pk":"20000000000000000000000000000000","app":"authentik_tenants","name":"Old tenant","model_name":"tenant"}},
{"pk":"3c1d2b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
 "user":{"pk":9,"username":"eve","email":"eve@example.com","on_behalf_of":{"pk":7,"username":"alice","email":"alice@corp.example"}},
 "action":"impersonation_started","app":"authentik.core.views.impersonate",
 "context":{}, "client_ip":"255.255.255.255","created":"2024-05-02T09:00:00Z","expires":"2099-01-01T00:00:00Z","expiring":true,
 "brand":{"pk":"10800000000000000000000000000000","app":"authentik_brands","name":"Default brand","model_name":"brand"}}
]`

func TestAuthentikRoundTrip(t *testing.T) {
	// The enricher knows every address: events that bring geo/asn must
	// keep theirs, and the London one (no geo of its own) gets this.
	far := &event.Geo{Country: "Nowhere", CountryCode: "XX", City: "Nowhere", Continent: "AN", Lat: -80, Lon: 0}
	farASN := &event.ASN{Number: 64512, Org: "Private use", Network: "0.0.0.0/0"}
	e := newEnv(t, envConfig{opts: ingest.Options{Enricher: ingest.EnricherFunc(func(netip.Addr) (*event.Geo, *event.ASN) {
		return far, farASN
	})}})
	r := e.post(t, "application/json", authentikEvents)
	if res := r.result(t); r.status != 200 || res.Accepted != 3 || len(res.Rejected) != 0 {
		t.Fatalf("%d %s", r.status, r.body)
	}

	// authorize_application: everything authentik sends is kept.
	var az event.Event
	if r := e.get(t, admin, "f52f9eb9-dc2a-4f1e-afea-ad5af90bf680"); r.status != 200 {
		t.Fatalf("get: %d %s", r.status, r.body)
	} else if err := json.Unmarshal(r.body, &az); err != nil {
		t.Fatal(err)
	}
	wantTime := time.Date(2023, 2, 15, 10, 2, 48, 615_000_000, time.UTC)
	if az.Action != "authorize_application" || az.App != "authentik.providers.oauth2.views.authorize" ||
		az.User != (event.User{ID: "1", Username: "akadmin", Email: "root@localhost"}) ||
		az.ClientIP != "5.4.1.2" || !az.Time.Equal(wantTime) || az.Tenant != "default" {
		t.Errorf("authorize_application fields: %+v", az)
	}
	if !az.Expires.Equal(time.Date(2099, 2, 15, 10, 2, 48, 0, time.UTC)) {
		t.Errorf("authentik's expires not kept: %s", az.Expires)
	}
	if az.Geo == nil || *az.Geo != (event.Geo{CountryCode: "DE", City: "Berlin", Continent: "EU", Lat: 52.52, Lon: 13.40}) {
		t.Errorf("geo from context: %+v", az.Geo)
	}
	if az.ASN == nil || *az.ASN != (event.ASN{Number: 6805, Org: "Telefonica Germany", Network: "5.4.0.0/14"}) {
		t.Errorf("asn from context: %+v", az.ASN)
	}
	var ctx map[string]json.RawMessage
	if err := json.Unmarshal(az.Context, &ctx); err != nil {
		t.Fatal(err)
	}
	var hr struct{ Path, Method string }
	if err := json.Unmarshal(ctx["http_request"], &hr); err != nil || hr.Method != "GET" || !strings.HasPrefix(hr.Path, "/api/v3/flows/executor/") {
		t.Errorf("context.http_request: %s", ctx["http_request"])
	}
	if !strings.Contains(string(ctx["brand"]), `"Default brand"`) || !strings.Contains(string(ctx["authorized_application"]), "Alertmanager") {
		t.Errorf("context lost brand or application: %s", az.Context)
	}

	// model_updated: model → object, both diff shapes, the pre-2024 tenant
	// as brand, and the enricher for the address without its own geo.
	got, err := e.st.Events(bg, store.Filter{Actions: []string{"model_updated"}, Users: []string{"alice"}}, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("query by action and user: %v %+v", err, got)
	}
	mu := got[0]
	if mu.Object != (event.Object{App: "authentik_core", Model: "user", PK: "42", Name: "bob"}) {
		t.Errorf("object: %+v", mu.Object)
	}
	email := mu.Diff["email"]
	if string(email.Old) != `"bob@old.example"` || string(email.New) != `"bob@new.example"` {
		t.Errorf("diff.email: %s → %s", email.Old, email.New)
	}
	if g := mu.Diff["groups"]; len(g.Add) != 2 || string(g.Add[0]) != "3" || len(g.Remove) != 0 {
		t.Errorf("diff.groups: %+v", g)
	}
	if s := mu.Diff["sources"]; len(s.Remove) != 1 || string(s.Remove[0]) != `"aa11"` {
		t.Errorf("diff.sources: %+v", s)
	}
	if !mu.Diff["permissions"].Clear {
		t.Errorf("diff.permissions: %+v", mu.Diff["permissions"])
	}
	if !strings.Contains(string(mu.Context), `"Old tenant"`) || mu.Tenant != "default" {
		t.Errorf("old authentik tenant must become context.brand, not our tenant: %s / %s", mu.Context, mu.Tenant)
	}
	if mu.Geo == nil || mu.Geo.CountryCode != "XX" || mu.ASN == nil || mu.ASN.Number != 64512 {
		t.Errorf("enrichment for an event without geo: %+v %+v", mu.Geo, mu.ASN)
	}

	// impersonation: on_behalf_of kept in context.user; authentik's
	// 255.255.255.255 "no address" is not looked up.
	got, err = e.st.Events(bg, store.Filter{Search: "on_behalf_of"}, 10)
	if err != nil || len(got) != 1 || got[0].Action != "impersonation_started" {
		t.Fatalf("search: %v %+v", err, got)
	}
	if got[0].Geo != nil || got[0].ASN != nil {
		t.Errorf("255.255.255.255 was enriched: %+v", got[0].Geo)
	}
	if got[0].Severity != "notice" {
		t.Errorf("impersonation severity %q", got[0].Severity)
	}

	// Country filter sees the geo that came with the event.
	got, err = e.st.Events(bg, store.Filter{Countries: []string{"de"}}, 10)
	if err != nil || len(got) != 1 || got[0].ID != "f52f9eb9-dc2a-4f1e-afea-ad5af90bf680" {
		t.Fatalf("country filter: %v %+v", err, got)
	}
}
