// Package store keeps events in ClickHouse. It owns the schema, its
// migrations and every SQL statement; the engines below it only execute
// text, so the embedded engine and a ClickHouse server run the same SQL.
package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/auditlog/auditlog/pkg/event"
)

// Options tune a Store. Zero values take the defaults.
type Options struct {
	Database string // default "auditlog"
	Cluster  string // ClickHouse cluster name for ON CLUSTER DDL; "" for one server
	// QueryTimeout and MaxMemory are passed to ClickHouse with every read
	// (max_execution_time, max_memory_usage), so one bad dashboard cannot
	// take the engine down with it.
	QueryTimeout time.Duration
	MaxMemory    int64
	// HotBytes is the memory of the hot tier (hot.go), which only the
	// embedded engine has: 0 takes DefaultHotBytes, a negative value
	// turns it off.
	HotBytes int
}

// Store is the event store over one engine.
type Store struct {
	eng  Engine
	l    layout
	opts Options
	// writeMu guards inflight, the tenant/id keys of inserts under way
	// (see claim), so that concurrent sends of one id store it once while
	// inserts of different ids run side by side; landed signals the end
	// of an insert.
	writeMu  sync.Mutex
	inflight map[string]int
	landed   *sync.Cond
	// forceRaw makes aggregates read raw events only, never the rollups;
	// tests set it to check that both give the same answers.
	forceRaw bool
	// hot holds the newest events in memory; nil without one.
	hot *hotTier
	// reader marks a Reader: it must not write (its hot tier is the
	// writer's) nor close the engine.
	reader bool
	// deferSearch: inserts and merges leave the search index to
	// IndexSearch, which keeps what it has seen of each partition's parts.
	deferSearch bool
	// readQuirks are settings every read adds, for the engine version
	// at hand (see engineReadSettings).
	readQuirks string
	// lifts: the schema has context_lifted (see lift.go), so inserts
	// lift members out of contexts and reads put them back.
	lifts bool
	// expiry bounds the stored events' expiry from below where this
	// store is the table's one writer (as for hot); nil where it cannot
	// know.
	expiry *expiryFloor
	// spans bounds how long after their time the stored events expire,
	// under the same condition as expiry; nil where it cannot know.
	spans      *expirySpans
	searchMu   sync.Mutex
	searchSeen map[string]partsSeen
}

// Open migrates the schema to the latest version and returns the store.
func Open(ctx context.Context, eng Engine, opts Options) (*Store, error) {
	return openAt(ctx, eng, opts, LatestVersion())
}

func openAt(ctx context.Context, eng Engine, opts Options, version int) (*Store, error) {
	l, err := newLayout(opts.Database, opts.Cluster)
	if err != nil {
		return nil, err
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 30 * time.Second
	}
	s := &Store{eng: eng, l: l, opts: opts, lifts: version >= liftVersion}
	s.landed = sync.NewCond(&s.writeMu)
	if err := s.migrate(ctx, version); err != nil {
		return nil, err
	}
	if s.readQuirks, err = s.engineReadSettings(ctx); err != nil {
		return nil, err
	}
	if eng.Name() == "embedded" && opts.HotBytes >= 0 && version == LatestVersion() {
		if opts.HotBytes == 0 {
			opts.HotBytes = DefaultHotBytes
		}
		// Nothing stored so far is held, so coverage starts above the
		// newest stored time.
		floor, err := s.newestTime(ctx)
		if err != nil {
			return nil, err
		}
		s.hot = newHotTier(opts.HotBytes, floor)
		if s.expiry, err = s.readExpiryFloor(ctx); err != nil {
			return nil, err
		}
		if s.spans, err = s.readExpirySpans(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// expiryFloor is at most the earliest expiry (Unix seconds) of any stored
// event. Aggregates read the events expiring by today raw, in a statement
// of their own (see unionSQL); while the floor is beyond tomorrow that
// statement has nothing to find and is left out: over the bench's 1M
// events a per-minute series went 12.3 -> 10.0 ms. Only a store that is
// its table's one writer can keep it, so it comes with the hot tier:
// Insert lowers it before the rows land, nothing else adds events, and
// retention only removes them.
type expiryFloor struct{ sec atomic.Int64 }

func (f *expiryFloor) lower(sec int64) {
	for {
		cur := f.sec.Load()
		if sec >= cur || f.sec.CompareAndSwap(cur, sec) {
			return
		}
	}
}

// readExpiryFloor starts the floor at the least expiry of the parts on
// disk (the partition key's min-max index, kept per part).
func (s *Store) readExpiryFloor(ctx context.Context) (*expiryFloor, error) {
	var sec int64
	q := "SELECT if(count() = 0, toInt64(" + intLit(math.MaxInt64) + "), toInt64(toUnixTimestamp(min(min_time)))) FROM system.parts" +
		" WHERE active AND rows > 0 AND database = " + quote(s.l.db) + " AND table = 'events'"
	if err := queryRow(ctx, s.eng, "read the earliest expiry", q, &sec); err != nil {
		return nil, err
	}
	f := &expiryFloor{}
	f.sec.Store(sec)
	return f, nil
}

// expirySpans keeps, in days, how long after their time the stored
// events expire (expires - time, as stored). Partitions are expiry days,
// so Get's first read, which knows the event's time from its id, can name
// the few expiry days it may have, and the engine then weighs the primary
// key of those days' parts instead of every part's (by id over 10M events
// in 306 parts: 16.2 -> 13.8 ms at the median). A set rather than a
// min-max: a store keeps logins for 30 days and model changes for years,
// and the days between hold neither. It is kept where expiryFloor is,
// for the same reason: Insert adds to it before the rows land, and
// retention only removes events. A read that misses under it is tried
// again without it, so an event stored some other way is still found.
type expirySpans struct {
	mu   sync.RWMutex
	days map[int64]struct{} // k: some event has expires - time in [k-1, k+1] days
}

const dayMs = 24 * 60 * 60 * 1000

// maxSpanRuns bounds the expiry ranges one lookup names; past it the
// retention is too varied for the names to pay, and the read names none.
const maxSpanRuns = 16

// spanDay is the k of expirySpans for e: its span lies in [k, k+1) days.
func spanDay(e *event.Event) int64 {
	d := int64(dateTime32(e.Expires))*1000 - e.Time.UnixMilli()
	k := d / dayMs
	if d < 0 && d%dayMs != 0 {
		k-- // floor
	}
	return k
}

// add records days not known yet; it is a no-op (read lock only) for
// the ones known, as nearly every insert's are.
func (sp *expirySpans) add(days []int64) {
	sp.mu.RLock()
	missing := false
	for _, k := range days {
		if _, ok := sp.days[k]; !ok {
			missing = true
			break
		}
	}
	sp.mu.RUnlock()
	if !missing {
		return
	}
	sp.mu.Lock()
	for _, k := range days {
		sp.days[k] = struct{}{}
	}
	sp.mu.Unlock()
}

// expiresFor is a condition on expires that every stored event with a
// time in [from, to] meets (a zero bound is open), or "" when it would
// not narrow the read. Reads other than Get have no second read to fall
// back on: they rely, as mayHoldExpiring does, on this store being its
// table's one writer.
func (sp *expirySpans) expiresFor(from, to time.Time) string {
	if sp == nil || (from.IsZero() && to.IsZero()) {
		return ""
	}
	sp.mu.RLock()
	ks := make([]int64, 0, len(sp.days))
	for k := range sp.days {
		ks = append(ks, k)
	}
	sp.mu.RUnlock()
	if len(ks) == 0 {
		return ""
	}
	slices.Sort(ks)
	// Seconds, rounded outwards; clamped to what a DateTime holds.
	lower := func(k int64) string {
		return secTimeLit(int64(max(math.Floor(float64(from.UnixMilli()+(k-1)*dayMs)/1000), 0)))
	}
	upper := func(k int64) string {
		return secTimeLit(int64(min(math.Ceil(float64(to.UnixMilli()+(k+1)*dayMs)/1000), math.MaxUint32)))
	}
	switch {
	case to.IsZero():
		return "expires >= " + lower(ks[0])
	case from.IsZero():
		return "expires <= " + upper(ks[len(ks)-1])
	}
	reach := (to.UnixMilli() - from.UnixMilli()) / dayMs // ranges this far apart touch
	var ors []string
	for i := 0; i < len(ks); {
		j := i
		for j+1 < len(ks) && ks[j+1] <= ks[j]+2+reach {
			j++
		}
		if from.UnixMilli()+(ks[i]-1)*dayMs <= math.MaxUint32*1000 && to.UnixMilli()+(ks[j]+1)*dayMs >= 0 {
			ors = append(ors, "expires BETWEEN "+lower(ks[i])+" AND "+upper(ks[j]))
		}
		i = j + 1
	}
	if len(ors) == 0 || len(ors) > maxSpanRuns {
		return ""
	}
	if len(ors) == 1 {
		return ors[0]
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// readExpirySpans starts the set from the daily rollup, which keeps each
// row's day and expiry day: an event's expires - time lies within a day
// of their difference.
func (s *Store) readExpirySpans(ctx context.Context) (*expirySpans, error) {
	q := "SELECT DISTINCT intDiv(toInt64(toUnixTimestamp(toDateTime(expires_day, 'UTC'))) * 1000 - b, " + intLit(dayMs) + ") FROM " + s.l.table("events_1d")
	days, err := queryRows(ctx, s.eng, "read the expiry spans", q, func(r Rows, k *int64) error { return r.Scan(k) })
	if err != nil {
		return nil, err
	}
	sp := &expirySpans{days: make(map[int64]struct{}, len(days))}
	for _, k := range days {
		sp.days[k] = struct{}{}
	}
	return sp, nil
}

// mayHoldExpiring tells whether a stored event may expire by the end of
// the engine's today. The engine reads "today" from its own clock, so the
// floor must clear a day more than this one's.
func (s *Store) mayHoldExpiring(now time.Time) bool {
	return s.expiry == nil || s.expiry.sec.Load() < now.UTC().Truncate(24*time.Hour).Add(48*time.Hour).Unix()
}

// newestTime is the latest event time stored (the Unix epoch for none).
func (s *Store) newestTime(ctx context.Context) (time.Time, error) {
	// Without the read limits: they guard users' queries, and a store
	// that cannot open would be worse than one slow read.
	var ms int64
	if err := queryRow(ctx, s.eng, "newest time", "SELECT toUnixTimestamp64Milli(max(time)) FROM "+s.l.table("events"), &ms); err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms).UTC(), nil
}

// Reader returns a store for reads under other query limits (the
// QueryTimeout and MaxMemory of limits) over the same engine, schema and
// hot tier: the events this store writes are the ones its readers see.
// Closing a reader leaves the engine open.
func (s *Store) Reader(limits Options) *Store {
	opts := s.opts
	if limits.QueryTimeout > 0 {
		opts.QueryTimeout = limits.QueryTimeout
	}
	opts.MaxMemory = limits.MaxMemory
	return &Store{eng: s.eng, l: s.l, opts: opts, hot: s.hot, forceRaw: s.forceRaw, reader: true, deferSearch: s.deferSearch, readQuirks: s.readQuirks, expiry: s.expiry, spans: s.spans, lifts: s.lifts}
}

// Engine returns the engine's name ("embedded" or "clickhouse").
func (s *Store) Engine() string { return s.eng.Name() }

// Close closes the engine, unless this is a Reader.
func (s *Store) Close() error {
	if s.reader {
		return nil
	}
	return s.eng.Close()
}

// readSettings is appended to every SELECT.
func (s *Store) readSettings() string { return s.readSettingsThreads(0) }

// readSettingsThreads is readSettings for a read that should use at most
// threads threads (0: the engine's default). Small reads go faster on
// one: starting a pipeline per core costs more than they read.
func (s *Store) readSettingsThreads(threads int) string {
	// Plain pread, not ClickHouse's default thread-pool reads: our reads
	// touch a few granules of many columns, or scan data the page cache
	// holds, and handing each read to another thread cost more than it
	// hid (over the bench's million events: by id 10 -> 7 ms, rare-term
	// search 230-270 -> 170 ms, every other query 5-20% less).
	set := fmt.Sprintf(" SETTINGS max_execution_time = %d, local_filesystem_read_method = 'pread'", int64(s.opts.QueryTimeout.Seconds()+0.999))
	if threads > 0 {
		set += fmt.Sprintf(", max_threads = %d", threads)
	}
	if s.opts.MaxMemory > 0 {
		set += fmt.Sprintf(", max_memory_usage = %d", s.opts.MaxMemory)
	}
	return set + s.readQuirks
}

// engineReadSettings turns off what the engine at hand gets wrong in our
// reads. ClickHouse 26's top-K dynamic filter (for ORDER BY … LIMIT)
// applies its time threshold to the first column of the blocks it reads
// when the time is selected only through a function of it, as event reads
// select it: a search page over more rows than a block failed with "Type
// mismatch … Expected: DateTime64(3, 'UTC'). Got: UUID" (a common term
// over 10M events, read from disk; TestSearchPageOverManyBlocks). Our
// pages are read in time windows that already stop near the page's end,
// so they lose nothing without it. Engines without the setting have no
// such filter.
func (s *Store) engineReadSettings(ctx context.Context) (string, error) {
	var n uint64
	err := queryRow(ctx, s.eng, "look up use_top_k_dynamic_filtering",
		"SELECT toUInt64(count()) FROM system.settings WHERE name = 'use_top_k_dynamic_filtering'", &n)
	if err != nil || n == 0 {
		return "", err
	}
	return ", use_top_k_dynamic_filtering = 0", nil
}

// InsertResult tells which events of a batch were new.
type InsertResult struct {
	Inserted int
	// Duplicate[i] is true when batch[i] was already stored (or appeared
	// earlier in the same batch) and was not written again.
	Duplicate []bool
}

// Duplicates counts the events that were not written again.
func (r InsertResult) Duplicates() int {
	n := 0
	for _, d := range r.Duplicate {
		if d {
			n++
		}
	}
	return n
}

// Insert writes a batch of normalized, validated events in one statement,
// skipping ids the tenant already has. When it returns nil the rows are in
// the engine's parts on disk. The hot tier keeps the events' Context bytes
// as they are (copying them was a tenth of our share of an insert): the
// caller must not change them afterwards.
func (s *Store) Insert(ctx context.Context, batch []event.Event) (InsertResult, error) {
	res := InsertResult{Duplicate: make([]bool, len(batch))}
	if len(batch) == 0 {
		return res, nil
	}
	if s.reader {
		return res, errors.New("store: insert through a reader; write through the store it was made from")
	}
	keys := make([]string, len(batch))
	for i := range batch {
		keys[i] = batch[i].Tenant + "/" + canonicalID(batch[i].ID)
	}
	// idOf is the canonical id of batch[i], from its key.
	idOf := func(i int) string { return keys[i][len(batch[i].Tenant)+1:] }
	existing, err := s.claim(ctx, batch, keys)
	if err != nil {
		return res, err
	}
	defer s.release(keys)
	body := rowBuffer()
	var ws []written // per inserted event, for the hot tier
	seen := make(map[string]struct{}, len(batch))
	var spans []int64 // of this batch, distinct
	for i := range batch {
		key := keys[i]
		if _, dup := existing[key]; dup {
			res.Duplicate[i] = true
			continue
		}
		if _, dup := seen[key]; dup {
			res.Duplicate[i] = true
			continue
		}
		seen[key] = struct{}{}
		if s.expiry != nil {
			// Before the rows land, so that no read skips them.
			s.expiry.lower(int64(dateTime32(batch[i].Expires)))
		}
		if s.spans != nil {
			if k := spanDay(&batch[i]); !slices.Contains(spans, k) {
				spans = append(spans, k)
			}
		}
		var w written
		body, w = appendRowBinary(body, &batch[i], s.lifts)
		if s.hot != nil {
			ws = append(ws, w)
		}
		res.Inserted++
	}
	if res.Inserted == 0 {
		return res, nil
	}
	if s.spans != nil {
		s.spans.add(spans) // before the rows land, as the floor
	}
	err = s.eng.Insert(ctx, s.insertion(body))
	putRowBuffer(body)
	if err != nil {
		if s.hot != nil {
			s.hot.lose(batch)
		}
		return InsertResult{Duplicate: make([]bool, len(batch))}, fmt.Errorf("store: insert batch of %d: %w", res.Inserted, err)
	}
	if s.hot != nil {
		hes := make([]*hotEvent, 0, res.Inserted)
		for i := range batch {
			if !res.Duplicate[i] {
				hes = append(hes, newHotEvent(&batch[i], idOf(i), keys[i], ws[len(hes)]))
			}
		}
		s.hot.add(hes)
	}
	return res, nil
}

// rowBuffers keeps the RowBinary bodies of finished inserts for the next
// ones. A batch's body is tens of megabytes: grown from nothing each time,
// its copies and fresh pages were 5% of the CPU of an HTTP ingest. Not a
// sync.Pool, which drops what it holds at every other GC cycle, and an
// ingest runs several cycles a second.
var rowBuffers = make(chan []byte, 4)

// rowBuffer is an empty body, with room if a finished insert left one.
func rowBuffer() []byte {
	select {
	case b := <-rowBuffers:
		return b[:0]
	default:
		return nil
	}
}

// putRowBuffer keeps a body for a later insert, unless enough are kept or
// it is bigger than the writer's batches make (an import of huge events),
// which memory should not hold on to.
func putRowBuffer(b []byte) {
	if cap(b) > 64<<20 {
		return
	}
	select {
	case rowBuffers <- b:
	default:
	}
}

// claim makes "look up stored ids, then insert" atomic per id while
// inserts run side by side: under writeMu it finds which of the batch's
// ids are stored already and marks the rest in flight. An id that another
// insert has in flight is waited for (that insert may still fail, and
// then this one must store the event), and the lookup is made again.
// release ends the claim.
func (s *Store) claim(ctx context.Context, batch []event.Event, keys []string) (map[string]struct{}, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	for {
		busy := false
		for _, k := range keys {
			if _, ok := s.inflight[k]; ok {
				busy = true
				break
			}
		}
		if !busy {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.landed.Wait()
	}
	existing, err := s.existingIDs(ctx, batch)
	if err != nil {
		return nil, err
	}
	if s.inflight == nil {
		s.inflight = map[string]int{}
	}
	for _, k := range keys {
		s.inflight[k]++
	}
	return existing, nil
}

func (s *Store) release(keys []string) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	for _, k := range keys {
		if s.inflight[k]--; s.inflight[k] <= 0 {
			delete(s.inflight, k)
		}
	}
	s.landed.Broadcast()
}

// insertion is an event insert of rows.
func (s *Store) insertion(rows []byte) Insertion {
	in := Insertion{Table: s.l.table("events"), Columns: insertColumns, Structure: insertStructure, Settings: s.insertSettings(), Rows: rows}
	if !s.lifts {
		in.Columns, in.Structure = insertColumnsBefore8, insertStructureBefore8
	}
	return in
}

// insertSettings: a historical import spans many expiry days; on a
// cluster the insert must reach the shards before we acknowledge it.
func (s *Store) insertSettings() string {
	// optimize_on_insert = 0: the engine would otherwise run every insert
	// through the ReplacingMergeTree merge to drop rows sharing a sorting
	// key, copying every column once more; Insert already keeps an id once
	// per tenant, and the rollups' views group their rows themselves
	// (20,000 bench events: 123 -> 105 ms in the engine).
	set := "max_partitions_per_insert_block = 10000, optimize_on_insert = 0"
	if s.deferSearch {
		set += ", " + searchIndexSetting + " = " + quote(searchIndexName)
	}
	if s.l.cluster != "" {
		set += ", distributed_foreground_insert = 1"
	}
	return set
}

// canonicalID is the id as the engine prints a UUID (lower case, dashed),
// so that ids from the batch and from the table compare as strings.
func canonicalID(id string) string {
	if u, err := uuid.Parse(id); err == nil {
		return u.String()
	}
	return id
}

// idLookupChunk bounds the ids of one duplicate lookup by id: each id takes
// about 100 bytes of query text (it is listed for the id and for the index
// expression), and ClickHouse refuses text over max_query_size (256 KiB by
// default).
const idLookupChunk = 2000

// existingIDs returns "tenant/id" for the batch's ids already stored.
//
// UUIDv7 ids (native ids, and every id ingest generates) carry a time, and
// a minmax index on that time (idx_id_time) lets one query fetch every
// stored id whose time falls in the batch's id-time ranges, at a cost that
// follows the batch, not the table. The stored row's own time column plays
// no part, so an event re-sent with another time is still found. Other ids
// (authentik's are UUIDv4) are looked up by value over the id bloom filter.
func (s *Store) existingIDs(ctx context.Context, batch []event.Event) (map[string]struct{}, error) {
	out := map[string]struct{}{}
	var times []int64
	var others []event.Event
	for i := range batch {
		if t, ok := idTime(batch[i].ID); ok {
			times = append(times, t.UnixMilli())
			continue
		}
		if _, ok := uuidLit(batch[i].ID); !ok {
			return nil, fmt.Errorf("store: event %d: id %q is not a UUID", i, batch[i].ID)
		}
		others = append(others, batch[i])
	}
	if len(times) > 0 {
		if err := s.lookupIDTimes(ctx, idTimeRanges(times, maxIDRanges), out); err != nil {
			return nil, err
		}
	}
	for start := 0; start < len(others); start += idLookupChunk {
		if err := s.lookupIDs(ctx, others[start:min(start+idLookupChunk, len(others))], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// maxIDRanges bounds the ranges of one id-time lookup. Each range costs
// the engine about 0.4 ms of index analysis over a month of parts (500
// made a batch's lookup take longer than its insert), while a range wider
// than it needs to be only reads a few more ids: a live batch is one
// range, and a group commit of several senders a few.
const maxIDRanges = 8

// idTimeRanges turns id times (Unix ms) into at most max closed ranges
// covering them all: sorted, then merged across the smallest gaps first,
// so a batch of live events is one range and a scattered re-send stays
// many narrow ones.
func idTimeRanges(times []int64, max int) [][2]int64 {
	ts := slices.Clone(times)
	slices.Sort(ts)
	ts = slices.Compact(ts)
	if len(ts) <= max {
		out := make([][2]int64, 0, len(ts))
		for _, t := range ts {
			if n := len(out); n > 0 && t-out[n-1][1] <= 1000 {
				out[n-1][1] = t
				continue
			}
			out = append(out, [2]int64{t, t})
		}
		return out
	}
	// Keep the max-1 widest gaps as the splits between ranges.
	gaps := make([]int, len(ts)-1)
	for i := range gaps {
		gaps[i] = i
	}
	slices.SortFunc(gaps, func(a, b int) int {
		ga, gb := ts[a+1]-ts[a], ts[b+1]-ts[b]
		if ga != gb {
			if ga > gb {
				return -1
			}
			return 1
		}
		return a - b
	})
	splits := gaps[:max-1]
	slices.Sort(splits)
	out := make([][2]int64, 0, max)
	start := 0
	for _, g := range splits {
		out = append(out, [2]int64{ts[start], ts[g]})
		start = g + 1
	}
	return append(out, [2]int64{ts[start], ts[len(ts)-1]})
}

// idTimeExpr is the expression of the id-time index; reads must use it
// verbatim for the index to apply.
const idTimeExpr = "UUIDv7ToDateTime(id, 'UTC')"

// idOtherExpr is the expression of the bloom filter over ids (idx_id_other):
// the id as a number, except for a UUIDv7 whose time is the event's own,
// which ingest mints and most senders send. Those all become 0, so the
// filter holds only the other ids (authentik's UUIDv4, ids minted at
// another moment) and takes 0.003 bytes per event instead of 1.9 when
// every id is v7: the sorting key and the id-time index find the v7 ones.
// A non-v7 id reads as 1970-01-01 in idTimeExpr, so an event at that
// instant keeps its id. No constant function may appear in it (the
// engine then no longer matches a read's condition to the index), hence
// the product rather than an if(). Reads compare it with otherIDLit, and
// must use it verbatim.
const idOtherExpr = "toUInt128(id) * ((" + idTimeExpr + " != time) OR (toUnixTimestamp64Milli(time) = 0))"

// otherIDLit is an id literal as idOtherExpr gives it (lit from uuidLit).
func otherIDLit(lit string) string { return "toUInt128(" + lit + ")" }

// idTime returns the time of a UUIDv7 id when the engine holds it as it
// is; beyond DateTime64's range it would clamp it, and such ids, like
// every other version, are looked up by value (idOtherExpr).
func idTime(id string) (time.Time, bool) {
	t, ok := event.TimeFromID(id)
	return t, ok && !t.Before(event.MinTime) && t.Before(event.MaxTime)
}

// lookupIDTimes adds every stored tenant/id whose id time lies in one of
// ranges (Unix ms, inclusive) to out.
func (s *Store) lookupIDTimes(ctx context.Context, ranges [][2]int64, out map[string]struct{}) error {
	ors := make([]string, len(ranges))
	for i, r := range ranges {
		ors[i] = idTimeExpr + " BETWEEN " + msTimeLit(r[0]) + " AND " + msTimeLit(r[1])
	}
	q := "SELECT toString(tenant), toString(id) FROM " + s.l.table("events") + " WHERE " + strings.Join(ors, " OR ") + s.readSettings()
	return s.collectIDs(ctx, q, out)
}

// lookupIDs adds the ids of chunk that are already stored to out.
func (s *Store) lookupIDs(ctx context.Context, chunk []event.Event, out map[string]struct{}) error {
	ids := make([]string, len(chunk))
	nums := make([]string, len(chunk))
	for i := range chunk {
		ids[i] = quote(canonicalID(chunk[i].ID))
		nums[i] = otherIDLit("toUUID(" + ids[i] + ")")
	}
	q := "SELECT toString(tenant), toString(id) FROM " + s.l.table("events") +
		" WHERE id IN (" + strings.Join(ids, ", ") + ") AND " + idOtherExpr + " IN (" + strings.Join(nums, ", ") + ")" + s.readSettings()
	return s.collectIDs(ctx, q, out)
}

// collectIDs runs a lookup of (tenant, id) rows into out. Rows of other
// tenants come back too; the caller's keys include the tenant, so they
// never match.
func (s *Store) collectIDs(ctx context.Context, q string, out map[string]struct{}) error {
	rows, err := s.eng.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("store: look up existing ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tenant, id string
		if err := rows.Scan(&tenant, &id); err != nil {
			return fmt.Errorf("store: look up existing ids: %w", err)
		}
		out[tenant+"/"+id] = struct{}{}
	}
	return rows.Err()
}

// ApplyRetention makes the engine apply TTL now instead of at its next
// merge. Retention works without it (expired parts go when their expiry
// day is over); tests and operators use it to see the effect at once. It
// drops the parts whose rows have all expired, then deletes the expired
// rows of parts that also hold live ones, touching only the partitions
// (expiry days) that have expired rows.
func (s *Store) ApplyRetention(ctx context.Context) error {
	tables := []string{"events"}
	for _, r := range rollups {
		tables = append(tables, r.name)
	}
	if s.l.cluster != "" {
		// system.parts is per node; on a cluster merge every partition.
		for _, t := range tables {
			q := fmt.Sprintf("OPTIMIZE TABLE %s%s FINAL", s.l.storageTable(t), s.l.onCluster())
			if err := s.eng.Exec(ctx, q); err != nil {
				return fmt.Errorf("store: apply retention to %s: %w", t, err)
			}
		}
		return s.deleteExpired(ctx, "")
	}
	expired, err := s.expiredPartitions(ctx, tables)
	if err != nil {
		return err
	}
	for _, p := range expired {
		q := "OPTIMIZE TABLE " + s.l.table(p[0]) + " PARTITION ID " + quote(p[1]) + " FINAL"
		if err := s.eng.Exec(ctx, q); err != nil {
			return fmt.Errorf("store: apply retention to %s partition %s: %w", p[0], p[1], err)
		}
	}
	// What is left expired lives in parts with rows still to keep.
	if expired, err = s.expiredPartitions(ctx, []string{"events"}); err != nil {
		return err
	}
	for _, p := range expired {
		if err := s.deleteExpired(ctx, p[1]); err != nil {
			return err
		}
	}
	return nil
}

// expiredPartitions lists (table, partition id) of the tables' active
// parts that hold rows past their TTL.
func (s *Store) expiredPartitions(ctx context.Context, tables []string) ([][2]string, error) {
	q := "SELECT DISTINCT toString(table), toString(partition_id) FROM system.parts WHERE database = " + quote(s.l.db) +
		" AND table IN " + quoteList(tables) + " AND active AND delete_ttl_info_min > toDateTime(0) AND delete_ttl_info_min <= now()" +
		" ORDER BY 1, 2" + s.readSettings()
	return queryRows(ctx, s.eng, "find expired parts", q, func(r Rows, tp *[2]string) error { return r.Scan(&tp[0], &tp[1]) })
}

// deleteExpired deletes expired events, of one partition or ("") all.
// The rollups need no such step: reads take the events of a day that is
// not over yet from the events table.
func (s *Store) deleteExpired(ctx context.Context, partition string) error {
	in := ""
	if partition != "" {
		in = " IN PARTITION ID " + quote(partition)
	}
	q := "DELETE FROM " + s.l.storageTable("events") + s.l.onCluster() + in + " WHERE expires <= now()"
	if err := s.eng.Exec(ctx, q); err != nil {
		return fmt.Errorf("store: delete expired events: %w", err)
	}
	return nil
}

// Stats describes the store for health checks and metrics.
type Stats struct {
	Engine        string
	EngineVersion string
	Location      string
	SchemaVersion int
	Events        uint64
	Bytes         uint64
}

// Stats counts events and bytes on disk.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Engine: s.eng.Name(), Location: s.eng.Location()}
	var err error
	if st.EngineVersion, err = s.eng.Version(ctx); err != nil {
		return st, fmt.Errorf("store: engine version: %w", err)
	}
	if st.SchemaVersion, err = s.SchemaVersion(ctx); err != nil {
		return st, err
	}
	parts := "system.parts"
	if s.l.cluster != "" {
		parts = "clusterAllReplicas(" + quote(s.l.cluster) + ", system.parts)"
	}
	storage := "events"
	if s.l.cluster != "" {
		storage = "events_local"
	}
	q := "SELECT toUInt64(count()), (SELECT toUInt64(sum(bytes_on_disk)) FROM " + parts +
		" WHERE database = " + quote(s.l.db) + " AND table = " + quote(storage) + " AND active) FROM " +
		s.l.table("events") + s.readSettings()
	return st, queryRow(ctx, s.eng, "stats", q, &st.Events, &st.Bytes)
}
