package store_test

import (
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// BenchmarkInsertFormat compares the engine's work for one insert of
// 20,000 demo events as JSONEachRow and as TabSeparated (the duplicate
// check is left out: it is the same for both).
func BenchmarkInsertFormat(b *testing.B) {
	const n = 20_000
	now := time.Now().UTC()
	evs := demo.Generate(1, n, now.Add(-time.Hour), now)
	for i := range evs {
		event.Normalize(&evs[i], now)
		event.Retention{}.Apply(&evs[i])
		evs[i].ReceivedAt = now
	}
	for _, format := range []string{"JSONEachRow", "TabSeparated"} {
		b.Run(format, func(b *testing.B) {
			s := storetest.Embedded(b, store.Options{})
			q := store.InsertSQLOf(s, evs, format)
			b.SetBytes(int64(len(q)))
			b.ResetTimer()
			for b.Loop() {
				if err := storetest.EmbeddedEngine(b).Exec(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
