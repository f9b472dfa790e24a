package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// TestIDIndexHoldsOnlyOtherIDs: the bloom filter over ids leaves out the
// UUIDv7 ids whose time is their event's (the sorting key finds those),
// so a store of them pays almost nothing for it. It still narrows a
// lookup of any other id to the granules holding it: after the
// migration has built it in parts written before, a UUIDv4 lookup reads
// one granule of many. Every kind of id is found, duplicates are still
// recognised, and an event at 1970-01-01 with a v4 id (which the
// engine's id time cannot tell from a v7 id of that instant) is found
// too.
func TestIDIndexHoldsOnlyOtherIDs(t *testing.T) {
	eng := storetest.EmbeddedEngine(t)
	db := storetest.DBName(t)
	opts := store.Options{Database: db, HotBytes: -1}
	v8 := openAt(t, opts, 8)
	now := time.Now().UTC().Truncate(time.Millisecond)
	// Four parts of v4 ids, each of several granules' worth of rows.
	var v4s []event.Event
	for p := range 4 {
		batch := make([]event.Event, 9000)
		for i := range batch {
			e := mkEvent("login", "alice", now.Add(-time.Duration(p*9000+i)*time.Second))
			e.ID = fmt.Sprintf("%08x-0000-4000-8000-%012x", p, i)
			batch[i] = e
		}
		mustInsert(t, v8, batch...)
		v4s = append(v4s, batch...)
	}
	s, err := store.Open(ctx, eng, opts) // migration 9 builds idx_id_other
	if err != nil {
		t.Fatal(err)
	}
	waitMutations(t, eng, db)

	target := v4s[20000]
	where, err := store.Where(store.Filter{IDs: []string{target.ID}})
	if err != nil {
		t.Fatal(err)
	}
	left, all := indexGranules(t, eng, db, "idx_id_other", where)
	if left != 1 || all < 4 {
		t.Errorf("a v4 lookup reads %d of %d granules, want 1", left, all)
	}

	epoch := mkEvent("login", "carol", time.Unix(0, 0).UTC())
	epoch.ID = "f52f9eb9-dc2a-4f1e-afea-ad5af90bf680"
	epoch.Expires = now.Add(24 * time.Hour)
	elsewhere := mkEvent("login", "dave", now.Add(-48*time.Hour))
	elsewhere.ID = event.NewID(now) // a v7 id minted two days after its event
	native := mkEvent("login", "erin", now)
	mustInsert(t, s, epoch, elsewhere, native)
	for _, e := range []event.Event{target, epoch, elsewhere, native} {
		got, err := s.Get(ctx, "", e.ID)
		if err != nil || got == nil || got.ID != e.ID || !got.Time.Equal(e.Time) {
			t.Errorf("get %s: %+v %v", e.ID, got, err)
		}
		evs, err := s.Events(ctx, store.Filter{IDs: []string{e.ID}}, 10)
		if err != nil || len(evs) != 1 || evs[0].ID != e.ID {
			t.Errorf("events with id %s: %d %v", e.ID, len(evs), err)
		}
		if res := mustInsert(t, s, e); res.Inserted != 0 {
			t.Errorf("%s sent again was stored again", e.ID)
		}
	}

	// A store of native ids: the filter is next to nothing.
	db2 := storetest.DBName(t)
	s2 := storetest.Embedded(t, store.Options{Database: db2, HotBytes: -1})
	native2 := make([]event.Event, 20000)
	for i := range native2 {
		native2[i] = mkEvent("login", "frank", now.Add(-time.Duration(i)*time.Second))
	}
	mustInsert(t, s2, native2...)
	size := queryUint(t, eng, "SELECT toUInt64(sum(data_compressed_bytes)) FROM system.data_skipping_indices WHERE database = '"+db2+"' AND table = 'events' AND name = 'idx_id_other'")
	if size == 0 || size > 2000 {
		t.Errorf("the id filter over 20,000 native ids takes %d bytes, want a few hundred (a filter of every id: about 36,000)", size)
	}
}

// waitMutations waits for the engine's mutations on db (index builds) to
// finish.
func waitMutations(t *testing.T, eng store.Engine, db string) {
	t.Helper()
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(50 * time.Millisecond) {
		n := queryUint(t, eng, "SELECT toUInt64(count()) FROM system.mutations WHERE database = '"+db+"' AND NOT is_done")
		if n == 0 {
			return
		}
	}
	t.Fatal("mutations still running after a minute")
}

// queryUint runs q, which returns one UInt64, and returns it.
func queryUint(t *testing.T, eng store.Engine, q string) uint64 {
	t.Helper()
	rows, err := eng.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n uint64
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
