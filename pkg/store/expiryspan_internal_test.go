package store

import (
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
)

func TestSpanDay(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 500_000_000, time.UTC)
	for _, tc := range []struct {
		expires time.Time
		want    int64
	}{
		{at.Add(365 * 24 * time.Hour), 364}, // expires loses the .5 s: just under 365 days
		{at.Add(365*24*time.Hour + time.Second), 365},
		{at, -1}, // half a second before its own time
		{at.Add(-36 * time.Hour), -2},
		{time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), spanDay(&event.Event{Time: at, Expires: time.Unix(1<<32-1, 0)})}, // held as the last DateTime
	} {
		if got := spanDay(&event.Event{Time: at, Expires: tc.expires}); got != tc.want {
			t.Errorf("expires %v: span day %d, want %d", tc.expires, got, tc.want)
		}
	}
}

func TestExpiresFor(t *testing.T) {
	at := time.Unix(1_800_000_000, 0).UTC()
	sec := func(days int64) string { return secTimeLit(at.Unix() + days*86400) }
	many := map[int64]struct{}{}
	for k := range int64(maxSpanRuns + 1) {
		many[k*10] = struct{}{}
	}
	for _, tc := range []struct {
		name string
		days map[int64]struct{}
		want string
	}{
		{"nothing stored", map[int64]struct{}{}, ""},
		{"one retention", map[int64]struct{}{364: {}, 365: {}}, "expires BETWEEN " + sec(363) + " AND " + sec(366)},
		{"ranges that touch are one", map[int64]struct{}{29: {}, 31: {}}, "expires BETWEEN " + sec(28) + " AND " + sec(32)},
		{"two retentions", map[int64]struct{}{30: {}, 365: {}},
			"(expires BETWEEN " + sec(29) + " AND " + sec(31) + " OR expires BETWEEN " + sec(364) + " AND " + sec(366) + ")"},
		{"too varied to name", many, ""},
		{"the epoch bounds it", map[int64]struct{}{-20834: {}}, "expires BETWEEN " + secTimeLit(0) + " AND " + sec(-20833)},
		{"no event of this time has it", map[int64]struct{}{-30000: {}}, ""},
	} {
		sp := &expirySpans{days: tc.days}
		if got := sp.expiresFor(at, at); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// A range of times: its width joins ranges, and an open end leaves
	// that side open.
	two := &expirySpans{days: map[int64]struct{}{30: {}, 365: {}}}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     string
	}{
		{"a week", at, at.Add(7 * 24 * time.Hour),
			"(expires BETWEEN " + sec(29) + " AND " + sec(7+31) + " OR expires BETWEEN " + sec(364) + " AND " + sec(7+366) + ")"},
		{"wide enough to join", at, at.Add(400 * 24 * time.Hour), "expires BETWEEN " + sec(29) + " AND " + sec(400+366)},
		{"open above", at, time.Time{}, "expires >= " + sec(29)},
		{"open below", time.Time{}, at, "expires <= " + sec(366)},
		{"open both ways", time.Time{}, time.Time{}, ""},
	} {
		if got := two.expiresFor(tc.from, tc.to); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := (*expirySpans)(nil).expiresFor(at, at); got != "" {
		t.Errorf("no spans kept: %q", got)
	}
	if !strings.Contains((&expirySpans{days: map[int64]struct{}{0: {}}}).expiresFor(at.Add(500*time.Millisecond), at.Add(500*time.Millisecond)), secTimeLit(at.Unix()-86400)) {
		t.Error("a time within a second is not rounded outwards")
	}
}
