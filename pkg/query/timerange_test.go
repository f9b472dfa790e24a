package query_test

import (
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// TestExtremeTimeRanges: ranges reaching before 1970 or after 2200, up to
// year 1 and 9999, answer every query type with the events inside
// (there can be none outside: ingest refuses them). A time series over
// year 1…2026 used to overflow its step to a negative duration and fail
// with "step -2564h36m43s is shorter than 1s".
func TestExtremeTimeRanges(t *testing.T) {
	fx := newFixture(t)
	y := func(year int) time.Time { return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name     string
		from, to time.Time
		events   bool // whether the fixture's events are inside
	}{
		{"year 1 to after the events", y(1), y(2027), true},
		{"1900 to after the events", y(1900), y(2027), true},
		{"before the events to 9999", y(2026), y(9999), true},
		{"before the events to 2300", y(2026), y(2300), true},
		{"wholly after 2200", y(2250), y(2260), false},
		{"wholly before 1970", y(1950), y(1960), false},
		{"year 1 to 9999", y(1), y(9999), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, js := range []string{`{"queryType":"logs"}`, `{"queryType":"stats"}`, `{"queryType":"timeseries","groupBy":"action"}`,
				`{"queryType":"timeseries"}`, `{"queryType":"geomap"}`, `{"queryType":"diff"}`} {
				q := dq("A", js)
				q.TimeRange = backend.TimeRange{From: tc.from, To: tc.to}
				r := fx.run(t, "acme", q).Responses["A"]
				if r.Error != nil {
					t.Errorf("%s: %v", js, r.Error)
					continue
				}
				var total float64
				for _, f := range r.Frames {
					if fld, _ := f.FieldByName("count"); fld != nil {
						for i := range fld.Len() {
							switch v := fld.At(i).(type) {
							case float64:
								total += v
							case int64:
								total += float64(v)
							}
						}
					} else {
						total += float64(f.Rows())
					}
				}
				if (total > 0) != tc.events {
					t.Errorf("%s: %v events/rows counted, want events: %v", js, total, tc.events)
				}
			}
		})
	}
}
