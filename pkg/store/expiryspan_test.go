package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// sqlLog keeps the statements a traced engine runs.
type sqlLog struct {
	mu   sync.Mutex
	stmt []string
}

func (l *sqlLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *sqlLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *sqlLog) WithGroup(string) slog.Handler            { return l }
func (l *sqlLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sql" {
			l.mu.Lock()
			l.stmt = append(l.stmt, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// since is what ran from mark on.
func (l *sqlLog) since(mark int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.stmt[mark:]...)
}

func (l *sqlLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.stmt)
}

// TestGetNamesExpiryDays: a lookup by a UUIDv7 id reads only the expiry
// days an event of the id's time can have, by what the store knows of
// expires - time: from the daily rollup when it opens, and from its own
// inserts after. An event stored by another writer, outside that span,
// is still found, by the read after.
func TestGetNamesExpiryDays(t *testing.T) {
	eng := storetest.EmbeddedEngine(t)
	db := storetest.DBName(t)
	other := storetest.Embedded(t, store.Options{Database: db, HotBytes: -1})
	now := time.Now().UTC().Truncate(time.Millisecond)
	year := 365 * 24 * time.Hour
	var days []event.Event // ten expiry days, a year after their events
	for d := range 10 {
		for i := range 3 {
			days = append(days, mkEvent("login", "alice", now.Add(-time.Duration(d)*24*time.Hour-time.Duration(i)*time.Minute)))
		}
	}
	long := mkEvent("login", "bob", now.Add(-12*24*time.Hour))
	long.Expires = long.Time.Add(3 * year)
	mustInsert(t, other, append(days, long)...)

	log := &sqlLog{}
	s, err := store.Open(ctx, store.Traced(eng, slog.New(log)), store.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	// get looks e up (tenant "" leaves the hot tier out) and returns the
	// statements it ran.
	get := func(e event.Event) []string {
		t.Helper()
		mark := log.mark()
		got, err := s.Get(ctx, "", e.ID)
		if err != nil || got == nil || got.ID != e.ID || !got.Expires.Equal(e.Expires.Truncate(time.Second)) {
			t.Fatalf("get %s: %+v, %v", e.ID, got, err)
		}
		return log.since(mark)
	}

	// Known at open, from the rollup: one read, of the parts of the few
	// expiry days around a year (or three) after the event.
	for _, e := range []event.Event{days[13], long} {
		stmts := get(e)
		if len(stmts) != 1 || !strings.Contains(stmts[0], "expires BETWEEN") {
			t.Fatalf("get %s ran %d statements, want one naming expiry days: %q", e.ID, len(stmts), stmts)
		}
		left, all := planned(t, eng, stmts[0], "Partition", "Parts")
		if left < 1 || left > 4 || all < 11 {
			t.Errorf("get %s reads %d of %d parts, want 1 to 4", e.ID, left, all)
		}
	}

	// Another writer's event, expiring later than any the store knows of,
	// takes the second read.
	later := mkEvent("login", "carol", now.Add(-20*24*time.Hour))
	later.Expires = later.Time.Add(5 * year)
	mustInsert(t, other, later)
	if stmts := get(later); len(stmts) != 2 || strings.Contains(stmts[1], "expires BETWEEN") {
		t.Errorf("get of another writer's event ran %q, want a second read without expiry days", stmts)
	}

	// The store's own insert widens the span before its rows land. The
	// event is older than the hot tier covers, so the engine answers.
	own := mkEvent("login", "dave", now.Add(-30*24*time.Hour))
	own.Expires = own.Time.Add(7 * year)
	mustInsert(t, s, own)
	if stmts := get(own); len(stmts) != 1 {
		t.Errorf("get of the store's own event ran %q, want one read", stmts)
	}
	// A short retention widens it downwards.
	short := mkEvent("login", "erin", now.Add(-31*24*time.Hour))
	short.Expires = now.Add(time.Hour)
	mustInsert(t, s, short)
	if stmts := get(short); len(stmts) != 1 {
		t.Errorf("get of a short-lived event ran %q, want one read", stmts)
	}
}

// TestReadsNameExpiryDays: reads of a time range name the expiry days its
// events can have, and answer as a store that names none does, over
// events kept 30 days, a year and (from the store's own insert, after it
// opened) seven years.
func TestReadsNameExpiryDays(t *testing.T) {
	eng := storetest.EmbeddedEngine(t)
	db := storetest.DBName(t)
	plain := storetest.Embedded(t, store.Options{Database: db, HotBytes: -1}) // names none
	from, to := seedRollupData(t, plain)
	log := &sqlLog{}
	s, err := store.Open(ctx, store.Traced(eng, slog.New(log)), store.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	lo, hi := from.Add(3*time.Hour+17*time.Minute), to.Add(-5*time.Hour-789*time.Millisecond)
	filters := map[string]store.Filter{
		"all":     {},
		"range":   {Tenant: "default", From: lo, To: hi},
		"day":     {From: hi.Add(-24 * time.Hour), To: hi},
		"actions": {Tenant: "default", Actions: []string{"login", "login_failed"}, From: lo, To: hi},
		"search":  {Search: "firefox", From: lo, To: hi},
	}
	compare := func() {
		t.Helper()
		mark := log.mark()
		same := func(name string, fn func(*store.Store) (any, error)) {
			t.Helper()
			got, err := fn(s)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want, err := fn(plain)
			if err != nil {
				t.Fatalf("%s (naming none): %v", name, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: naming expiry days changes the answer:\n got  %v\n want %v", name, got, want)
			}
		}
		for name, f := range filters {
			for _, limit := range []int{10, 5000} {
				same(fmt.Sprintf("events %s %d", name, limit), func(st *store.Store) (any, error) { return st.Events(ctx, f, limit) })
			}
			same("geopoints "+name, func(st *store.Store) (any, error) { return st.GeoPoints(ctx, f, 0) })
			same("top users "+name, func(st *store.Store) (any, error) { return st.TopGroups(ctx, f, store.DimUser, 0) })
			for _, step := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour} {
				tlo := lo
				if step < time.Hour {
					tlo = hi.Add(-6 * time.Hour)
				}
				same(fmt.Sprintf("series %s %s", name, step), func(st *store.Store) (any, error) {
					return st.TimeSeries(ctx, f, store.DimAction, step, tlo, hi)
				})
			}
		}
		named := 0
		for _, q := range log.since(mark) {
			if strings.Contains(q, "expires BETWEEN") || strings.Contains(q, "expires >=") || strings.Contains(q, "expires <=") {
				named++
			}
		}
		if named < 10 {
			t.Errorf("%d reads named expiry days, want most", named)
		}
	}
	compare()

	// Events kept seven years, stored by this store (older than its hot
	// tier covers, so the engine answers for them too).
	var long []event.Event
	for i := range 200 {
		e := mkEvent("login", fmt.Sprintf("user%d", i%7), lo.Add(time.Duration(i)*17*time.Minute))
		e.Expires = e.Time.Add(7 * 365 * 24 * time.Hour)
		long = append(long, e)
	}
	mustInsert(t, s, long...)
	compare()
}
