package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
)

// sizeFlag is a byte count written like 10MiB, 512KiB, 1MB or 4096.
type sizeFlag int64

func (s *sizeFlag) String() string { return formatSize(int64(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

// sizeUnits: the IEC units and dd's single letters are binary, the SI
// units decimal.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1000,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1000 * 1000,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1000 * 1000 * 1000,
}

func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := sizeUnits[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f <= 0 || f*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size like 10MiB, 512KiB, 1MB or 4096", v)
	}
	// Rounded, not truncated: 8.2MB is 8,200,000 bytes, though 8.2 has no
	// exact binary form (the config editor rounds the same way).
	return int64(math.Round(f * float64(mult))), nil
}

func formatSize(n int64) string {
	switch {
	case n > 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n > 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n > 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// retention builds the policy from --retention and --retention-rule.
func retention(def string, rules []string) (event.Retention, error) {
	r := event.Retention{Rules: map[string]time.Duration{}}
	d, err := event.ParseDuration(def)
	if err != nil {
		return r, fmt.Errorf("--retention: %w", err)
	}
	r.Default = d
	for _, s := range rules {
		action, d, err := event.ParseRule(s)
		if err != nil {
			return r, fmt.Errorf("--retention-rule: %w", err)
		}
		r.Rules[action] = d
	}
	return r, nil
}

// LevelTrace is below debug: per-batch commit details.
const LevelTrace = slog.Level(-8)

var levels = map[string]slog.Level{
	"trace": LevelTrace, "debug": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "error": slog.LevelError,
}

// newLogger builds the process logger from --log-level and --log-format.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	lv, ok := levels[strings.ToLower(level)]
	if !ok {
		return nil, fmt.Errorf("--log-level %q: want error, warn, info, debug or trace", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey {
			if l, ok := a.Value.Any().(slog.Level); ok && l <= LevelTrace {
				a.Value = slog.StringValue("TRACE")
			}
		}
		return a
	}}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// parseSince reads an RFC 3339 time or an age such as 30d.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	if d, err := event.ParseDuration(s); err == nil {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time (2025-01-31T00:00:00Z), a date (2025-01-31) or an age (30d)", s)
}

// logTrace logs at trace level.
func logTrace(log *slog.Logger, msg string, args ...any) {
	log.Log(context.Background(), LevelTrace, msg, args...)
}
