package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// granules returns how many granules of the events table the search
// index leaves for a search of term to read, of how many.
func granules(t *testing.T, eng store.Engine, db, term string) (left, all int) {
	t.Helper()
	return indexGranules(t, eng, db, "idx_search", " WHERE "+store.SearchCond(term))
}

// indexGranules returns how many granules of the events table the skip
// index named index leaves for a read with the clause where, of how many.
func indexGranules(t *testing.T, eng store.Engine, db, index, where string) (left, all int) {
	t.Helper()
	return planned(t, eng, "SELECT count() FROM `"+db+"`.events"+where, "Name: "+index, "Granules")
}

// planned reads, from the plan of query q, the "kept/of" count named what
// (Parts, Granules) in the index section headed by the line section.
func planned(t *testing.T, eng store.Engine, q, section, what string) (left, all int) {
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
		case line == section || strings.HasPrefix(line, "Name: "):
			in = line == section
		case in && strings.HasPrefix(line, what+": "):
			if _, err := fmt.Sscanf(line, what+": %d/%d", &left, &all); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			return left, all
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("the plan of %s has no %s with %s", q, section, what)
	return 0, 0
}

// demoDays is n demo events over the days before now (up to an hour
// ago), ready to insert as ingest would have them.
func demoDays(seed int64, n, days int, now time.Time) []event.Event {
	evs := demo.Generate(seed, n, now.Add(-time.Duration(days)*24*time.Hour), now.Add(-time.Hour))
	for i := range evs {
		event.Normalize(&evs[i], now)
		event.Retention{}.Apply(&evs[i])
		evs[i].ReceivedAt = now
	}
	return evs
}

// TestSearchIndex: inserts leave the search index out, so a search for a
// rare number reads every row; IndexSearch builds it in the partitions that
// have settled, after which the same search finds the same events reading
// a fraction of the rows; a late event makes its partition due again.
func TestSearchIndex(t *testing.T) {
	eng := storetest.EmbeddedEngine(t)
	db := storetest.DBName(t)
	s := storetest.Embedded(t, store.Options{Database: db, HotBytes: -1})

	now := time.Now().UTC()
	const n = 60_000
	evs := demoDays(3, n, 6, now)
	evs[n/3].Context = json.RawMessage(`{"note":"refund ref #4242-77 approved"}`)
	evs[2*n/3].Object.Name = "REF #4242-77"
	for i := 0; i < n; i += 20_000 {
		mustInsert(t, s, evs[i:i+20_000]...)
	}
	want := []string{evs[2*n/3].ID, evs[n/3].ID}
	const term = "ref #4242-77"
	search := func() (ids []string) {
		t.Helper()
		got, err := s.Events(ctx, store.Filter{Search: term}, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		return ids
	}

	if ids := search(); !equalStrings(ids, want) {
		t.Fatalf("before the index: %v, want %v", ids, want)
	}
	if left, all := granules(t, eng, db, term); left != all || all < n/8192 {
		t.Fatalf("before the index %d of %d granules are left to read, want all: the inserts built it", left, all)
	}
	if got, err := s.IndexSearch(ctx, time.Hour); err != nil || got != 0 {
		t.Fatalf("partitions first seen a moment ago were indexed: %d, %v", got, err)
	}
	built, err := s.IndexSearch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if built < 6 {
		t.Fatalf("built the index in %d partitions, want the 6 days' at least", built)
	}
	if again, err := s.IndexSearch(ctx, 0); err != nil || again != 0 {
		t.Fatalf("a second round built %d partitions (%v), want none", again, err)
	}
	if ids := search(); !equalStrings(ids, want) {
		t.Fatalf("with the index: %v, want %v", ids, want)
	}
	left, all := granules(t, eng, db, term)
	if left > all/3 {
		t.Fatalf("with the index %d of %d granules are left to read", left, all)
	}
	t.Logf("granules left to read with the index: %d of %d", left, all)

	late := evs[10]
	late.ID = event.NewID(late.Time)
	mustInsert(t, s, late)
	if got, err := s.IndexSearch(ctx, 0); err != nil || got != 1 {
		t.Fatalf("after a late event %d partitions were due (%v), want its one", got, err)
	}

	// A merge writes its part without the index; the partition is due
	// again, and once built the search prunes as before.
	if err := eng.Exec(ctx, "OPTIMIZE TABLE `"+db+"`.events FINAL"); err != nil {
		t.Fatal(err)
	}
	if left, all := granules(t, eng, db, term); left != all {
		t.Fatalf("after a merge %d of %d granules are left to read, want all: the merge built the index", left, all)
	}
	if got, err := s.IndexSearch(ctx, 0); err != nil || got < 6 {
		t.Fatalf("after merging every partition %d were due (%v), want all", got, err)
	}
	if left, all := granules(t, eng, db, term); left > all/3 {
		t.Fatalf("rebuilt after the merge, the index leaves %d of %d granules to read", left, all)
	}
	if ids := search(); !equalStrings(ids, want) {
		t.Fatalf("after the merge: %v, want %v", ids, want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRunSearchIndex: the background builder indexes settled partitions
// on its own and stops with its context.
func TestRunSearchIndex(t *testing.T) {
	eng := storetest.EmbeddedEngine(t)
	db := storetest.DBName(t)
	s := storetest.Embedded(t, store.Options{Database: db, HotBytes: -1})
	mustInsert(t, s, mkEvent("login", "alice", time.Now().UTC().Add(-48*time.Hour)))
	bg, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.RunSearchIndex(bg, 20*time.Millisecond, 0, func(err error) { t.Errorf("search index: %v", err) })
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		rows, err := eng.Query(ctx, "SELECT toUInt64(count()) FROM `"+db+"`.search_indexed")
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		if rows.Next() {
			err = rows.Scan(&n)
		}
		rows.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background builder indexed nothing in a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the background builder did not stop with its context")
	}
}

// TestSearchIndexMigration: a database whose version 6 index was built
// (over the text as it is) gets the index over the text with letters as x at
// version 7, built again in every partition, after which a search prunes.
func TestSearchIndexMigration(t *testing.T) {
	eng := storetest.EmbeddedEngine(t)
	db := storetest.DBName(t)
	opts := store.Options{Database: db, HotBytes: -1}
	old := openAt(t, opts, 6)
	const n = 30_000
	evs := demoDays(5, n, 3, time.Now().UTC())
	evs[n/2].Context = json.RawMessage(`{"note":"ticket #90817 closed"}`)
	mustInsert(t, old, evs...)
	store.DeferSearch(old)
	built, err := old.IndexSearch(ctx, 0)
	if err != nil || built < 3 {
		t.Fatalf("version 6 built its index in %d partitions (%v), want the 3 days' at least", built, err)
	}

	s, err := store.Open(ctx, eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	var expr string
	rows, err := eng.Query(ctx, "SELECT toString(expr) FROM system.data_skipping_indices WHERE database = '"+db+"' AND table = 'events' AND name = 'idx_search'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(&expr); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	if !strings.HasPrefix(expr, "translate(") {
		t.Fatalf("idx_search after the migration is over %q, want the text with letters as x", expr)
	}
	const term = "ticket #90817"
	if left, all := granules(t, eng, db, term); left != all {
		t.Fatalf("before the new index is built %d of %d granules are left, want all", left, all)
	}
	rebuilt, err := s.IndexSearch(ctx, 0)
	if err != nil || rebuilt != built {
		t.Fatalf("after the migration %d partitions were built (%v), want all %d again", rebuilt, err, built)
	}
	if left, all := granules(t, eng, db, term); left > all/3 {
		t.Fatalf("the new index leaves %d of %d granules to read", left, all)
	}
	got, err := s.Events(ctx, store.Filter{Search: term}, 10)
	if err != nil || len(got) != 1 || got[0].ID != evs[n/2].ID {
		t.Fatalf("search after the migration: %v, %v", got, err)
	}
}
