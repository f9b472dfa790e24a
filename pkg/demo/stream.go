package demo

import (
	"math"
	"slices"
	"time"
)

// Stream calls fn with n events spread over [from, to) in authentik's API
// JSON, oldest first, like GenerateRaw, but holds only one hour of events
// at a time: the benchmark's ten million events would take gigabytes as
// one slice. The same arguments always give the same events. fn may keep
// raw. An error from fn stops the stream and is returned.
//
// The mix is GenerateRaw's: a working-week rhythm by UTC hour, and a
// failed-login burst of 2% of the events within two hours at about 60% of
// the range. The counts per hour are fixed from the weights up front
// (largest remainder), so streaming needs no second pass.
func Stream(seed int64, n int, from, to time.Time, fn func(t time.Time, raw []byte) error) error {
	span := to.Sub(from)
	if n <= 0 || span <= 0 {
		return nil
	}
	g := NewGenerator(seed)

	nBurst := n / 50
	burstStart := from.Add(span * 6 / 10)
	burstSpan := min(2*time.Hour, span/10)
	burst := make([]time.Time, nBurst)
	for i := range burst {
		burst[i] = burstStart.Add(time.Duration(g.r.Int64N(int64(burstSpan) + 1)))
	}
	slices.SortFunc(burst, func(a, b time.Time) int { return a.Compare(b) })

	// Slots are whole UTC hours clipped to the range.
	type slot struct {
		start, end time.Time
		n          int
	}
	var slots []slot
	var weights []float64
	total := 0.0
	for s := from; s.Before(to); {
		e := s.Truncate(time.Hour).Add(time.Hour)
		if e.After(to) {
			e = to
		}
		w := hourWeight[s.UTC().Hour()]
		if wd := s.UTC().Weekday(); wd == time.Saturday || wd == time.Sunday {
			w *= 0.4
		}
		w *= e.Sub(s).Hours()
		slots = append(slots, slot{start: s, end: e})
		weights = append(weights, w)
		total += w
		s = e
	}
	regular := n - nBurst
	assigned := 0
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, len(slots))
	for i := range slots {
		exact := float64(regular) * weights[i] / total
		slots[i].n = int(math.Floor(exact))
		assigned += slots[i].n
		rems[i] = rem{i, exact - math.Floor(exact)}
	}
	// Largest remainder, ties to the earlier hour, so the total is exact.
	slices.SortStableFunc(rems, func(a, b rem) int {
		switch {
		case a.r > b.r:
			return -1
		case a.r < b.r:
			return 1
		}
		return 0
	})
	for k := 0; assigned < regular; k++ {
		slots[rems[k%len(rems)].i].n++
		assigned++
	}

	type tb struct {
		t     time.Time
		burst bool
	}
	var buf []tb
	bi := 0
	for _, sl := range slots {
		buf = buf[:0]
		width := int64(sl.end.Sub(sl.start))
		for range sl.n {
			buf = append(buf, tb{sl.start.Add(time.Duration(g.r.Int64N(width))), false})
		}
		for bi < len(burst) && burst[bi].Before(sl.end) {
			buf = append(buf, tb{burst[bi], true})
			bi++
		}
		slices.SortStableFunc(buf, func(a, b tb) int { return a.t.Compare(b.t) })
		for _, x := range buf {
			var raw []byte
			if x.burst {
				raw = g.attack(x.t)
			} else {
				raw = g.Raw(x.t)
			}
			if err := fn(x.t, raw); err != nil {
				return err
			}
		}
	}
	return nil
}
