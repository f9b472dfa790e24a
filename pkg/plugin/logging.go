package plugin

import (
	"log/slog"
	"os"

	"github.com/auditlog/auditlog/pkg/metrics"
	"github.com/auditlog/auditlog/pkg/store"
)

// LevelTrace is below debug: it logs every SQL statement.
const LevelTrace = store.LevelTrace

// stderr is the process's stderr as it was at start-up. go-plugin's Serve
// then replaces os.Stderr with a pipe that it forwards only to clients
// that ask for it (SyncStderr), which Grafana does not: a logger opened on
// os.Stderr later, as datasource instances are, logged into the void.
// go-plugin reads the original stderr and hands its lines to Grafana's log.
var stderr = os.Stderr

// newLogger writes JSON lines with hclog's key names to stderr, which is
// where go-plugin picks up a plugin's logs and hands them to Grafana's log.
func newLogger(level string) *slog.Logger {
	lv := map[string]slog.Level{"error": slog.LevelError, "warn": slog.LevelWarn, "info": slog.LevelInfo,
		"debug": slog.LevelDebug, "trace": LevelTrace}[level]
	h := slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lv, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		switch a.Key {
		case slog.TimeKey:
			a.Key = "@timestamp"
		case slog.MessageKey:
			a.Key = "@message"
		case slog.LevelKey:
			a.Key = "@level"
			if l, ok := a.Value.Any().(slog.Level); ok {
				a.Value = slog.StringValue(map[slog.Level]string{LevelTrace: "trace", slog.LevelDebug: "debug",
					slog.LevelInfo: "info", slog.LevelWarn: "warn", slog.LevelError: "error"}[l])
			}
		}
		return a
	}})
	return slog.New(h)
}

func metricsGeoIP(db, result string) {
	metrics.Default().GeoIPLookups.WithLabelValues(db, result).Inc()
}
