package store_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// TestSearchPageOverManyBlocks reads a page of a search from the engine
// over more rows than one block holds. ClickHouse 26's top-K dynamic
// filter failed such reads ("Type mismatch … Expected: DateTime64(3,
// 'UTC'). Got: UUID"): store reads turn it off where the engine has it.
func TestSearchPageOverManyBlocks(t *testing.T) {
	s := storetest.Embedded(t, store.Options{HotBytes: -1})
	const n = 200_000
	evs := demoDays(3, n, 2, time.Now().UTC())
	var want []string
	for i := 0; i < n; i += 97 {
		evs[i].Context = json.RawMessage(`{"note":"needle in the stack"}`)
		want = append(want, evs[i].ID)
	}
	mustInsert(t, s, evs...)
	got, err := s.Events(ctx, store.Filter{Search: "needle"}, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 500 {
		t.Fatalf("%d events, want 500", len(got))
	}
	if !slices.IsSortedFunc(got, func(a, b event.Event) int { return b.Time.Compare(a.Time) }) {
		t.Fatal("the page is not newest first")
	}
	for _, e := range got {
		if !slices.Contains(want, e.ID) {
			t.Fatalf("event %s does not hold the term", e.ID)
		}
	}
}
