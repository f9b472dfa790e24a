package store_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// seedRollupData stores 3 days of demo events in two tenants, plus events
// that expire later today (which reads must take raw, not from the
// rollups) and events that already expired and were removed.
func seedRollupData(t *testing.T, s *store.Store) (from, to time.Time) {
	t.Helper()
	to = time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	from = to.Add(-72 * time.Hour)
	evs := demo.Generate(5, 4000, from, to)
	now := time.Now().UTC()
	for i := range evs {
		e := &evs[i]
		event.Normalize(e, now)
		if i%7 == 0 {
			e.Tenant = "other"
		}
		e.Expires = time.Time{}
		switch {
		case i%50 == 1 && now.Add(time.Hour).Day() == now.Day():
			e.Expires = now.Add(time.Hour).Truncate(time.Second)
		case i%50 == 2:
			e.Expires = now.Add(-time.Hour).Truncate(time.Second)
		}
		event.Retention{Rules: map[string]time.Duration{"login_failed": 30 * 24 * time.Hour}}.Apply(e)
		e.ReceivedAt = now
	}
	mustInsert(t, s, evs...)
	if err := s.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	return from, to
}

// TestRollupsMatchRawReads asks every aggregate the same questions twice,
// once as the store plans it (rollups for whole buckets, raw events for
// the edges and for what expires today) and once from raw events only,
// and wants identical answers.
func TestRollupsMatchRawReads(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		from, to := seedRollupData(t, s)
		// Unaligned edges, as dashboards send them.
		lo, hi := from.Add(3*time.Hour+17*time.Minute+12345*time.Millisecond), to.Add(-5*time.Hour-3*time.Minute-789*time.Millisecond)
		filters := map[string]store.Filter{
			"all":       {},
			"tenant":    {Tenant: "default"},
			"actions":   {Tenant: "default", Actions: []string{"login", "login_failed"}},
			"users":     {Users: []string{"akadmin", "admin@corp.example"}},
			"apps":      {Apps: []string{"authentik.events.signals"}},
			"countries": {Tenant: "default", Countries: []string{"de", "GB"}},
			"search":    {Search: "firefox"},
			"range":     {Tenant: "default", From: lo.Add(time.Hour), To: hi.Add(-30 * time.Minute)},
		}
		both := func(name string, fn func() (any, error)) {
			t.Helper()
			store.ForceRaw(s, false)
			planned, err := fn()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			store.ForceRaw(s, true)
			raw, err := fn()
			store.ForceRaw(s, false)
			if err != nil {
				t.Fatalf("%s (raw): %v", name, err)
			}
			if !reflect.DeepEqual(planned, raw) {
				t.Errorf("%s: rollups and raw events disagree:\nplanned %v\nraw     %v", name, planned, raw)
			}
			if v := reflect.ValueOf(raw); v.Kind() == reflect.Slice && v.Len() == 0 && name != "" {
				t.Logf("%s: empty answer", name)
			}
		}
		steps := []time.Duration{time.Second * 30, time.Minute, 7 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}
		dims := []store.Dimension{store.DimNone, store.DimAction, store.DimUser, store.DimApp, store.DimCountry, store.DimASN}
		for fname, f := range filters {
			for _, step := range steps {
				for _, d := range dims {
					if step < time.Minute && d != store.DimNone {
						continue // raw either way; once is enough
					}
					tlo, thi := lo, hi
					if step < time.Hour {
						tlo, thi = hi.Add(-6*time.Hour), hi // stay under MaxBuckets
					}
					both(fmt.Sprintf("timeseries %s by %q step %s", fname, d, step), func() (any, error) {
						return s.TimeSeries(ctx, f, d, step, tlo, thi)
					})
				}
			}
			ranged := f
			if ranged.From.IsZero() {
				ranged.From, ranged.To = lo, hi
			}
			for _, g := range []store.Filter{f, ranged} {
				both("geopoints "+fname, func() (any, error) { return s.GeoPoints(ctx, g, 0) })
				for _, d := range dims {
					both(fmt.Sprintf("topgroups %s by %q", fname, d), func() (any, error) { return s.TopGroups(ctx, g, d, 0) })
				}
			}
		}
		for _, tenant := range []string{"", "default", "other"} {
			for _, d := range dims[1:] {
				for _, prefix := range []string{"", "a", "LOG"} {
					both(fmt.Sprintf("values %q %s %q", tenant, d, prefix), func() (any, error) { return s.Values(ctx, tenant, d, prefix, 0) })
				}
			}
		}
		// The answers are not vacuous: the rollups hold the events.
		ss, err := s.TimeSeries(ctx, store.Filter{}, store.DimNone, 24*time.Hour, from, to)
		if err != nil || len(ss) != 1 || ss[0].Total() < 3500 {
			t.Fatalf("daily totals: %v %v", ss, err)
		}
	})
}

// TestRetentionWithinADay: the parts of an expiry day are dropped whole
// once the day is over, but ApplyRetention removes the rows of a day that
// has already expired while the rest of the day stays, and the rollups
// keep agreeing with the raw rows throughout.
func TestRetentionWithinADay(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		now := time.Now().UTC()
		day := now.Truncate(24 * time.Hour)
		if now.Sub(day) < 2*time.Second || day.Add(24*time.Hour).Sub(now) < time.Minute {
			t.Skip("too close to midnight UTC to put expired and live rows in one expiry day")
		}
		gone := mkEvent("login", "alice", now.Add(-time.Hour))
		gone.Expires = now.Add(-time.Second).Truncate(time.Second)
		if gone.Expires.Before(day) {
			gone.Expires = day
		}
		stays := mkEvent("login", "bob", now.Add(-time.Hour))
		stays.Expires = day.Add(24*time.Hour - time.Second)
		year := mkEvent("logout", "bob", now.Add(-time.Hour))
		mustInsert(t, s, gone, stays, year)
		time.Sleep(time.Until(gone.Expires.Add(1100 * time.Millisecond)))
		if err := s.ApplyRetention(ctx); err != nil {
			t.Fatal(err)
		}
		evs, err := s.Events(ctx, store.Filter{}, 10)
		if err != nil || len(evs) != 2 {
			t.Fatalf("%d events after retention, want 2: %v", len(evs), err)
		}
		for _, e := range evs {
			if e.ID == gone.ID {
				t.Fatalf("the expired event is still there")
			}
		}
		for _, force := range []bool{false, true} {
			store.ForceRaw(s, force)
			gs, err := s.TopGroups(ctx, store.Filter{}, store.DimAction, 10)
			if err != nil || len(gs) != 2 || fmt.Sprintf("%s %d %d", gs[0].Name, gs[0].Count, gs[1].Count) != "login 1 1" {
				t.Fatalf("forceRaw=%v: top groups %+v %v", force, gs, err)
			}
		}
		store.ForceRaw(s, false)
	})
}

// TestMigrationBackfillsRollups: a database from before the rollups (v2)
// keeps its events through the upgrade, and the rollups it gains count
// them: reads through the rollups equal reads of the raw rows, for the
// old events and for the ones inserted after the upgrade.
func TestMigrationBackfillsRollups(t *testing.T) {
	eng := storetest.EmbeddedEngine(t)
	opts := store.Options{Database: storetest.DBName(t)}
	v2 := openAt(t, opts, 2)
	to := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	from := to.Add(-48 * time.Hour)
	prep := func(evs []event.Event) []event.Event {
		for i := range evs {
			event.Normalize(&evs[i], to)
			event.Retention{}.Apply(&evs[i])
			evs[i].ReceivedAt = to
		}
		return evs
	}
	mustInsert(t, v2, prep(demo.Generate(11, 1500, from, to))...)
	s, err := store.Open(ctx, eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, prep(demo.Generate(12, 500, from, to))...)
	check := func(name string, fn func() (any, error)) {
		t.Helper()
		planned, err := fn()
		if err != nil {
			t.Fatal(err)
		}
		store.ForceRaw(s, true)
		raw, err := fn()
		store.ForceRaw(s, false)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(planned, raw) {
			t.Errorf("%s after the migration: rollups %v, raw %v", name, planned, raw)
		}
	}
	check("daily totals", func() (any, error) {
		return s.TimeSeries(ctx, store.Filter{}, store.DimAction, 24*time.Hour, from, to)
	})
	check("hourly totals", func() (any, error) {
		return s.TimeSeries(ctx, store.Filter{}, store.DimNone, time.Hour, from, to)
	})
	check("places", func() (any, error) { return s.GeoPoints(ctx, store.Filter{}, 0) })
	check("users", func() (any, error) { return s.TopGroups(ctx, store.Filter{}, store.DimUser, 0) })
	ss, err := s.TimeSeries(ctx, store.Filter{}, store.DimNone, 24*time.Hour, from, to)
	if err != nil || len(ss) != 1 || ss[0].Total() != 2000 {
		t.Fatalf("%v %v: want 2000 events counted", ss, err)
	}
}

// TestExpiryFloor: aggregates leave out their read of the events expiring
// by today while no stored event can, take it up again as soon as one is
// inserted, and a store opened later learns it from the parts on disk.
func TestExpiryFloor(t *testing.T) {
	db := storetest.DBName(t)
	s := storetest.Embedded(t, store.Options{Database: db})
	now := time.Now().UTC()
	evs := demoDays(11, 3000, 3, now)
	mustInsert(t, s, evs...)
	if store.MayHoldExpiring(s) {
		t.Fatal("with a year's retention the store still reads what expires today")
	}
	soon := mkEvent("login", "leaving", now.Add(-50*time.Hour))
	soon.Expires = now.Add(time.Hour).Truncate(time.Second)
	mustInsert(t, s, soon)
	if !store.MayHoldExpiring(s) {
		t.Fatal("an event expiring within the hour does not make the store read what expires today")
	}

	reopened := storetest.Embedded(t, store.Options{Database: db})
	if !store.MayHoldExpiring(reopened) {
		t.Fatal("a store opened later does not see the event expiring within the hour")
	}
	from, to := now.Add(-72*time.Hour).Truncate(24*time.Hour), now.Truncate(time.Hour)
	count := func() int64 {
		t.Helper()
		ss, err := reopened.TimeSeries(ctx, store.Filter{Tenant: "default"}, store.DimNone, 24*time.Hour, from, to)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, s := range ss {
			n += s.Total()
		}
		return n
	}
	viaRollups := count()
	store.ForceRaw(reopened, true)
	if raw := count(); viaRollups != raw {
		t.Fatalf("through the rollups %d events, raw %d", viaRollups, raw)
	}
}
