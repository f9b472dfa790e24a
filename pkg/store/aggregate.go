package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
)

// Dimension is what an aggregate groups by. It is a closed set mapped to
// fixed column expressions, so a grouping chosen by a dashboard never puts
// the dashboard's text into SQL.
type Dimension int

const (
	DimNone Dimension = iota
	DimAction
	DimUser
	DimApp
	DimCountry
	DimASN
)

var dimNames = [...]string{DimNone: "", DimAction: "action", DimUser: "user", DimApp: "app", DimCountry: "country", DimASN: "asn"}

// String returns the dimension's name in the query model ("" for none).
func (d Dimension) String() string {
	if d < 0 || int(d) >= len(dimNames) {
		return fmt.Sprintf("Dimension(%d)", int(d))
	}
	return dimNames[d]
}

// ParseDimension reads a dimension name; "" is DimNone.
func ParseDimension(s string) (Dimension, error) {
	for i, n := range dimNames {
		if n == s {
			return Dimension(i), nil
		}
	}
	return DimNone, fmt.Errorf("%w: unknown dimension %q (want action, user, app, country or asn)", ErrBadFilter, truncate(s, 64))
}

// groupExpr is the expression aggregates group by: the column itself
// where there is one, since grouping by a LowCardinality column's
// dictionary keys is faster than by strings made from it. Reads convert
// the result with toString.
func (d Dimension) groupExpr() string {
	switch d {
	case DimAction:
		return "action"
	case DimUser:
		return "user_name"
	case DimApp:
		return "app"
	case DimCountry:
		return "geo_country_code"
	}
	return d.expr()
}

// expr is the String-typed column expression of a dimension.
func (d Dimension) expr() string {
	switch d {
	case DimAction:
		return "toString(action)"
	case DimUser:
		return "toString(user_name)"
	case DimApp:
		return "toString(app)"
	case DimCountry:
		return "toString(geo_country_code)"
	case DimASN:
		// One label per network owner, as people name them: "AS1221 Telstra".
		return "if(asn_number = 0, '', if(asn_org = '', concat('AS', toString(asn_number)), concat('AS', toString(asn_number), ' ', toString(asn_org))))"
	}
	return "''"
}

func (d Dimension) valid() bool { return d >= DimNone && d <= DimASN }

const (
	// MaxSeries is how many groups a time series keeps: the groups with
	// the most events, which are the ones a threshold alert fires on.
	MaxSeries = 20
	// MaxBuckets bounds one series, so a 1 s step over a year cannot make
	// a response of millions of points.
	MaxBuckets = 10000
	// MaxGroups caps TopGroups and GeoPoints.
	MaxGroups = 10000
)

// Series is the event count per time bucket of one group. Buckets are the
// starts of consecutive steps; Counts[i] belongs to Buckets[i].
type Series struct {
	Group   string
	Buckets []time.Time
	Counts  []int64
}

// Total is the series' event count.
func (s Series) Total() int64 {
	var n int64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// AlignDown returns the start of the step-long bucket that holds t.
// Buckets are aligned to the Unix epoch, as Grafana aligns its intervals,
// so a panel's points and an alert's points fall on the same instants.
func AlignDown(t time.Time, step time.Duration) time.Time {
	ms, st := t.UnixMilli(), step.Milliseconds()
	if st <= 0 {
		return t
	}
	b := ms - ms%st
	if ms < 0 && ms%st != 0 {
		b -= st
	}
	return time.UnixMilli(b).UTC()
}

// TimeSeries counts events per step-long bucket over [from, to), per group
// of groupBy (the MaxSeries largest groups, largest first). Buckets without
// events are 0. DimNone gives one series named "", present even when no
// event matched, so an alert on "count > N" sees 0 rather than no data.
func (s *Store) TimeSeries(ctx context.Context, f Filter, groupBy Dimension, step time.Duration, from, to time.Time) ([]Series, error) {
	if !groupBy.valid() {
		return nil, fmt.Errorf("%w: unknown dimension %d", ErrBadFilter, groupBy)
	}
	if step < time.Second {
		return nil, fmt.Errorf("%w: time series step %s is shorter than 1s", ErrBadFilter, step)
	}
	if from.IsZero() || to.IsZero() || !to.After(from) {
		return nil, fmt.Errorf("%w: time series needs a range with from before to", ErrBadFilter)
	}
	step = step.Truncate(time.Millisecond)
	start := AlignDown(from, step)
	n := (to.Sub(start) + step - 1) / step
	if n > MaxBuckets {
		return nil, fmt.Errorf("%w: %d buckets of %s exceed %d; widen the step", ErrBadFilter, n, step, MaxBuckets)
	}
	if f.From.IsZero() || f.From.Before(from) {
		f.From = from
	}
	if f.To.IsZero() || f.To.After(to) {
		f.To = to
	}
	if _, err := f.conds(true); err != nil {
		return nil, err
	}
	stepMs := intLit(step.Milliseconds())
	g := groupBy.groupExpr()
	a := aggRead{f: f, sp: spanOf(f), stepMs: step.Milliseconds(), cols: dimCols(groupBy), forceRaw: s.forceRaw,
		partial: func(src, cond, t, cnt, _, _ string) string {
			return "SELECT " + g + " AS g_, intDiv(" + t + ", " + stepMs + ") * " + stepMs + " AS b_, " + cnt + " AS c_ FROM " + src + whereOf(cond) + " GROUP BY g_, b_"
		},
		// The query below sums by g_ and b_ again.
		rollupRows: func(src, cond, t string) string {
			return "SELECT " + g + " AS g_, intDiv(" + t + ", " + stepMs + ") * " + stepMs + " AS b_, toUInt64(c) AS c_ FROM " + src + whereOf(cond)
		}}
	u, err := s.unionSQL(a)
	if err != nil {
		return nil, err
	}
	// Read from the rollups, a series is a few small reads, which go
	// faster on one thread than with a pipeline per core (per minute over
	// a day: 16 ms against 20); read raw, it is worth both.
	threads := 1
	if a.forceRaw || f.rawOnly() {
		threads = 0
	}
	// One row per group with its buckets and counts as arrays: a minute
	// series over a day is thousands of points, and rows cost more to
	// ship and decode than array elements. Groups come largest first, and
	// only the MaxSeries largest.
	q := "SELECT toString(g_), groupArray(b), groupArray(c), sum(c) AS t_ FROM (SELECT g_, toInt64(b_) AS b, toUInt64(sum(c_)) AS c FROM (" + u +
		") GROUP BY g_, b_) GROUP BY g_ ORDER BY t_ DESC, g_ LIMIT " + intLit(MaxSeries) + s.readSettingsThreads(threads)
	rows, err := s.eng.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: time series: %w", err)
	}
	defer rows.Close()

	buckets := make([]time.Time, n)
	for i := range buckets {
		buckets[i] = start.Add(time.Duration(i) * step)
	}
	startMs := start.UnixMilli()
	byGroup := map[string]*Series{}
	var out []*Series
	series := func(name string) *Series {
		if sr, ok := byGroup[name]; ok {
			return sr
		}
		sr := &Series{Group: name, Buckets: buckets, Counts: make([]int64, n)}
		byGroup[name] = sr
		out = append(out, sr)
		return sr
	}
	if groupBy == DimNone {
		series("")
	}
	for rows.Next() {
		var (
			name  string
			bs    []int64
			cs    []uint64
			total uint64
		)
		if err := rows.Scan(&name, &bs, &cs, &total); err != nil {
			return nil, fmt.Errorf("store: time series: %w", err)
		}
		if len(bs) != len(cs) {
			return nil, fmt.Errorf("store: time series: %d buckets for %d counts", len(bs), len(cs))
		}
		sr := series(name)
		for k, b := range bs {
			i := (b - startMs) / step.Milliseconds()
			if i < 0 || i >= int64(n) {
				continue // cannot happen with the range above; never index out of it
			}
			sr.Counts[i] += int64(cs[k])
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: time series: %w", err)
	}
	res := make([]Series, len(out))
	for i, sr := range out {
		res[i] = *sr
	}
	slices.SortStableFunc(res, func(a, b Series) int {
		if ta, tb := a.Total(), b.Total(); ta != tb {
			if ta > tb {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Group, b.Group)
	})
	return res, nil
}

// GeoPoint is one place events came from.
type GeoPoint struct {
	Lat, Lon    float64
	City        string
	CountryCode string
	Country     string
	Count       int64
	// TopAction is the most frequent action there; ties go to the
	// alphabetically first, so the answer is stable.
	TopAction string
}

// GeoPoints returns the places of matching events that have coordinates,
// most events first, at most limit of them.
func (s *Store) GeoPoints(ctx context.Context, f Filter, limit int) ([]GeoPoint, error) {
	limit = clampLimit(limit, MaxGroups)
	// Coordinates 0,0 mean "unknown" here: no audited client sits in the
	// Gulf of Guinea, and plotting them there would mislead.
	u, err := s.unionSQL(aggRead{f: f, sp: spanOf(f), cols: placeCols, forceRaw: s.forceRaw,
		partial: func(src, cond, _, cnt, _, _ string) string {
			return "SELECT geo_lat AS lat, geo_lon AS lon, geo_city AS city, geo_country_code AS cc," +
				" any(geo_country) AS country, action AS a, " + cnt + " AS c FROM " + src +
				whereOf(andCond(cond, "(geo_lat != 0 OR geo_lon != 0)")) + " GROUP BY lat, lon, city, cc, a"
		}})
	if err != nil {
		return nil, err
	}
	q := "SELECT lat, lon, toString(city), toString(cc), toString(any(country)), toUInt64(sum(c)) AS total, toString(argMin(a, (-toInt64(c), a))) FROM (" +
		"SELECT lat, lon, city, cc, any(country) AS country, a, sum(c) AS c FROM (" + u + ") GROUP BY lat, lon, city, cc, a" +
		") GROUP BY lat, lon, city, cc ORDER BY total DESC, cc, city, lat, lon LIMIT " + intLit(int64(limit)) + s.readSettings()
	out, err := queryRows(ctx, s.eng, "geo points", q, func(r Rows, p *GeoPoint) error {
		var c uint64
		err := r.Scan(&p.Lat, &p.Lon, &p.City, &p.CountryCode, &p.Country, &c, &p.TopAction)
		p.Count = int64(c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: geo points: %w", err)
	}
	return out, nil
}

// Group is one value of a dimension with its activity.
type Group struct {
	Name      string
	Count     int64
	Users     int64 // distinct non-empty usernames
	FirstSeen time.Time
	LastSeen  time.Time
}

// TopGroups returns the n values of dim with the most matching events.
// DimNone gives one group "" over everything (none when nothing matched).
func (s *Store) TopGroups(ctx context.Context, f Filter, dim Dimension, n int) ([]Group, error) {
	if !dim.valid() {
		return nil, fmt.Errorf("%w: unknown dimension %d", ErrBadFilter, dim)
	}
	n = clampLimit(n, MaxGroups)
	g := dim.groupExpr()
	u, err := s.unionSQL(aggRead{f: f, sp: spanOf(f), cols: append(dimCols(dim), "user_name"), times: true, forceRaw: s.forceRaw,
		partial: func(src, cond, _, cnt, mn, mx string) string {
			return "SELECT " + g + " AS g_, user_name AS u_, " + cnt + " AS c_, " + mn + " AS mn_, " + mx + " AS mx_ FROM " + src +
				whereOf(cond) + " GROUP BY g_, u_"
		}})
	if err != nil {
		return nil, err
	}
	q := "SELECT toString(g_), toUInt64(sum(c_)) AS c, toUInt64(uniqExactIf(u_, u_ != '')), toInt64(toUnixTimestamp64Milli(min(mn_))), " +
		"toInt64(toUnixTimestamp64Milli(max(mx_))) FROM (" + u + ") GROUP BY g_ ORDER BY c DESC, g_ LIMIT " + intLit(int64(n)) + s.readSettings()
	return queryRows(ctx, s.eng, "top groups", q, func(r Rows, g *Group) error {
		var (
			c, u        uint64
			first, last int64
		)
		err := r.Scan(&g.Name, &c, &u, &first, &last)
		g.Count, g.Users = int64(c), int64(u)
		g.FirstSeen, g.LastSeen = time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC()
		return err
	})
}

// MaxValues caps Values.
const MaxValues = 1000

// Values returns the distinct non-empty values of field in a tenant's
// events ("" = all tenants) that start with prefix, ignoring case, most
// frequent first. It feeds filter pickers and template variables.
func (s *Store) Values(ctx context.Context, tenant string, field Dimension, prefix string, limit int) ([]string, error) {
	if field == DimNone || !field.valid() {
		return nil, fmt.Errorf("%w: values need a field (action, user, app, country or asn)", ErrBadFilter)
	}
	limit = clampLimit(limit, MaxValues)
	g := field.groupExpr()
	u, err := s.unionSQL(aggRead{f: Filter{Tenant: tenant}, sp: span{unboundedLo, unboundedHi}, cols: dimCols(field), forceRaw: s.forceRaw,
		partial: func(src, cond, _, cnt, _, _ string) string {
			return "SELECT " + g + " AS v_, " + cnt + " AS c_ FROM " + src + whereOf(cond) + " GROUP BY v_"
		}})
	if err != nil {
		return nil, err
	}
	outer := " WHERE v_ != ''"
	if prefix != "" {
		outer += " AND startsWith(lowerUTF8(v_), lowerUTF8(" + quote(prefix) + "))"
	}
	q := "SELECT toString(v_) FROM (" + u + ")" + outer + " GROUP BY v_ ORDER BY sum(c_) DESC, v_ LIMIT " + intLit(int64(limit)) + s.readSettings()
	out, err := queryRows(ctx, s.eng, "values of "+field.String(), q, func(r Rows, v *string) error { return r.Scan(v) })
	if out == nil && err == nil {
		out = []string{} // an empty list, not null, for pickers
	}
	return out, err
}

// carriesChange selects events that say what changed: a diff (native or
// authentik's, normalized at ingest), a deleted object's model_state, a
// raw context.diff, or whole before/after objects in the context.
const carriesChange = `(diff != '' OR (context != '' AND (JSONHas(context, 'diff') OR JSONHas(context, 'model_state')
 OR (JSONType(context, 'before') = 'Object' AND JSONType(context, 'after') = 'Object')
 OR (JSONType(context, 'old') = 'Object' AND JSONType(context, 'new') = 'Object'))))`

// DiffEvents returns matching events that carry a change, newest first.
func (s *Store) DiffEvents(ctx context.Context, f Filter, limit int) ([]event.Event, error) {
	limit = clampLimit(limit, MaxLimit)
	evs, err := s.newest(ctx, f, carriesChange, limit)
	if err != nil {
		return nil, fmt.Errorf("store: diff events: %w", err)
	}
	return evs, nil
}

// andCond joins two conditions, either of which may be empty.
func andCond(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " AND " + b
}

// andWhere adds a condition built from constants to a WHERE clause.
func andWhere(where, cond string) string {
	if where == "" {
		return " WHERE " + cond
	}
	return where + " AND " + cond
}

func clampLimit(n, max int) int {
	if n <= 0 || n > max {
		return max
	}
	return n
}
