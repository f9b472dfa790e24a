package store

import (
	"context"
	"fmt"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
)

// OpenAt opens a store migrated only up to version, to test migrations.
var OpenAt = openAt

// ForceRaw makes the store's aggregates read raw events only, never the
// rollups, so tests can compare both answers.
func ForceRaw(s *Store, on bool) { s.forceRaw = on }

// InsertRowsOf is the RowBinary or JSONEachRow rows of evs, without the
// duplicate check, for the format benchmark.
func InsertRowsOf(evs []event.Event, format string) []byte {
	var body []byte
	for i := range evs {
		if format == "RowBinary" {
			body, _ = appendRowBinary(body, &evs[i], true)
		} else {
			body = appendRow(body, &evs[i])
		}
	}
	return body
}

// InsertionOf is the event insert of rows.
func InsertionOf(s *Store, rows []byte) Insertion { return s.insertion(rows) }

// HotOff turns a store's hot tier off, so that tests can compare its
// answers with the engine's.
func HotOff(s *Store) func() {
	h := s.hot
	s.hot = nil
	return func() { s.hot = h }
}

// HotHeld is how many events the hot tier holds.
func HotHeld(s *Store) int {
	if s.hot == nil {
		return 0
	}
	s.hot.mu.RLock()
	defer s.hot.mu.RUnlock()
	return len(s.hot.evs)
}

// HotNewest is the hot tier's own answer to Events, and whether it gave one.
func HotNewest(s *Store, f Filter, limit int) ([]event.Event, bool) {
	return s.hot.newest(f, limit, time.Now())
}

// SearchCond is the engine's condition for a text search.
func SearchCond(term string) string { return searchCond(term) }

// DeferSearch makes a store opened at an older version build the search
// index as one at that version did (OpenAt leaves it off).
func DeferSearch(s *Store) { s.deferSearch = true }

// MayHoldExpiring tells whether s reads the events expiring by today raw.
func MayHoldExpiring(s *Store) bool { return s.mayHoldExpiring(time.Now()) }

// StoredContext is the context of one event as the events table holds
// it, and its context_lifted.
func StoredContext(s *Store, tenant, id string) (string, uint16, error) {
	type row struct {
		ctx    string
		lifted uint16
	}
	rows, err := queryRows(context.Background(), s.eng, "stored context",
		"SELECT context, context_lifted FROM "+s.l.table("events")+" WHERE tenant = "+quote(tenant)+" AND id = "+quote(id),
		func(r Rows, v *row) error { return r.Scan(&v.ctx, &v.lifted) })
	if err != nil || len(rows) != 1 {
		return "", 0, fmt.Errorf("stored context of %s: %d rows, %v", id, len(rows), err)
	}
	return rows[0].ctx, rows[0].lifted, nil
}

// Where is the WHERE clause (with its leading space) of reads with f.
func Where(f Filter) (string, error) { return f.where() }

// MigrationStatements are every migration's statements for a layout.
func MigrationStatements(db, cluster string) []string {
	l := layout{db: db, cluster: cluster}
	var s []string
	for _, m := range migrations {
		s = append(s, m.stmts(l)...)
	}
	return s
}

// Quote is a string literal of s.
func Quote(s string) string { return quote(s) }
