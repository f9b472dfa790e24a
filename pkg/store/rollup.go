package store

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Rollups are pre-aggregated copies of the events table, fed by
// materialized views on every insert, so that time series, maps and
// top lists over a month read thousands of rows instead of millions.
//
// Exactness. A rollup row counts the events of one bucket (minute, hour or
// day) with the same values of its key columns (see rollups). Reads split their time
// range into the whole buckets of the coarsest usable rollup, finer
// rollups for the partial buckets at the edges, and raw events for what is
// left (less than a minute or an hour at each end). Rollup rows also carry
// the day their events expire, and reads take from the rollups only the
// rows that expire after today; the events that expire today or earlier
// (which TTL may be deleting at this moment) are always read raw. So a
// read through the rollups returns exactly what the same read over the
// raw rows returns, at every moment, which TestRollupsMatchRawReads
// checks query by query.

type rollup struct {
	name   string
	stepMs int64
	// cols are the key columns besides tenant, the bucket b and
	// expires_day: what reads over this rollup may group and filter by.
	cols []string
	// times: the rollup keeps each row's first and last event time.
	times bool
}

var (
	actionCols = []string{"action"}
	placeCols  = []string{"action", "geo_lat", "geo_lon", "geo_city", "geo_country_code", "geo_country"}
	// wideCols are every column a Filter (but IPs, ids and search) or a
	// Dimension reads, and the places of the geo map.
	wideCols = []string{"action", "app", "user_name", "user_email", "user_id", "geo_country_code", "geo_country", "geo_city",
		"geo_lat", "geo_lon", "asn_number", "asn_org"}
)

// rollups, from the smallest. Each read uses, per bucket size, the
// smallest rollup that has the columns it needs. Sizes measured on the
// bench's data (rows per 1,000 events at 10M events over 30 days, about):
// actions by minute 90, by hour 2; places by hour 35, by day 2; the wide
// one by day 120. A wide rollup by hour was tried and dropped: with a
// user, a place and an action in its key it held one row for every 2 to 4
// events, so the partial days at the edges of a range are read raw.
var rollups = []rollup{
	{name: "events_1h", stepMs: 3_600_000, cols: actionCols},
	{name: "events_1m", stepMs: 60_000, cols: actionCols},
	{name: "events_places_1d", stepMs: 86_400_000, cols: placeCols},
	{name: "events_places_1h", stepMs: 3_600_000, cols: placeCols},
	{name: "events_1d", stepMs: 86_400_000, cols: wideCols, times: true},
}

// columnTypes are the rollups' types of the events' columns.
var columnTypes = map[string]string{
	"action": "LowCardinality(String)", "app": "LowCardinality(String)", "user_name": "LowCardinality(String)",
	"user_email": "LowCardinality(String)", "user_id": "LowCardinality(String)",
	"geo_country_code": "LowCardinality(String)", "geo_country": "LowCardinality(String)", "geo_city": "LowCardinality(String)",
	"geo_lat": "Float64 CODEC(ZSTD(1))", "geo_lon": "Float64 CODEC(ZSTD(1))",
	"asn_number": "UInt32 CODEC(ZSTD(1))", "asn_org": "LowCardinality(String)",
}

func (r rollup) columns() string {
	c := []string{"  tenant LowCardinality(String)", "  b Int64 CODEC(Delta, ZSTD(1))"}
	for _, col := range r.cols {
		c = append(c, "  "+col+" "+columnTypes[col])
	}
	c = append(c, "  expires_day Date", "  c SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(1))")
	if r.times {
		c = append(c, "  mn SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(ZSTD(1))",
			"  mx SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1))")
	}
	return strings.Join(c, ",\n")
}

func (r rollup) key() string {
	return "tenant, b, " + strings.Join(r.cols, ", ") + ", expires_day"
}

func (r rollup) has(col string) bool { return slices.Contains(r.cols, col) }

// selectFromEvents is the aggregation the materialized view and the
// backfill run over events. b is the bucket's start in Unix milliseconds,
// which keeps every bucket aligned to the epoch, as AlignDown is.
func (r rollup) selectFromEvents(table string) string {
	b := "intDiv(toUnixTimestamp64Milli(time), " + msLit(r.stepMs) + ") * " + msLit(r.stepMs)
	cols := "tenant, " + b + " AS b, " + strings.Join(r.cols, ", ") + ", toDate(expires) AS expires_day, count() AS c"
	if r.times {
		cols += ", min(time) AS mn, max(time) AS mx"
	}
	return "SELECT " + cols + " FROM " + table + " GROUP BY " + r.key()
}

// rollupMigration creates the rollups, fills them from the events already
// stored, and then starts the views. It runs before the store takes
// writes, so no insert falls between the backfill and the view; a rerun
// after a crash starts the rollups over. (On a cluster, stop writers while
// upgrading: another node's inserts during the backfill would be missed.)
func rollupMigration(l layout) []string {
	var s []string
	for _, r := range rollups {
		// A rollup row goes a day after the expiry day of the events it
		// counts, when all of them have expired. Partitions are months of
		// expiry: a rollup is small, so TTL rewriting a month's part costs
		// little, and a read touches a few parts instead of one per day.
		s = append(s, l.drop("VIEW", r.name+"_mv"))
		s = append(s, l.createTableKeyed(r.name, r.columns(), "AggregatingMergeTree",
			"PARTITION BY toYYYYMM(expires_day)\nORDER BY ("+r.key()+")\nTTL expires_day + INTERVAL 1 DAY DELETE\n"+
				"SETTINGS index_granularity = 8192, merge_with_ttl_timeout = 3600", "rand()")...)
		s = append(s, l.truncate(r.name))
		s = append(s, "INSERT INTO "+l.table(r.name)+" "+r.selectFromEvents(l.table("events"))+l.insertSelectSettings())
		s = append(s, fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s%s TO %s AS %s",
			l.storageTable(r.name+"_mv"), l.onCluster(), l.storageTable(r.name), r.selectFromEvents(l.storageTable("events"))))
	}
	return s
}

// span is a half-open range of Unix milliseconds; lo = MinInt64 or
// hi = MaxInt64 is unbounded.
type span struct{ lo, hi int64 }

const (
	unboundedLo = math.MinInt64
	unboundedHi = math.MaxInt64
)

// spanTimes is sp as times, zero where unbounded.
func spanTimes(sp span) (from, to time.Time) {
	if sp.lo != unboundedLo {
		from = time.UnixMilli(sp.lo)
	}
	if sp.hi != unboundedHi {
		to = time.UnixMilli(sp.hi)
	}
	return from, to
}

// piece is one part of a read: a rollup (nil for raw events) over a span.
type piece struct {
	r *rollup
	span
}

// plan splits sp over the usable rollups, coarsest first: each rollup
// takes the whole buckets inside what is left, and raw events take the
// rest. usable lists rollups by preference (coarsest first).
func plan(sp span, usable []*rollup) []piece {
	if sp.lo >= sp.hi {
		return nil
	}
	if len(usable) == 0 {
		return []piece{{nil, sp}}
	}
	r := usable[0]
	a, b := sp.lo, sp.hi
	if a != unboundedLo {
		a = ceilDiv(a, r.stepMs) * r.stepMs
	}
	if b != unboundedHi {
		b = floorDiv(b, r.stepMs) * r.stepMs
	}
	if a >= b {
		return plan(sp, usable[1:])
	}
	out := plan(span{sp.lo, a}, usable[1:])
	out = append(out, piece{r, span{a, b}})
	return append(out, plan(span{b, sp.hi}, usable[1:])...)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// aggRead describes an aggregate for the planner: which rollups may
// answer it, and how to write one partial aggregate over a piece.
type aggRead struct {
	f      Filter
	sp     span
	stepMs int64 // the time series' step; 0 when the read is not bucketed
	// cols are the columns the partial groups by or reads, besides the
	// filter's; times is set when it needs first/last times.
	cols  []string
	times bool
	// partial writes the SELECT of one piece from src, with cond its WHERE
	// conditions, t its time in Unix ms, cnt its count, mn and mx its
	// first and last times.
	partial func(src, cond, t, cnt, mn, mx string) string
	// rollupRows, when set, writes the SELECT of a rollup piece without
	// aggregating it (t its bucket, c its count): for reads whose outer
	// query sums by the same keys anyway, which spares the engine one
	// aggregation of every rollup row read (3 of 22 ms per minute over a
	// day at 10M events).
	rollupRows func(src, cond, t string) string
	// forceRaw skips the rollups, for tests that compare both answers.
	forceRaw bool
}

// dimCols are the columns of a dimension's expression.
func dimCols(d Dimension) []string {
	switch d {
	case DimAction:
		return []string{"action"}
	case DimUser:
		return []string{"user_name"}
	case DimApp:
		return []string{"app"}
	case DimCountry:
		return []string{"geo_country_code"}
	case DimASN:
		return []string{"asn_number", "asn_org"}
	}
	return nil
}

// filterCols are the columns a filter's conditions read (tenant aside).
func (f Filter) filterCols() []string {
	var c []string
	if len(f.Actions) > 0 {
		c = append(c, "action")
	}
	if len(f.Users) > 0 {
		c = append(c, "user_name", "user_email", "user_id")
	}
	if len(f.Apps) > 0 {
		c = append(c, "app")
	}
	if len(f.Countries) > 0 {
		c = append(c, "geo_country_code")
	}
	return c
}

// usable lists the rollups that can answer a, one per bucket size (the
// smallest that has every needed column), coarsest first.
func (a aggRead) usable() []*rollup {
	if a.forceRaw || a.f.rawOnly() {
		return nil
	}
	need := append(slices.Clone(a.cols), a.f.filterCols()...)
	best := map[int64]*rollup{}
	for i := range rollups {
		r := &rollups[i]
		if a.stepMs > 0 && a.stepMs%r.stepMs != 0 || a.times && !r.times {
			continue
		}
		ok := true
		for _, c := range need {
			if !r.has(c) {
				ok = false
				break
			}
		}
		if ok && (best[r.stepMs] == nil || len(r.cols) < len(best[r.stepMs].cols)) {
			best[r.stepMs] = r
		}
	}
	out := make([]*rollup, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y *rollup) int { return cmp.Compare(y.stepMs, x.stepMs) })
	return out
}

// unionSQL writes the partial aggregates of the read, joined by UNION
// ALL: one SELECT per table, since every SELECT has a fixed cost (a few
// milliseconds in the embedded engine) that outweighs what these read.
// Rollup pieces take only rows expiring after today; the events of their
// spans that expire today or earlier are read raw, in the same SELECT as
// the raw edges.
func (s *Store) unionSQL(a aggRead) (string, error) {
	base, err := a.f.conds(false)
	if err != nil {
		return "", err
	}
	var raw []string                   // OR-ed time ranges read raw
	var covered []string               // OR-ed time ranges the rollups cover
	byRollup := map[*rollup][]string{} // OR-ed bucket ranges per rollup
	var order []*rollup
	rangeOf := func(col string, sp span, lit func(int64) string) string {
		var c []string
		if sp.lo != unboundedLo {
			c = append(c, col+" >= "+lit(sp.lo))
		}
		if sp.hi != unboundedHi {
			c = append(c, col+" < "+lit(sp.hi))
		}
		if len(c) == 0 {
			return "1"
		}
		return strings.Join(c, " AND ")
	}
	for _, p := range plan(a.sp, a.usable()) {
		t := rangeOf("time", p.span, msTimeLit)
		if p.r == nil {
			if x := s.spans.expiresFor(spanTimes(p.span)); x != "" {
				t += " AND " + x // the edge's expiry days: partitions pruned
			}
			raw = append(raw, "("+t+")")
			continue
		}
		if _, ok := byRollup[p.r]; !ok {
			order = append(order, p.r)
		}
		byRollup[p.r] = append(byRollup[p.r], "("+rangeOf("b", p.span, msLit)+")")
		covered = append(covered, "("+t+")")
	}
	if len(raw) == 0 {
		raw = []string{"0"} // an empty range still makes a statement
	}
	cond := func(extra ...string) string { return strings.Join(append(slices.Clone(base), extra...), " AND ") }
	rawT, rawCnt, rawMn, rawMx := "toUnixTimestamp64Milli(time)", "toUInt64(count())", "min(time)", "max(time)"
	// The raw edges in one SELECT (the primary key prunes each range), and
	// the events expiring by today under the rollups' spans in another
	// (an OR of the two would defeat both the key and partition pruning),
	// unless no stored event can expire so soon (see expiryFloor).
	parts := []string{"(" + a.partial(s.l.table("events"), cond("("+strings.Join(raw, " OR ")+")"), rawT, rawCnt, rawMn, rawMx) + ")"}
	if len(order) > 0 && s.mayHoldExpiring(time.Now()) {
		parts = append(parts, "("+a.partial(s.l.table("events"), cond("("+strings.Join(covered, " OR ")+")",
			"expires < toDateTime(toDate(now(), 'UTC') + 1, 'UTC')"), rawT, rawCnt, rawMn, rawMx)+")")
	}
	for _, r := range order {
		src, where := s.l.table(r.name), cond("("+strings.Join(byRollup[r], " OR ")+")", "expires_day > toDate(now(), 'UTC')")
		if a.rollupRows != nil {
			parts = append(parts, "("+a.rollupRows(src, where, "b")+")")
			continue
		}
		parts = append(parts, "("+a.partial(src, where, "b", "toUInt64(sum(c))", "min(mn)", "max(mx)")+")")
	}
	return strings.Join(parts, " UNION ALL "), nil
}

// spanOf is [from, to) in Unix ms, each end unbounded when zero.
func spanOf(f Filter) span {
	sp := span{unboundedLo, unboundedHi}
	if !f.From.IsZero() {
		sp.lo = f.From.UnixMilli()
	}
	if !f.To.IsZero() {
		sp.hi = f.To.UnixMilli()
	}
	return sp
}

// whereOf joins conditions into a WHERE clause ("" for none).
func whereOf(cond string) string {
	if cond == "" {
		return ""
	}
	return " WHERE " + cond
}
