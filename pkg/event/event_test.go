package event

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// TestErrorsNameTheField: every rejection says which field is wrong.
func TestErrorsNameTheField(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{}`, "action: required"},
		{`{"action":"Login Failed"}`, `action: "Login Failed" must match`},
		{`{"action":"x","id":"nope"}`, `id: "nope" is not a UUID`},
		{`{"action":"x","time":"yesterday"}`, `time: "yesterday" is not an RFC 3339 time`},
		{`{"action":"x","time":"1969-12-31T23:59:59Z"}`, "time: 1969-12-31T23:59:59Z is outside"},
		{`{"action":"x","time":"2200-01-01T00:00:00Z"}`, "time: 2200-01-01T00:00:00Z is outside"},
		{`{"action":"x","expires":"2200-01-01T00:00:00Z"}`, "expires: "},
		{`{"action":"x","clientIp":"999.1.1.1"}`, `clientIp: "999.1.1.1" is not an IPv4 or IPv6 address`},
		{`{"action":"x","tenant":"a b"}`, `tenant: "a b" must match`},
		{`{"action":"x","severity":"loud"}`, `severity: "loud" is not one of`},
		{`{"action":"x","user":{"username":"a\u0000b"}}`, "user.username: contains a NUL"},
		{`{"action":"x","context":{"a":"\u0000"}}`, "context: contains a NUL"},
		{`{"action":"x","context":[1]}`, "context: must be a JSON object"},
		{`{"action":"x","diff":{"f":1}}`, "diff.f: must be an object"},
		{`{"action":1}`, "action: expected string"},
		{`{"action":"x","bogus":1}`, "bogus: unknown field"},
		{`{"action":"x","id":"f52f9eb9-dc2a-4f1e-afea-ad5af90bf680","pk":"f52f9eb9-dc2a-4f1e-afea-ad5af90bf681"}`, "pk: conflicts with id"},
		{`{"action":"x"`, "truncated JSON"},
		{"{\"action\":\"\xff\"}", "not valid UTF-8"},
		{`[{"action":"x"}]`, "must be a JSON object"},
		{`{"action":"x","user":{"username":"` + strings.Repeat("a", MaxStringBytes+1) + `"}}`, "user.username: longer than"},
		{`{"action":"x","context":` + strings.Repeat(`{"a":`, MaxNesting+1) + `1` + strings.Repeat(`}`, MaxNesting+1) + `}`, "context: nested deeper than"},
	}
	for _, tc := range cases {
		e, err := Decode([]byte(tc.in))
		if err == nil {
			Normalize(&e, now)
			err = Validate(&e)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60s: error %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

// TestAuthentikMapping: authentik's API JSON maps onto the model and keeps
// the whole context.
func TestAuthentikMapping(t *testing.T) {
	in := `{"pk":"F52F9EB9-DC2A-4F1E-AFEA-AD5AF90BF680","user":{"pk":1,"email":"root@localhost","username":"akadmin","on_behalf_of":{"pk":2,"username":"bob"}},
	"action":"model_updated","app":"authentik.events.signals","client_ip":"5.4.1.2","created":"2023-02-15T10:02:48.615499Z","expires":"2024-02-15T10:02:48.612809Z",
	"brand":{"pk":"1080","app":"authentik_brands","name":"Default brand","model_name":"brand"},
	"context":{"http_request":{"method":"PATCH"},"geo":{"continent":"EU","country":"DE","city":"Berlin","lat":52.52,"long":13.4},
	"asn":{"asn":6805,"as_org":"Telefonica Germany","network":"5.4.0.0/14"},"model":{"app":"authentik_core","model_name":"group","pk":"g1","name":"admins"},
	"diff":{"name":{"previous_value":"admin","new_value":"admins"},"users":{"add":[3,4]},"roles":{"clear":true}}}}`
	e, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	Normalize(&e, now)
	if err := Validate(&e); err != nil {
		t.Fatal(err)
	}
	if e.ID != "f52f9eb9-dc2a-4f1e-afea-ad5af90bf680" || e.User != (User{ID: "1", Username: "akadmin", Email: "root@localhost"}) ||
		e.ClientIP != "5.4.1.2" || !e.Time.Equal(time.Date(2023, 2, 15, 10, 2, 48, 615000000, time.UTC)) ||
		e.Expires.Format(time.RFC3339) != "2024-02-15T10:02:48Z" {
		t.Errorf("mapped event: %+v", e)
	}
	if e.Geo == nil || e.Geo.CountryCode != "DE" || e.Geo.City != "Berlin" || e.Geo.Lon != 13.4 || e.ASN == nil || e.ASN.Number != 6805 {
		t.Errorf("geo/asn from context: %+v %+v", e.Geo, e.ASN)
	}
	if e.Object != (Object{App: "authentik_core", Model: "group", PK: "g1", Name: "admins"}) {
		t.Errorf("object: %+v", e.Object)
	}
	if string(e.Diff["name"].Old) != `"admin"` || string(e.Diff["name"].New) != `"admins"` || len(e.Diff["users"].Add) != 2 || !e.Diff["roles"].Clear {
		t.Errorf("diff: %+v", e.Diff)
	}
	var ctx map[string]json.RawMessage
	_ = json.Unmarshal(e.Context, &ctx)
	for _, k := range []string{"http_request", "geo", "asn", "model", "diff", "brand", "user"} {
		if _, ok := ctx[k]; !ok {
			t.Errorf("context lost %q", k)
		}
	}
}

func TestNormalizeDefaults(t *testing.T) {
	e, err := Decode([]byte(`{"action":"login_failed","clientIp":"::ffff:81.2.69.142"}`))
	if err != nil {
		t.Fatal(err)
	}
	Normalize(&e, now)
	if e.Tenant != DefaultTenant || e.Severity != "warning" || !e.Time.Equal(now) || e.ClientIP != "81.2.69.142" {
		t.Errorf("defaults: %+v", e)
	}
	if ts, ok := TimeFromID(e.ID); !ok || !ts.Equal(now) {
		t.Errorf("generated id %s does not carry the event time: %v %v", e.ID, ts, ok)
	}
}

func TestRetention(t *testing.T) {
	r := Retention{Default: 365 * 24 * time.Hour, Rules: map[string]time.Duration{"login_failed": 30 * 24 * time.Hour}}
	if got := r.Expiry("login_failed", now); !got.Equal(now.Add(30 * 24 * time.Hour)) {
		t.Errorf("rule: %v", got)
	}
	if got := r.Expiry("login", now); !got.Equal(now.Add(365 * 24 * time.Hour)) {
		t.Errorf("default: %v", got)
	}
	if got := (Retention{Default: 200 * 365 * 24 * time.Hour}).Expiry("x", now); !got.Equal(MaxExpires) {
		t.Errorf("clamp: %v", got)
	}
	for in, want := range map[string]time.Duration{"365d": 365 * 24 * time.Hour, "5y": 5 * 365 * 24 * time.Hour, "2w": 14 * 24 * time.Hour,
		"12h": 12 * time.Hour, "days=30;hours=12": 30*24*time.Hour + 12*time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0d", "-3d", "days=x", "weeks", "3q"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	if a, d, err := ParseRule("model_deleted=5y"); err != nil || a != "model_deleted" || d != 5*365*24*time.Hour {
		t.Errorf("ParseRule: %s %v %v", a, d, err)
	}
	if _, _, err := ParseRule("Bad=1d"); err == nil {
		t.Errorf("ParseRule accepted a bad action")
	}
}
