package store

import "github.com/auditlog/auditlog/pkg/event"

// OpenAt opens a store migrated only up to version, to test migrations.
var OpenAt = openAt

// ForceRaw makes the store's aggregates read raw events only, never the
// rollups, so tests can compare both answers.
func ForceRaw(s *Store, on bool) { s.forceRaw = on }

// InsertSQLOf is the INSERT statement of evs in format (TabSeparated or
// JSONEachRow), without the duplicate check, for the format benchmark.
func InsertSQLOf(s *Store, evs []event.Event, format string) string {
	var body []byte
	for i := range evs {
		if format == "TabSeparated" {
			body = appendTSV(body, &evs[i])
		} else {
			body = appendRow(body, &evs[i])
		}
	}
	return s.insertSQLFormat(body, format)
}
