package store_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// hotData stores demo events of the last hour plus events with values
// the engine changes on the way in, and returns them.
func hotData(t *testing.T, s *store.Store, now time.Time) []event.Event {
	t.Helper()
	evs := demo.Generate(7, 3000, now.Add(-time.Hour), now)
	for i := range evs {
		event.Normalize(&evs[i], now)
		event.Retention{}.Apply(&evs[i])
		evs[i].ReceivedAt = now.Add(time.Duration(i) * time.Microsecond)
	}
	odd := mkEvent("login", "Zoë", now.Add(-time.Minute))
	odd.ID = "0190A1B2-C3D4-7E3B-8000-00000000000A" // upper case: stored lower
	odd.ClientIP = "0.0.0.0"
	odd.Object.Name = "bad \xff utf-8 FireFox"
	odd.Context = json.RawMessage(`{"note":"Ticket #42 \xfe"}`)
	odd.Diff = map[string]event.Change{"email": {Old: json.RawMessage(`"a@x"`), New: json.RawMessage(`"b@x"`)}}
	odd.Geo = &event.Geo{}
	// Invalid UTF-8 in the diff alone.
	badDiff := mkEvent("model_updated", "bob", now.Add(-90*time.Second))
	badDiff.Diff = map[string]event.Change{"name": {Old: json.RawMessage("\"old \xff\""), New: json.RawMessage(`"new"`)}}
	other := mkEvent("login", "alice", now.Add(-2*time.Minute))
	other.Tenant = "acme"
	other.ClientIP = "2001:db8::7"
	evs = append(evs, odd, badDiff, other)
	if res := mustInsert(t, s, evs...); res.Inserted != len(evs) {
		t.Fatalf("inserted %d of %d", res.Inserted, len(evs))
	}
	return evs
}

// TestHotTierMatchesEngine checks that every answer the hot tier gives is
// the engine's answer, event for event and byte for byte, and that it
// does answer the reads it is for.
func TestHotTierMatchesEngine(t *testing.T) {
	s := storetest.Embedded(t, store.Options{})
	now := time.Now().UTC()
	evs := hotData(t, s, now)
	if held := store.HotHeld(s); held != len(evs) {
		t.Fatalf("hot tier holds %d events, want %d", held, len(evs))
	}
	var busy string
	for _, e := range evs {
		if e.Action == "login" && e.Tenant == "default" {
			busy = e.User.Username
			break
		}
	}
	week := now.Add(-7 * 24 * time.Hour)
	cases := []struct {
		name  string
		f     store.Filter
		limit int
		hot   bool // the hot tier must answer
	}{
		{"newest page", store.Filter{Tenant: "default", From: now.Add(-30 * 24 * time.Hour), To: now.Add(time.Second)}, 100, true},
		{"newest page without range", store.Filter{Tenant: "default"}, 100, true},
		{"all tenants", store.Filter{From: week}, 50, true},
		{"other tenant", store.Filter{Tenant: "acme", From: week}, 100, true},
		{"action and user", store.Filter{Tenant: "default", From: week, Actions: []string{"login"}, Users: []string{busy}}, 100, true},
		{"app", store.Filter{Tenant: "default", From: week, Apps: []string{"authentik.events.signals"}}, 20, true},
		{"country lower case", store.Filter{Tenant: "default", From: week, Countries: []string{"gb"}}, 30, true},
		{"ip prefix", store.Filter{Tenant: "default", From: week, ClientIPs: []netip.Prefix{netip.MustParsePrefix("81.2.64.0/19")}}, 30, true},
		{"ipv6 prefix", store.Filter{From: week, ClientIPs: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}}, 30, true},
		{"zero ip", store.Filter{From: week, ClientIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}}, 30, true},
		{"id", store.Filter{From: week, IDs: []string{evs[5].ID, "0190a1b2-c3d4-7e3b-8000-00000000000a"}}, 10, true},
		{"search word", store.Filter{Tenant: "default", From: week, Search: "FIREFOX"}, 100, true},
		{"search phrase", store.Filter{Tenant: "default", From: week, Search: "windows nt 10.0; win64"}, 100, true},
		{"search phrase across columns", store.Filter{Tenant: "acme", From: week, Search: "login  alice"}, 100, true},
		{"search in diff and context", store.Filter{From: week, Search: "ticket #42"}, 100, true},
		{"search non-ASCII goes to the engine", store.Filter{From: week, Search: "zoë"}, 100, false},
		{"window in the middle", store.Filter{Tenant: "default", From: now.Add(-40 * time.Minute), To: now.Add(-20 * time.Minute)}, 10000, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hot, ok := store.HotNewest(s, tc.f, tc.limit)
			if ok != tc.hot {
				t.Fatalf("hot tier answered: %v, want %v", ok, tc.hot)
			}
			restore := store.HotOff(s)
			cold, err := s.Events(ctx, tc.f, tc.limit)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if len(cold) == 0 {
				t.Fatalf("the engine found nothing: the case tests nothing")
			}
			hj, _ := json.Marshal(hot)
			cj, _ := json.Marshal(cold)
			if string(hj) != string(cj) {
				t.Fatalf("hot tier and engine differ (%d vs %d events):\nhot    %.600s\nengine %.600s", len(hot), len(cold), hj, cj)
			}
		})
	}
	for _, e := range []event.Event{evs[0], evs[len(evs)-2], evs[len(evs)-1]} {
		got, err := s.Get(ctx, e.Tenant, e.ID)
		restore := store.HotOff(s)
		want, err2 := s.Get(ctx, e.Tenant, e.ID)
		restore()
		if err != nil || err2 != nil || got == nil || want == nil {
			t.Fatalf("get %s: %v %v %v %v", e.ID, got, err, want, err2)
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("get %s: hot tier and engine differ:\nhot    %s\nengine %s", e.ID, gj, wj)
		}
	}
}

// TestHotTierCoverage checks the tier's promise under memory pressure,
// late events and failed inserts: whatever it answers is what the
// engine holds.
func TestHotTierCoverage(t *testing.T) {
	// Room for a few hundred events: most of 3,000 are evicted.
	s := storetest.Embedded(t, store.Options{HotBytes: 300 << 10})
	now := time.Now().UTC()
	hotData(t, s, now)
	held := store.HotHeld(s)
	if held == 0 || held > 1000 {
		t.Fatalf("hot tier holds %d events with 300 KiB", held)
	}
	// A late event, older than everything held, is stored but not held;
	// a page reaching below the tier's coverage comes from the engine.
	late := mkEvent("login", "late", now.Add(-50*time.Minute))
	mustInsert(t, s, late)
	f := store.Filter{Tenant: "default", From: now.Add(-55 * time.Minute), Users: []string{"late"}}
	if _, ok := store.HotNewest(s, f, 100); ok {
		t.Fatal("hot tier answered for a range below its coverage")
	}
	evs, err := s.Events(ctx, f, 100)
	if err != nil || len(evs) != 1 || evs[0].ID != late.ID {
		t.Fatalf("late event: %v %v", evs, err)
	}
	// The newest page still comes from memory, and equals the engine's.
	page := store.Filter{Tenant: "default"}
	hot, ok := store.HotNewest(s, page, 100)
	if !ok {
		t.Fatal("hot tier did not answer the newest page")
	}
	restore := store.HotOff(s)
	cold, err := s.Events(ctx, page, 100)
	restore()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids(hot)) != fmt.Sprint(ids(cold)) {
		t.Fatalf("newest page differs:\nhot    %v\nengine %v", ids(hot), ids(cold))
	}
}

// TestHotTierOffForServer: a ClickHouse server may have other writers,
// so only the embedded engine keeps events in memory; reopening the
// embedded store holds nothing stored before.
func TestHotTierReopen(t *testing.T) {
	s := storetest.Embedded(t, store.Options{})
	now := time.Now().UTC()
	mustInsert(t, s, mkEvent("login", "alice", now))
	if store.HotHeld(s) != 1 {
		t.Fatalf("hot tier holds %d events, want 1", store.HotHeld(s))
	}
	off := storetest.Embedded(t, store.Options{HotBytes: -1})
	mustInsert(t, off, mkEvent("login", "bob", now))
	if store.HotHeld(off) != 0 {
		t.Fatal("HotBytes -1 still keeps events in memory")
	}
}

func ids(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}
