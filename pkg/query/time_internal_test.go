package query

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 30, 0, 0, time.UTC)
	cases := []struct {
		raw     string
		roundUp bool
		want    string // RFC 3339, or "error: …"
	}{
		{``, false, "2026-03-10T09:30:00Z"}, // the default, now-6h
		{`"now"`, true, "2026-03-10T15:30:00Z"},
		{`"now-6h"`, false, "2026-03-10T09:30:00Z"},
		{`"now-7d"`, false, "2026-03-03T15:30:00Z"},
		{`"now-1d/d"`, false, "2026-03-09T00:00:00Z"},
		{`"now-1d/d"`, true, "2026-03-09T23:59:59.999Z"},
		{`"1772366400000"`, false, "2026-03-01T12:00:00Z"},
		{`1772366400000`, false, "2026-03-01T12:00:00Z"},
		{`"2026-03-01T12:00:00+01:00"`, false, "2026-03-01T11:00:00Z"},
		{`1.5`, false, "error: not epoch milliseconds"},
		{`"soon"`, false, `error: "soon" is not a time`},
		{`true`, false, "error: not epoch milliseconds"},
	}
	for _, tc := range cases {
		got, err := parseTime(json.RawMessage(tc.raw), "now-6h", now, tc.roundUp)
		s := got.Format(time.RFC3339Nano)
		if err != nil {
			s = "error: " + err.Error()
		}
		if strings.HasPrefix(tc.want, "error: ") && !strings.Contains(s, strings.TrimPrefix(tc.want, "error: ")) ||
			!strings.HasPrefix(tc.want, "error: ") && s != tc.want {
			t.Errorf("parseTime(%s, roundUp=%v) = %s, want %s", tc.raw, tc.roundUp, s, tc.want)
		}
	}
}
