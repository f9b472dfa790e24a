package store

import (
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
)

// BenchmarkInsertGoSide is our share of an insert per event: its RowBinary
// row and its copy for the hot tier (the engine's share is in
// BenchmarkInsertFormat).
func BenchmarkInsertGoSide(b *testing.B) {
	now := time.Now().UTC()
	evs := demo.Generate(1, 1000, now.Add(-time.Hour), now)
	ids := make([]string, len(evs))
	for i := range evs {
		event.Normalize(&evs[i], now)
		event.Retention{}.Apply(&evs[i])
		evs[i].ReceivedAt = now
		ids[i] = canonicalID(evs[i].ID)
	}
	var body []byte
	stored := make([]event.Event, len(evs))
	b.ReportAllocs()
	for b.Loop() {
		body = body[:0]
		for i := range evs {
			var w written
			body, w = appendRowBinary(body, &evs[i], true)
			stored[i] = storedForm(&evs[i], ids[i], w)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
