package store_test

import (
	"context"
	"fmt"
	"log/slog"
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

// partitionParts reads, from the plan of q, how many parts the partition
// key keeps of how many.
func partitionParts(t *testing.T, eng store.Engine, q string) (left, all int) {
	t.Helper()
	rows, err := eng.Query(ctx, "EXPLAIN indexes = 1 "+q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var in bool
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "Partition":
			in = true
		case in && strings.HasPrefix(line, "Parts: "):
			if _, err := fmt.Sscanf(line, "Parts: %d/%d", &left, &all); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			return left, all
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("the plan of %s prunes no partitions", q)
	return 0, 0
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
		left, all := partitionParts(t, eng, stmts[0])
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
