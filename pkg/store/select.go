package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/auditlog/auditlog/pkg/event"
)

// MaxLimit caps how many events one read returns.
const MaxLimit = 10000

// Filter selects events. Empty fields do not filter. Tenant "" means every
// tenant, which only unscoped callers may ask for.
type Filter struct {
	Tenant    string
	From, To  time.Time // To is exclusive; zero means unbounded
	Actions   []string
	Users     []string // usernames, emails or user ids
	Apps      []string
	ClientIPs []netip.Prefix
	Countries []string // ISO codes
	Search    string   // case-insensitive text anywhere in the event
	IDs       []string
}

// ErrBadFilter marks a filter value that cannot be used, such as a
// malformed id. Callers map it to a 4xx.
var ErrBadFilter = errors.New("bad filter")

// where renders the filter as a WHERE clause over the events table.
func (f Filter) where() (string, error) {
	c, err := f.conds(true)
	if err != nil {
		return "", err
	}
	if len(c) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(c, " AND "), nil
}

// conds renders the filter as conditions over the events table; without
// withTime it leaves From and To out, for callers that bound time
// themselves (the rollup reads of aggregate.go). Every condition but the
// IP, id and search ones reads only columns the wide rollups also have.
func (f Filter) conds(withTime bool) ([]string, error) {
	var c []string
	if f.Tenant != "" {
		c = append(c, "tenant = "+quote(f.Tenant))
	}
	if withTime && !f.From.IsZero() {
		c = append(c, "time >= "+timeLit(f.From))
	}
	if withTime && !f.To.IsZero() {
		c = append(c, "time < "+timeLit(f.To))
	}
	if len(f.Actions) > 0 {
		c = append(c, "action IN "+quoteList(f.Actions))
	}
	if len(f.Users) > 0 {
		l := quoteList(f.Users)
		c = append(c, "(user_name IN "+l+" OR user_email IN "+l+" OR user_id IN "+l+")")
	}
	if len(f.Apps) > 0 {
		c = append(c, "app IN "+quoteList(f.Apps))
	}
	if len(f.Countries) > 0 {
		up := make([]string, len(f.Countries))
		for i, v := range f.Countries {
			up[i] = strings.ToUpper(v)
		}
		c = append(c, "geo_country_code IN "+quoteList(up))
	}
	if len(f.ClientIPs) > 0 {
		var ors []string
		for _, p := range f.ClientIPs {
			if !p.IsValid() {
				return nil, fmt.Errorf("%w: invalid client IP prefix", ErrBadFilter)
			}
			lo, hi := PrefixRange(p)
			if lo == hi {
				ors = append(ors, "client_ip = "+ipLit(lo))
			} else {
				ors = append(ors, "client_ip BETWEEN "+ipLit(lo)+" AND "+ipLit(hi))
			}
		}
		c = append(c, "("+strings.Join(ors, " OR ")+")")
	}
	if len(f.IDs) > 0 {
		lits := make([]string, len(f.IDs))
		var others []string
		for i, id := range f.IDs {
			lit, ok := uuidLit(id)
			if !ok {
				return nil, fmt.Errorf("%w: event id %q is not a UUID", ErrBadFilter, truncate(id, 64))
			}
			lits[i] = lit
			if _, v7 := idTime(id); !v7 {
				others = append(others, otherIDLit(lit))
			}
		}
		c = append(c, "id IN ("+strings.Join(lits, ", ")+")")
		// The engine narrows v7 ids by the id-time index on its own (it
		// applies the index's function to the set); other ids need the
		// bloom filter's expression. A mix gets neither: an OR of the two
		// would keep both indexes from pruning.
		if len(others) == len(f.IDs) {
			c = append(c, idOtherExpr+" IN ("+strings.Join(others, ", ")+")")
		}
	}
	if f.Search != "" {
		c = append(c, searchCond(f.Search))
	}
	return c, nil
}

// rawOnly tells whether the filter needs columns only the events table
// has, so no rollup can answer it.
func (f Filter) rawOnly() bool {
	return len(f.ClientIPs) > 0 || len(f.IDs) > 0 || f.Search != ""
}

// searchColumns are what free-text search looks through, in this order.
// LowCardinality columns are searched as they are, not as String: the
// engine then looks through each part's dictionary instead of every row
// (15% less time over seven of them).
var searchColumns = []string{"action", "app", "user_name", "user_email",
	ipSearchColumn, "object_model", "object_name", "geo_city", "geo_country",
	"asn_org", "asn_network", asnSearchColumn, "context", "diff"}

// The AS columns stand for the asn member lifted out of stored contexts
// (see lift.go), which search found there before; the geo member's city
// was searched already. Its two-letter country and continent codes are
// not: as a term they match most events anyway. asnSearchColumn is the
// AS number as search reads it: none is no text.
const asnSearchColumn = "if(asn_number = 0, '', toString(asn_number))"

// searchCond matches events whose search text (searchColumns joined by
// spaces) contains term, ignoring case. A term without a space cannot
// span two columns, so it is looked for in each column on its own, which
// spares the engine building every row's joined text (and lets it search
// dictionaries of LowCardinality columns instead of rows). A term with
// spaces must match the joined text, but each of its space-free pieces
// lies within one column, so rows lacking a piece are dropped first, the
// longest (rarest) piece first: the engine then joins the text of the few
// rows left (ten times faster for "ticket #1234" over a million events).
func searchCond(term string) string {
	if !strings.Contains(term, " ") {
		return "(" + strings.Join(append([]string{anyColumnContains(term)}, searchIndexConds(term)...), " AND ") + ")"
	}
	var pieces []string
	for _, p := range strings.Split(term, " ") {
		if p != "" && !slices.Contains(pieces, p) {
			pieces = append(pieces, p)
		}
	}
	// Pieces without letters first (see containsFunc), then the longest.
	slices.SortStableFunc(pieces, func(a, b string) int {
		if la, lb := hasLetter(a), hasLetter(b); la != lb {
			if lb {
				return -1
			}
			return 1
		}
		return len(b) - len(a)
	})
	conds := make([]string, 0, len(pieces)+1)
	for _, p := range pieces {
		conds = append(conds, anyColumnContains(p))
	}
	conds = append(conds, containsFunc(term)+"("+searchText+", "+quote(term)+") > 0")
	conds = append(conds, searchIndexConds(term)...)
	return "(" + strings.Join(conds, " AND ") + ")"
}

// anyColumnContains matches events with piece in one of searchColumns.
// The client IP's text has only hex digits, dots and colons: a piece with
// any other character cannot be in it, and leaving the column out spares
// the engine writing a million addresses as text (a tenth of a rare
// term's search).
func anyColumnContains(piece string) string {
	lit, fn := quote(piece), containsFunc(piece)
	ors := make([]string, 0, len(searchColumns))
	for _, c := range searchColumns {
		switch {
		case c == ipSearchColumn && !couldBeInIP(piece),
			c == "asn_network" && !couldBeInIP(strings.ReplaceAll(piece, "/", "")),
			c == asnSearchColumn && strings.Trim(piece, "0123456789") != "":
			continue // it has characters the column's text never has
		}
		ors = append(ors, fn+"("+c+", "+lit+") > 0")
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// ipSearchColumn is the client IP as search reads it.
const ipSearchColumn = "IPv6NumToString(client_ip)"

// couldBeInIP tells whether s could be part of an address as the engine
// writes it (IPv6NumToString: lower-case hex, dots and colons); search
// ignores case, so upper-case hex digits could too.
func couldBeInIP(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// containsFunc is the engine's function to find s in a text ignoring
// case. Only letters have case, so text without letters (an id, a ticket
// number, an address) is looked for as it is, which the engine does in
// half the time.
func containsFunc(s string) string {
	if hasLetter(s) {
		return "positionCaseInsensitiveUTF8"
	}
	return "position"
}

// hasLetter tells whether s has a character with another case (what
// case folding could change: letters, and a few others such as Ⅷ).
func hasLetter(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.SimpleFold(r) != r }) >= 0
}

// searchText is what free-text search looks through, and what the search
// index (idx_search) is built over: a query must spell it exactly so for
// the engine to use the index.
const searchText = `concatWithSeparator(' ', toString(action), toString(app), toString(user_name), toString(user_email),
 IPv6NumToString(client_ip), toString(object_model), object_name, toString(geo_city),
 toString(geo_country), toString(asn_org), toString(asn_network), ` + asnSearchColumn + `, context, diff)`

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Events returns matching events, newest first, at most limit of them.
// Ties on time are broken by the id's text: ordering by the UUID column
// itself trips ClickHouse 26.5's top-k filter (a type mismatch in
// __topKFilter) for limits up to 1000.
func (s *Store) Events(ctx context.Context, f Filter, limit int) ([]event.Event, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	if s.hot != nil {
		if evs, ok := s.hot.newest(f, limit, time.Now()); ok {
			return evs, nil
		}
	}
	return s.newest(ctx, f, "", limit)
}

// First window of a newest-first read, and how much each next one grows
// at least.
const (
	firstWindow  = time.Hour
	windowGrowth = 8
	// Past this the rest of the range is read in one go.
	lastWindow = 400 * 24 * time.Hour
)

// nextGrowth is how much the next window grows: 8 times, or more when
// the rate of matches so far says 8 times would still fall short (twice
// the width that rate needs, at most 64 times).
func nextGrowth(found, missing int) time.Duration {
	g := windowGrowth
	if found > 0 {
		g = max(g, min(64, 2*missing/found+1))
	}
	return time.Duration(g)
}

// searchRest tells whether a search that found found events (missing
// more) in the covered newest part of its range should read the rest of
// it, left, at once: with no match yet, or when the rate so far needs more
// than half of what is left.
func searchRest(found, missing int, covered, left time.Duration, bounded bool) bool {
	if found == 0 {
		return true
	}
	need := time.Duration(float64(covered) * float64(missing) / float64(found))
	return bounded && left <= 2*need
}

// newest reads the newest matching events (extra is a further condition
// built from constants) window by window: the last hour of the range
// first, then the 8 hours before it, then 64, and so on, until limit
// events are found or the range is done. A page of the newest events
// usually lies in the first window, and then the engine touches only the
// parts and granules of that hour instead of every expiry-day partition.
// Windows do not overlap and go back in time, so their results, each
// sorted, are in order when appended.
func (s *Store) newest(ctx context.Context, f Filter, extra string, limit int) ([]event.Event, error) {
	base, err := f.conds(false)
	if err != nil {
		return nil, err
	}
	if extra != "" {
		base = append(base, extra)
	}
	hi := f.To
	top := hi
	if top.IsZero() {
		top = time.Now() // the first window also takes events dated later
	}
	var out []event.Event
	width := firstWindow
	start := top
	plain := base // the conditions but the text search's
	if f.Search != "" {
		nf := f
		nf.Search = ""
		if plain, err = nf.conds(false); err != nil {
			return nil, err
		}
		if extra != "" {
			plain = append(plain, extra)
		}
	}
	for {
		lo := top.Add(-width)
		last := width >= lastWindow || (!f.From.IsZero() && !lo.After(f.From))
		if last {
			lo = f.From
		}
		c := slices.Clone(base)
		if !lo.IsZero() {
			c = append(c, "time >= "+timeLit(lo))
		}
		if !hi.IsZero() {
			c = append(c, "time < "+timeLit(hi))
		}
		if x := s.spans.expiresFor(lo, hi); x != "" {
			c = append(c, x) // the window's expiry days: partitions pruned
		}
		settings := s.readSettingsThreads(1)
		if width > 64*time.Hour || last || (f.Search != "" && width > firstWindow) {
			// A long window is worth both cores, and is read as it lies
			// rather than in time order: reading in order keeps a block
			// of every part in memory at once (a search over 10M events
			// took the process from 1 to 2.3 GiB), while the rows that
			// match here are few, or the window would not have grown.
			settings = s.readSettings() + ", optimize_read_in_order = 0"
		}
		q := "SELECT " + s.eventColumns() + " FROM " + s.l.table("events") + whereOf(strings.Join(c, " AND ")) +
			" ORDER BY time DESC, toString(id) DESC LIMIT " + intLit(int64(limit-len(out))) + settings
		evs, err := s.queryEvents(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		if len(out) >= limit || last {
			return out, nil
		}
		if f.Search != "" && len(out) == 0 {
			// No match yet. Before taking that for a rare term's sign
			// (below), ask whether the window held any of the filter's
			// events at all: when a tenant went quiet, or a range ends
			// past the newest data, it did not, and the windows grow as
			// for a plain read instead of the whole range being read at
			// once (a common term over a month of 10M events ending a day
			// before the range: 3.3 s).
			has, err := s.anyEvent(ctx, plain, lo, hi)
			if err != nil {
				return nil, err
			}
			if !has {
				hi, top = lo, lo
				width *= windowGrowth
				continue
			}
		}
		hi, top = lo, lo
		if f.Search != "" && searchRest(len(out), limit-len(out), start.Sub(lo), lo.Sub(f.From), !f.From.IsZero()) {
			// A text search is a scan of the text whatever the window,
			// and read in time order it gains nothing: when the matches
			// so far say the page needs most of what is left, one
			// parallel read of the rest beats several growing ones (a
			// rare term over a month: 0.5 s in five windows, 0.2 s in
			// two).
			width = lastWindow
			continue
		}
		width *= nextGrowth(len(out), limit-len(out))
	}
}

// anyEvent tells whether some event meets every condition of c with a
// time in [from, to) (a zero bound is open). The window's parts and
// granules are the few read, and the first row found ends it.
func (s *Store) anyEvent(ctx context.Context, c []string, from, to time.Time) (bool, error) {
	c = slices.Clone(c)
	if !from.IsZero() {
		c = append(c, "time >= "+timeLit(from))
	}
	if !to.IsZero() {
		c = append(c, "time < "+timeLit(to))
	}
	if x := s.spans.expiresFor(from, to); x != "" {
		c = append(c, x)
	}
	q := "SELECT toUInt8(1) FROM " + s.l.table("events") + whereOf(strings.Join(c, " AND ")) + " LIMIT 1" + s.readSettingsThreads(1)
	ones, err := queryRows(ctx, s.eng, "any event", q, func(r Rows, one *uint8) error { return r.Scan(one) })
	return len(ones) > 0, err
}

// Get returns one event by id, or (nil, nil) when the tenant has none
// (tenant "" means any tenant). A UUIDv7 id carries a time, which for the
// ids ingest mints, and for most senders', is the event's own: the sorting
// key then finds the row in one granule (by id over 1M events: 7.5 ->
// 6.5 ms). An id minted at another moment is found on a second read
// through the id-time index (idx_id_time), which narrows it to the
// granules holding ids of that millisecond; other ids go through the
// bloom filter over them (idOtherExpr).
func (s *Store) Get(ctx context.Context, tenant, id string) (*event.Event, error) {
	if s.hot != nil {
		if e, ok := s.hot.get(tenant, id, time.Now()); ok {
			return e, nil
		}
	}
	f := Filter{Tenant: tenant, IDs: []string{id}}
	c, err := f.conds(true)
	if err != nil {
		return nil, err
	}
	if t, ok := idTime(id); ok {
		// The sorting key finds the id's time in one granule or two, where
		// the id's skip indexes could only add their reading.
		first := append(slices.Clone(c), "time = "+timeLit(t))
		if x := s.spans.expiresFor(t, t); x != "" {
			first = append(first, x)
		}
		e, err := s.getWhere(ctx, first, ", use_skip_indexes = 0")
		if e != nil || err != nil {
			return e, err
		}
		c = append(c, idTimeExpr+" = "+timeLit(t))
	}
	return s.getWhere(ctx, c, "")
}

// getWhere reads the first event meeting every condition of c, with more
// settings (", name = value", or empty).
func (s *Store) getWhere(ctx context.Context, c []string, settings string) (*event.Event, error) {
	// No ORDER BY: Insert keeps an id once per tenant, and sorting would
	// make the engine read every candidate row first (twice the time).
	// The conditions are on the key and the id, which the engine would
	// move to PREWHERE itself, after weighing every column of every part
	// (0.3 ms of planning, about 10% of a lookup over a million events).
	// A Distributed table in front of a cluster takes WHERE.
	clause := " PREWHERE "
	if s.l.cluster != "" {
		clause = " WHERE "
	}
	q := "SELECT " + s.eventColumns() + " FROM " + s.l.table("events") + clause + strings.Join(c, " AND ") +
		" LIMIT 1" + s.readSettingsThreads(1) + settings
	evs, err := s.queryEvents(ctx, q)
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	return &evs[0], nil
}

func (s *Store) queryEvents(ctx context.Context, q string) ([]event.Event, error) {
	return queryRows(ctx, s.eng, "select events", q, func(r Rows, e *event.Event) (err error) {
		*e, err = scanEvent(r)
		return err
	})
}
