package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// BenchmarkInsertFormat compares the engine's work for one insert of
// 20,000 demo events: as JSONEachRow inline in the statement, as RowBinary
// read by the client side (INSERT … FROM INFILE), and as RowBinary read by
// the engine (the file table function, as Insert does). The duplicate
// check is left out, it is the same for all.
func BenchmarkInsertFormat(b *testing.B) {
	const n = 20_000
	now := time.Now().UTC()
	evs := demo.Generate(1, n, now.Add(-36*time.Hour), now)
	for i := range evs {
		event.Normalize(&evs[i], now)
		event.Retention{}.Apply(&evs[i])
		evs[i].ReceivedAt = now
	}
	for _, way := range []string{"JSONEachRow", "RowBinaryInfile", "RowBinaryFile"} {
		b.Run(way, func(b *testing.B) {
			s := storetest.Embedded(b, store.Options{HotBytes: -1})
			eng := storetest.EmbeddedEngine(b)
			format := strings.TrimSuffix(strings.TrimSuffix(way, "Infile"), "File")
			in := store.InsertionOf(s, store.InsertRowsOf(evs, format))
			staged := filepath.Join(b.TempDir(), "rows")
			if err := os.WriteFile(staged, in.Rows, 0o600); err != nil {
				b.Fatal(err)
			}
			head := "INSERT INTO " + in.Table + " (" + in.Columns + ") "
			b.SetBytes(int64(len(in.Rows)))
			b.ResetTimer()
			for b.Loop() {
				var err error
				switch way {
				case "JSONEachRow":
					err = eng.Exec(ctx, head+"SETTINGS "+in.Settings+" FORMAT JSONEachRow\n"+string(in.Rows))
				case "RowBinaryInfile":
					err = eng.Exec(ctx, head+"FROM INFILE '"+staged+"' SETTINGS "+in.Settings+" FORMAT RowBinary")
				default:
					err = eng.Insert(ctx, in)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
