package store_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// TestSearchPastTheData: when a range ends after the newest events (a
// tenant gone quiet two days ago, a month up to now), a search's empty
// windows grow as a plain read's instead of passing for a rare term's,
// so a common term's page decompresses far less than the whole range,
// and the answer is the same.
func TestSearchPastTheData(t *testing.T) {
	eng := storetest.EmbeddedEngine(t)
	db := storetest.DBName(t)
	plain := storetest.Embedded(t, store.Options{Database: db, HotBytes: -1})
	now := time.Now().UTC().Truncate(time.Millisecond)
	end := now.Add(-48 * time.Hour)
	var evs []event.Event
	for i := range 30000 {
		e := mkEvent("login", "alice", end.Add(-time.Duration(i)*29*time.Second))
		if i%3 == 0 {
			e.Context = json.RawMessage(`{"user_agent":"Mozilla/5.0 Firefox/133.0"}`)
		}
		evs = append(evs, e)
	}
	mustInsert(t, plain, evs...)
	s, err := store.Open(ctx, eng, store.Options{Database: db, HotBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	decompressed := func() uint64 {
		return queryUint(t, eng, "SELECT toUInt64(sum(value)) FROM system.events WHERE event = 'CompressedReadBufferBytes'")
	}
	month := store.Filter{From: now.Add(-30 * 24 * time.Hour), To: now}
	read := func(term string) ([]event.Event, uint64) {
		t.Helper()
		f := month
		f.Search = term
		before := decompressed()
		got, err := s.Events(ctx, f, 100)
		if err != nil {
			t.Fatal(err)
		}
		return got, decompressed() - before
	}
	// A term no event has: the whole range is read, as it must be. (Once:
	// the engine's query condition cache would skip it all the second time.)
	none, whole := read("no such term")
	if len(none) != 0 || whole == 0 {
		t.Fatalf("%d events match a term none has, reading %d bytes", len(none), whole)
	}
	var want []string
	for _, e := range evs { // newest first already
		if strings.Contains(string(e.Context), "Firefox") && len(want) < 100 {
			want = append(want, e.ID)
		}
	}
	got, n := read("firefox")
	ids := make([]string, len(got))
	for i, e := range got {
		ids[i] = e.ID
	}
	if !slices.Equal(ids, want) {
		t.Errorf("got %d events, not the newest 100 matching", len(ids))
	}
	if n > whole/2 {
		t.Errorf("a page of a common term read %d bytes, the whole range %d", n, whole)
	}
}
