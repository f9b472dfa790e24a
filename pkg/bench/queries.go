package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/auditlog/auditlog/pkg/store"
)

// Query names, in report order. They are keys of latest.json.
var queryNames = []string{
	"logs", "logs_filtered", "by_id", "timeseries", "timeseries_minute",
	"geomap", "stats", "search_common", "search_rare",
}

// workload is what every query is about, shared by our store and the
// PostgreSQL baseline so that both answer the same questions.
type workload struct {
	tenant string
	ids    []string
	user   string
	action string
	common string
	rare   string
}

// ranges are taken at each run, as a dashboard's "last 30 days" is: the
// edges are not aligned to anything.
type ranges struct {
	now                    time.Time
	month, week, day, none time.Time
}

func rangesAt(now time.Time) ranges {
	now = now.UTC().Truncate(time.Millisecond)
	return ranges{now: now, month: now.Add(-30 * 24 * time.Hour), week: now.Add(-7 * 24 * time.Hour), day: now.Add(-24 * time.Hour)}
}

// storeQuery runs query name once on the store; i picks the id for by_id.
// It returns how many rows (events, buckets, points or groups) came back.
func storeQuery(ctx context.Context, st *store.Store, w *workload, name string, i int) (int, error) {
	r := rangesAt(time.Now())
	month := store.Filter{Tenant: w.tenant, From: r.month, To: r.now}
	switch name {
	case "logs":
		evs, err := st.Events(ctx, month, 100)
		return len(evs), err
	case "logs_filtered":
		f := store.Filter{Tenant: w.tenant, From: r.week, To: r.now, Actions: []string{w.action}, Users: []string{w.user}}
		evs, err := st.Events(ctx, f, 100)
		return len(evs), err
	case "by_id":
		e, err := st.Get(ctx, w.tenant, w.ids[i%len(w.ids)])
		if err == nil && e == nil {
			err = fmt.Errorf("event %s not found", w.ids[i%len(w.ids)])
		}
		return 1, err
	case "timeseries":
		ss, err := st.TimeSeries(ctx, store.Filter{Tenant: w.tenant}, store.DimAction, 6*time.Hour, r.month, r.now)
		return len(ss), err
	case "timeseries_minute":
		ss, err := st.TimeSeries(ctx, store.Filter{Tenant: w.tenant}, store.DimAction, time.Minute, r.day, r.now)
		return len(ss), err
	case "geomap":
		ps, err := st.GeoPoints(ctx, month, 1000)
		return len(ps), err
	case "stats":
		gs, err := st.TopGroups(ctx, month, store.DimUser, 15)
		return len(gs), err
	case "search_common":
		f := month
		f.Search = w.common
		evs, err := st.Events(ctx, f, 100)
		return len(evs), err
	case "search_rare":
		f := month
		f.Search = w.rare
		evs, err := st.Events(ctx, f, 100)
		return len(evs), err
	}
	return 0, fmt.Errorf("bench: unknown query %q", name)
}

// timing is the latencies of one query's runs.
type timing struct {
	runs []time.Duration
	rows int
}

func (t timing) quantile(q float64) float64 {
	if len(t.runs) == 0 {
		return 0
	}
	s := slices.Clone(t.runs)
	slices.Sort(s)
	// Nearest rank: p99 of 20 runs is the slowest, not an interpolation
	// that would flatter it.
	k := int(q*float64(len(s))+0.999999) - 1
	k = max(0, min(k, len(s)-1))
	return float64(s[k]) / float64(time.Millisecond)
}

// measure runs fn once to warm caches, then runs times, but stops early
// once budget is spent (after at least 3 runs), so a baseline that takes
// seconds a query does not take an hour.
func measure(runs int, budget time.Duration, fn func(i int) (int, error)) (timing, error) {
	var t timing
	if _, err := fn(0); err != nil {
		return t, err
	}
	start := time.Now()
	for i := 1; i <= runs; i++ {
		s := time.Now()
		n, err := fn(i)
		if err != nil {
			return t, err
		}
		t.runs = append(t.runs, time.Since(s))
		t.rows = n
		if len(t.runs) >= 3 && time.Since(start) > budget {
			break
		}
	}
	return t, nil
}
