package store_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// TestTraceLogsStatements: at trace level every statement is logged with
// its duration and rows read; at debug nothing is.
func TestTraceLogsStatements(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  bool
	}{{store.LevelTrace, true}, {slog.LevelDebug, false}} {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
		eng := store.Traced(storetest.EmbeddedEngine(t), log)
		rows, err := eng.Query(ctx, "SELECT number FROM system.numbers LIMIT 5")
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		out := buf.String()
		got := strings.Contains(out, `"sql":"SELECT number FROM system.numbers LIMIT 5"`) &&
			strings.Contains(out, `"duration"`) && strings.Contains(out, `"rows_read":5`)
		if got != tc.want {
			t.Errorf("level %v: logged=%v, want %v: %s", tc.level, got, tc.want, out)
		}
	}
}
