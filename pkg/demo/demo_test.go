package demo

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
)

var (
	to   = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	from = to.Add(-30 * 24 * time.Hour)
)

func TestGenerateIsDeterministic(t *testing.T) {
	a := GenerateRaw(7, 2000, from, to)
	b := GenerateRaw(7, 2000, from, to)
	if len(a) != 2000 || len(b) != 2000 {
		t.Fatalf("got %d and %d events, want 2000", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("event %d differs between runs:\n%s\n%s", i, a[i], b[i])
		}
	}
	c := GenerateRaw(8, 2000, from, to)
	same := 0
	for i := range a {
		if bytes.Equal(a[i], c[i]) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 7 and 8 share %d events", same)
	}
}

func TestGeneratedEventsAreValid(t *testing.T) {
	evs := Generate(1, 5000, from, to)
	ids := map[string]bool{}
	for i := range evs {
		e := evs[i]
		if e.Time.Before(from) || !e.Time.Before(to) {
			t.Fatalf("event %d at %s is outside [%s, %s)", i, e.Time, from, to)
		}
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Fatalf("event %d is older than event %d", i, i-1)
		}
		if ts, ok := event.TimeFromID(e.ID); !ok || !ts.Equal(e.Time.Truncate(time.Millisecond)) {
			t.Fatalf("event %d: id %s does not carry its time %s", i, e.ID, e.Time)
		}
		if ids[e.ID] {
			t.Fatalf("id %s twice", e.ID)
		}
		ids[e.ID] = true
		event.Normalize(&e, to)
		if err := event.Validate(&e); err != nil {
			t.Fatalf("event %d does not validate: %v", i, err)
		}
	}
}

func TestGeneratedMix(t *testing.T) {
	const n = 20000
	evs := Generate(3, n, from, to)
	actions := map[string]int{}
	users := map[string]int{}
	countries := map[string]bool{}
	ctxBytes, withGeo, diffs, m2m, emailChanges := 0, 0, 0, 0, 0
	for _, e := range evs {
		actions[e.Action]++
		if e.User.Username != "" && e.User.Username != "AnonymousUser" {
			users[e.User.Username]++
		}
		if e.Geo != nil {
			withGeo++
			countries[e.Geo.CountryCode] = true
			if e.ASN == nil || e.ASN.Number == 0 {
				t.Fatalf("event with geo but no ASN: %+v", e)
			}
		}
		ctxBytes += len(e.Context)
		if e.Action == "model_updated" && len(e.Diff) > 0 {
			diffs++
			if c, ok := e.Diff["users"]; ok && len(c.Add)+len(c.Remove) > 0 {
				m2m++
			}
			if c, ok := e.Diff["email"]; ok && len(c.Old) > 0 && len(c.New) > 0 {
				emailChanges++
			}
		}
		if e.Action == "model_updated" && e.Object.Model == "" {
			t.Fatalf("model_updated without an object: %+v", e)
		}
	}
	share := func(a string) float64 { return float64(actions[a]) / n }
	if got := share("model_updated"); got < 0.035 || got > 0.075 {
		t.Errorf("model_updated share %.3f, want about 5%%", got)
	}
	if float64(diffs)/float64(actions["model_updated"]) < 0.7 {
		t.Errorf("only %d of %d model_updated events have a diff", diffs, actions["model_updated"])
	}
	if m2m == 0 || emailChanges == 0 {
		t.Errorf("want both m2m and email diffs, got %d and %d", m2m, emailChanges)
	}
	top := slices.MaxFunc(actionMix, func(a, b struct {
		action string
		weight float64
	}) int {
		return actions[a.action] - actions[b.action]
	})
	if top.action != "login" {
		t.Errorf("most frequent action is %s, want login", top.action)
	}
	for _, a := range []string{"login_failed", "logout", "authorize_application", "model_created", "model_deleted",
		"password_set", "secret_view", "suspicious_request", "policy_exception", "configuration_error",
		"system_exception", "impersonation_started", "flow_execution"} {
		if actions[a] == 0 {
			t.Errorf("no %s events", a)
		}
	}
	// Zipf: a few users do much of the work, many do a little.
	counts := make([]int, 0, len(users))
	for _, c := range users {
		counts = append(counts, c)
	}
	slices.Sort(counts)
	if len(counts) < 150 {
		t.Errorf("only %d distinct users", len(counts))
	}
	if median, top := counts[len(counts)/2], counts[len(counts)-1]; top < 10*median {
		t.Errorf("top user has %d events, median %d: not Zipf-like", top, median)
	}
	if len(countries) < 15 {
		t.Errorf("only %d countries", len(countries))
	}
	if float64(withGeo)/n < 0.7 {
		t.Errorf("only %d of %d events have geo", withGeo, n)
	}
	if avg := ctxBytes / n; avg < 300 || avg > 900 {
		t.Errorf("average context is %d bytes", avg)
	}
}

func TestGeneratedBurst(t *testing.T) {
	evs := Generate(5, 5000, from, to)
	start := from.Add(to.Sub(from) * 6 / 10)
	n := 0
	for _, e := range evs {
		if !e.Time.Before(start) && e.Time.Before(start.Add(2*time.Hour)) && e.Geo != nil && e.Geo.CountryCode == "DE" && e.ASN.Number == 60729 {
			n++
		}
	}
	if n < 5000/50 {
		t.Errorf("%d burst events from the Tor exit, want at least %d", n, 5000/50)
	}
}

func TestGeneratorLive(t *testing.T) {
	g := NewGenerator(9)
	now := time.Now().UTC()
	e := g.Event(now)
	if !e.Time.Equal(now.Truncate(time.Microsecond)) || e.Action == "" {
		t.Fatalf("live event %+v", e)
	}
	if e2 := g.Event(now); e2.ID == e.ID {
		t.Fatal("two live events share an id")
	}
}

func TestDropGeo(t *testing.T) {
	for _, e := range Generate(2, 200, from, to) {
		if e.Geo == nil {
			continue
		}
		DropGeo(&e)
		if e.Geo != nil || e.ASN != nil {
			t.Fatal("fields kept")
		}
		var ctx map[string]json.RawMessage
		if err := json.Unmarshal(e.Context, &ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := ctx["geo"]; ok {
			t.Fatal("context.geo kept")
		}
		if _, ok := ctx["http_request"]; !ok {
			t.Fatal("DropGeo removed more than geo and asn")
		}
		return
	}
	t.Fatal("no event with geo")
}
