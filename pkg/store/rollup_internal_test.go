package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestPlanCoversTheSpanExactly checks that the pieces of a read tile its
// span with no gap or overlap, that each rollup piece is whole buckets of
// that rollup, and that raw pieces are shorter than the finest rollup's
// bucket at each end.
func TestPlanCoversTheSpanExactly(t *testing.T) {
	all := []*rollup{{name: "d", stepMs: 86_400_000}, {name: "h", stepMs: 3_600_000}, {name: "s", stepMs: 1000}}
	r := rand.New(rand.NewPCG(1, 2))
	check := func(sp span, usable []*rollup) {
		t.Helper()
		ps := plan(sp, usable)
		at := sp.lo
		for _, p := range ps {
			if p.lo != at {
				t.Fatalf("span %v: piece %v starts at %d, want %d (pieces %v)", sp, p, p.lo, at, ps)
			}
			if p.hi <= p.lo {
				t.Fatalf("span %v: empty piece %v", sp, p)
			}
			if p.r != nil {
				if (p.lo != unboundedLo && p.lo%p.r.stepMs != 0) || (p.hi != unboundedHi && p.hi%p.r.stepMs != 0) {
					t.Fatalf("span %v: piece %v of %s is not whole buckets", sp, p.span, p.r.name)
				}
			} else if len(usable) > 0 {
				finest := usable[len(usable)-1].stepMs
				if p.lo != unboundedLo && p.hi != unboundedHi && p.hi-p.lo >= finest && floorDiv(p.hi, finest) > ceilDiv(p.lo, finest) {
					t.Fatalf("span %v: raw piece %v holds a whole bucket of %d ms", sp, p.span, finest)
				}
			}
			at = p.hi
		}
		if sp.lo < sp.hi && at != sp.hi {
			t.Fatalf("span %v: pieces end at %d (pieces %v)", sp, at, ps)
		}
	}
	base := int64(1_767_225_600_000) // 2026-01-01
	for range 2000 {
		lo := base + r.Int64N(40*86_400_000) - 20*86_400_000
		hi := lo + r.Int64N(35*86_400_000)
		check(span{lo, hi}, all)
		check(span{lo, hi}, all[1:])
		check(span{lo, hi}, all[2:])
		check(span{lo, hi}, nil)
	}
	check(span{unboundedLo, unboundedHi}, all)
	check(span{unboundedLo, base + 12345}, all)
	check(span{base + 12345, unboundedHi}, all)
	check(span{base, base}, all)
}

func TestUsableRollups(t *testing.T) {
	names := func(rs []*rollup) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.name)
		}
		return fmt.Sprint(s)
	}
	cases := []struct {
		a    aggRead
		want string
	}{
		{aggRead{stepMs: 60_000, cols: dimCols(DimAction)}, "[events_1m]"},
		{aggRead{stepMs: 6 * 3_600_000, cols: dimCols(DimAction)}, "[events_1h events_1m]"},
		{aggRead{stepMs: 6 * 3_600_000, cols: dimCols(DimNone), f: Filter{Actions: []string{"login"}}}, "[events_1h events_1m]"},
		{aggRead{stepMs: 6 * 3_600_000, cols: dimCols(DimUser)}, "[]"},
		{aggRead{stepMs: 86_400_000, cols: dimCols(DimCountry)}, "[events_places_1d events_places_1h]"},
		{aggRead{stepMs: 86_400_000, cols: dimCols(DimASN)}, "[events_1d]"},
		{aggRead{stepMs: 30_000, cols: dimCols(DimNone)}, "[]"},
		{aggRead{stepMs: 60_000, cols: dimCols(DimUser)}, "[]"},
		{aggRead{cols: dimCols(DimAction), f: Filter{Users: []string{"a"}}}, "[events_1d]"},
		{aggRead{cols: placeCols}, "[events_places_1d events_places_1h]"},
		{aggRead{cols: placeCols, f: Filter{Apps: []string{"a"}}}, "[events_1d]"},
		{aggRead{cols: append(dimCols(DimAction), "user_name"), times: true}, "[events_1d]"},
		{aggRead{cols: placeCols, f: Filter{Search: "x"}}, "[]"},
		{aggRead{cols: dimCols(DimAction), forceRaw: true}, "[]"},
	}
	for _, tc := range cases {
		if got := names(tc.a.usable()); got != tc.want {
			t.Errorf("%+v: usable %s, want %s", tc.a, got, tc.want)
		}
	}
}

func TestIDTimeRanges(t *testing.T) {
	cases := []struct {
		times []int64
		max   int
		want  string
	}{
		{[]int64{5, 1, 3}, 10, "[[1 5]]"},
		{[]int64{0, 5000, 5500, 20000}, 10, "[[0 0] [5000 5500] [20000 20000]]"},
		{[]int64{0, 10_000, 10_500, 30_000, 100_000}, 2, "[[0 30000] [100000 100000]]"},
		{[]int64{0, 10_000, 10_500, 30_000, 100_000}, 1, "[[0 100000]]"},
	}
	for _, tc := range cases {
		if got := fmt.Sprint(idTimeRanges(tc.times, tc.max)); got != tc.want {
			t.Errorf("idTimeRanges(%v, %d) = %s, want %s", tc.times, tc.max, got, tc.want)
		}
	}
}

func TestSearchRest(t *testing.T) {
	h := time.Hour
	for _, tc := range []struct {
		found, missing int
		covered, left  time.Duration
		bounded, want  bool
	}{
		{0, 100, h, 700 * h, true, true},     // nothing yet: read the rest
		{0, 100, h, 0, false, true},          // even without a start
		{1, 99, h, 700 * h, true, false},     // the rate needs 99 h of 700: grow
		{1, 99, 65 * h, 655 * h, true, true}, // it needs 6,435 h: read the rest
		{50, 50, h, 700 * h, true, false},    // a common term: the next hour will do
		{1, 99, 65 * h, 655 * h, false, false},
	} {
		if got := searchRest(tc.found, tc.missing, tc.covered, tc.left, tc.bounded); got != tc.want {
			t.Errorf("searchRest(%d, %d, %v, %v, %v) = %v, want %v", tc.found, tc.missing, tc.covered, tc.left, tc.bounded, got, tc.want)
		}
	}
}
