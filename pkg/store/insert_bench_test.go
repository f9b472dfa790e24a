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
// 20,000 demo events as JSONEachRow (inline in the statement) and as
// RowBinary (as Insert sends it); the duplicate check is left out, it is
// the same for both.
func BenchmarkInsertFormat(b *testing.B) {
	const n = 20_000
	now := time.Now().UTC()
	evs := demo.Generate(1, n, now.Add(-time.Hour), now)
	for i := range evs {
		event.Normalize(&evs[i], now)
		event.Retention{}.Apply(&evs[i])
		evs[i].ReceivedAt = now
	}
	for _, format := range []string{"JSONEachRow", "RowBinary"} {
		b.Run(format, func(b *testing.B) {
			s := storetest.Embedded(b, store.Options{})
			eng := storetest.EmbeddedEngine(b)
			rows := store.InsertRowsOf(evs, format)
			into, settings := store.InsertInto(s)
			b.SetBytes(int64(len(rows)))
			b.ResetTimer()
			for b.Loop() {
				var err error
				if format == "RowBinary" {
					err = eng.Insert(ctx, into, settings, rows)
				} else {
					err = eng.Exec(ctx, "INSERT INTO "+into+" SETTINGS "+settings+" FORMAT JSONEachRow\n"+string(rows))
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
