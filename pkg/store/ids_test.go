package store_test

import (
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
)

// TestIDTimeDoesNotHaveToMatchEventTime: a UUIDv7 id's own time narrows
// lookups by id, but the event's time column may say something else (a
// sender that mints ids when it sends, not when things happened). Such an
// event is still found by id, and still recognised when re-sent, even
// with yet another time. The hot tier is off: it would answer the lookups
// from memory.
func TestIDTimeDoesNotHaveToMatchEventTime(t *testing.T) {
	forEachEngineWith(t, store.Options{HotBytes: -1}, func(t *testing.T, s *store.Store) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		e := mkEvent("login", "alice", now.Add(-20*24*time.Hour))
		e.ID = event.NewID(now) // minted at send time, 20 days after the event
		// Other events around both times, so the lookups have granules to skip.
		var filler []event.Event
		for i := range 2000 {
			filler = append(filler, mkEvent("logout", "bob", now.Add(-time.Duration(i)*15*time.Minute)))
		}
		mustInsert(t, s, append(filler, e)...)

		got, err := s.Get(ctx, e.Tenant, e.ID)
		if err != nil || got == nil || !got.Time.Equal(e.Time) {
			t.Fatalf("get by a v7 id whose time is not the event's: %+v %v", got, err)
		}
		again := e
		again.Time = now.Add(-3 * time.Hour)
		if res := mustInsert(t, s, again); res.Inserted != 0 || !res.Duplicate[0] {
			t.Fatalf("a re-sent id with another time was stored again: %+v", res)
		}
		// An id that is not v7 goes by value.
		v4 := mkEvent("login", "carol", now)
		v4.ID = "f52f9eb9-dc2a-4f1e-afea-ad5af90bf680"
		mustInsert(t, s, v4)
		if res := mustInsert(t, s, v4); res.Inserted != 0 {
			t.Fatalf("a re-sent v4 id was stored again")
		}
		if got, err := s.Get(ctx, "", v4.ID); err != nil || got == nil {
			t.Fatalf("get by a v4 id in any tenant: %v %v", got, err)
		}
		upper := v4
		upper.ID = "F52F9EB9-DC2A-4F1E-AFEA-AD5AF90BF680"
		if res := mustInsert(t, s, upper); res.Inserted != 0 {
			t.Fatalf("the same id in upper case was stored again")
		}
		st, err := s.Stats(ctx)
		if err != nil || st.Events != 2002 {
			t.Fatalf("%d events stored, want 2002: %v", st.Events, err)
		}
	})
}

// TestNewestFirstAcrossWindows: reads go back in growing time windows; a
// page that spans several of them is still the newest events in order,
// with no event twice or missing at a window's edge.
func TestNewestFirstAcrossWindows(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		var evs []event.Event
		for _, ago := range []time.Duration{
			0, 59 * time.Minute, time.Hour, time.Hour + time.Millisecond, 7 * time.Hour, 9 * time.Hour,
			3 * 24 * time.Hour, 20 * 24 * time.Hour, 300 * 24 * time.Hour, 900 * 24 * time.Hour,
		} {
			e := mkEvent("login", "alice", now.Add(-ago))
			e.Expires = now.Add(24 * time.Hour).Truncate(time.Second) // old, but kept
			evs = append(evs, e)
		}
		evs = append(evs, mkEvent("login", "future", now.Add(time.Hour))) // a sender's clock ahead
		mustInsert(t, s, evs...)
		for _, tc := range []struct {
			f     store.Filter
			limit int
			want  int
		}{
			{store.Filter{}, 100, len(evs)},
			{store.Filter{}, 5, 5},
			{store.Filter{From: now.Add(-30 * 24 * time.Hour), To: now.Add(time.Millisecond)}, 100, 8},
			{store.Filter{From: now.Add(-30 * 24 * time.Hour), To: now.Add(time.Millisecond)}, 4, 4},
			{store.Filter{To: now.Add(-time.Hour)}, 100, 7},
		} {
			got, err := s.Events(ctx, tc.f, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%+v limit %d: %d events, want %d", tc.f, tc.limit, len(got), tc.want)
			}
			seen := map[string]bool{}
			for i, e := range got {
				if seen[e.ID] {
					t.Fatalf("event %s twice", e.ID)
				}
				seen[e.ID] = true
				if i > 0 && e.Time.After(got[i-1].Time) {
					t.Fatalf("%+v: event %d (%s) is newer than event %d (%s)", tc.f, i, e.Time, i-1, got[i-1].Time)
				}
				if (!tc.f.From.IsZero() && e.Time.Before(tc.f.From)) || (!tc.f.To.IsZero() && !e.Time.Before(tc.f.To)) {
					t.Fatalf("%+v: event at %s is outside the range", tc.f, e.Time)
				}
			}
		}
		// The newest overall comes first even when dated in the future.
		got, _ := s.Events(ctx, store.Filter{}, 1)
		if len(got) != 1 || got[0].User.Username != "future" {
			t.Errorf("newest event: %+v", got)
		}
	})
}
