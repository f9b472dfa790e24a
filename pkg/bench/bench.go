// Package bench is Auditlog's performance benchmark: one deterministic
// data set of authentik events (pkg/demo), ingested through the real HTTP
// path into the embedded engine, then every dashboard query timed, then
// retention, disk use and memory, next to authentik's own PostgreSQL
// storage loaded with the same events. `auditlog bench` runs it and writes
// bench/results/latest.json (keys: bench/results/README.md).
//
// The speed targets live here, in the report, and nowhere in unit tests.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/store"
)

// Config is one bench run. Zero values take the defaults of Defaults.
type Config struct {
	Events int           // events in the data set (default 1,000,000)
	Span   time.Duration // they cover this much time up to now (default 30 days)
	Seed   int64

	// Clients are concurrent HTTP senders (default 8). Each waits for its
	// answer, which comes when its events are stored; 8 keep the next
	// insert's events decoded while one is in the engine, as many senders
	// do, where 4 left the engine idle between inserts.
	Clients int
	Batch   int // events per request (default 5,000)

	RawInsertMax   int // events for raw_insert_events_per_s (default min(Events, 1,000,000))
	RawInsertBatch int // events per store.Insert (default ingest.DefaultMaxBatch, the ingest writer's largest batch)

	Runs        int           // timed runs per query (default 20)
	QueryBudget time.Duration // a query stops repeating after this, once it has 3 runs (default 10 s)

	Postgres         bool          // run the PostgreSQL baseline when PostgreSQL is installed
	PGInsertMax      int           // at most this many one-by-one INSERTs (default 20,000)
	PGInsertTime     time.Duration // and at most this long (default 30 s)
	PGQueryBudget    time.Duration // like QueryBudget (default 20 s)
	RetentionTimeout time.Duration // how long the expired day may take to go (default 5 min)

	LibPath string // libchdb; "" finds it as the server does
	WorkDir string // temp data lives under it ("" = os.TempDir())
	Keep    bool   // keep the temp data (the engine's data dir) for a closer look
	Out     string // latest.json path; "" writes none
	// IngestProfile, when set, is where the Go CPU profile of the timed
	// HTTP ingest goes: the part of the run that is ours to make faster.
	IngestProfile string
	Log           io.Writer
}

// Defaults fills the zero fields of c.
func (c Config) Defaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Events, 1_000_000)
	defd(&c.Span, 30*24*time.Hour)
	if c.Seed == 0 {
		c.Seed = 42
	}
	def(&c.Clients, 8)
	def(&c.Batch, 5000)
	def(&c.RawInsertMax, min(c.Events, 1_000_000))
	def(&c.RawInsertBatch, ingest.DefaultMaxBatch)
	def(&c.Runs, 20)
	defd(&c.QueryBudget, 10*time.Second)
	def(&c.PGInsertMax, 20_000)
	defd(&c.PGInsertTime, 30*time.Second)
	defd(&c.PGQueryBudget, 20*time.Second)
	defd(&c.RetentionTimeout, 5*time.Minute)
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// Smoke is a tiny run of the whole pipeline, for CI: it checks that the
// bench works, not how fast anything is.
func Smoke(c Config) Config {
	c.Events, c.Runs, c.RawInsertMax, c.RawInsertBatch = 2000, 3, 2000, 500
	c.Batch, c.PGInsertMax, c.PGInsertTime = 250, 200, 5*time.Second
	c.QueryBudget, c.PGQueryBudget = time.Second, 2*time.Second
	return c.Defaults()
}

// QueryResult is one query's latencies. PostgresP50 is nil when the
// baseline did not run.
type QueryResult struct {
	P50         float64  `json:"p50_ms"`
	P99         float64  `json:"p99_ms"`
	PostgresP50 *float64 `json:"postgres_p50_ms"`
	Runs        int      `json:"runs"`
	Rows        int      `json:"rows"`
}

// Result is latest.json. Its keys are stable; bench/results/README.md
// explains each.
type Result struct {
	Events int     `json:"events"`
	Days   float64 `json:"days"`

	IngestEventsPerS float64 `json:"ingest_events_per_s"`
	// IngestCPU is the CPU time per event the whole process (server,
	// engine, and the load clients) used during the HTTP ingest: what
	// the rate is made of, and whether the kernel took an unusual share.
	IngestCPU CPUPerEvent `json:"ingest_cpu_us_per_event"`
	// SearchIndex is the background build of the search index once the
	// ingest's partitions settled: not part of the ingest's time, as in
	// a running server, where it comes after a partition's day is over.
	SearchIndex         SearchIndexResult `json:"search_index"`
	RawInsertEventsPerS float64           `json:"raw_insert_events_per_s"`
	RawInsertEvents     int               `json:"raw_insert_events"`

	PostgresInsertEventsPerS *float64 `json:"postgres_insert_events_per_s"`
	PostgresCopyEventsPerS   *float64 `json:"postgres_copy_events_per_s"`
	PostgresBytesPerEvent    *float64 `json:"postgres_bytes_per_event"`
	Postgres                 string   `json:"postgres"`

	Queries map[string]QueryResult `json:"queries"`

	RetentionMs   float64 `json:"retention_ms"`
	RetentionRows int     `json:"retention_rows"`

	PeakRSSBytes   uint64 `json:"peak_rss_bytes"`
	PeakRSSProcess string `json:"peak_rss_process"`

	BytesPerEvent float64       `json:"bytes_per_event"`
	Tables        []TableResult `json:"tables"`

	Workload map[string]string `json:"workload"`
	// LoadAvg is /proc/loadavg before and after the queries: other work on
	// the machine (a busy CI runner, a parallel build) shows here, and
	// makes the latencies of that run worth less.
	LoadAvg []string `json:"load_avg"`
	// HostCheckMs is hostCheck's time at the start of the run and after
	// the queries.
	HostCheckMs []float64 `json:"host_check_ms"`

	Engine        string  `json:"engine"`
	EngineVersion string  `json:"engine_version"`
	SchemaVersion int     `json:"schema_version"`
	CPUs          int     `json:"cpus"`
	StartedAt     string  `json:"started_at"`
	DurationS     float64 `json:"duration_s"`
}

// SearchIndexResult is how long building the search index took, and its
// CPU time per event (the whole process).
type SearchIndexResult struct {
	Partitions int         `json:"partitions"`
	Seconds    float64     `json:"seconds"`
	CPU        CPUPerEvent `json:"cpu_us_per_event"`
}

// CPUPerEvent is CPU time in microseconds per event, split by mode.
type CPUPerEvent struct {
	User   float64 `json:"user"`
	System float64 `json:"system"`
}

// TableResult is one table's share of the disk.
type TableResult struct {
	Table         string  `json:"table"`
	Rows          uint64  `json:"rows"`
	Bytes         uint64  `json:"bytes"`
	BytesPerEvent float64 `json:"bytes_per_event"`
}

// sharedEngine lends the main store's engine to the raw insert's store,
// whose Close must leave it open.
type sharedEngine struct{ store.Engine }

func (sharedEngine) Close() error { return nil }

// Run runs the whole bench.
func Run(ctx context.Context, c Config) (*Result, error) {
	c = c.Defaults()
	began := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(c.Log, "%s bench: %s (peak RSS so far %.0f MiB)\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...), float64(peakRSS())/(1<<20))
	}
	work, err := os.MkdirTemp(c.WorkDir, "auditlog-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: temp dir: %w", err)
	}
	if c.Keep {
		logf("keeping the data in %s", work)
	} else {
		defer os.RemoveAll(work)
	}

	res := &Result{Events: c.Events, Days: c.Span.Hours() / 24, Queries: map[string]QueryResult{},
		StartedAt: began.UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(),
		PeakRSSProcess: "this bench process: in-process HTTP server, embedded ClickHouse (libchdb), load clients and data generator; PostgreSQL runs in its own processes and is not counted",
		HostCheckMs:    []float64{hostCheck()}}

	to := began.UTC().Truncate(time.Second)
	from := to.Add(-c.Span)
	logf("generating %d events over %s", c.Events, c.Span)
	ds, err := generate(work, c.Seed, c.Events, from, to)
	if err != nil {
		return nil, err
	}
	w := &workload{tenant: event.DefaultTenant, ids: ds.ids, user: ds.user, action: "login", common: ds.commonTerm, rare: ds.rareTerm}
	res.Workload = map[string]string{
		"user": w.user, "action": w.action, "search_common": w.common, "search_rare": w.rare,
		"search_rare_matches": fmt.Sprint(ds.rareCount), "ndjson_bytes_per_event": fmt.Sprintf("%.0f", float64(ds.bytes)/float64(ds.n)),
	}
	logf("data: %.0f bytes/event of NDJSON; filtered user %q, rare term %q (%d events)", float64(ds.bytes)/float64(ds.n), w.user, w.rare, ds.rareCount)

	ret := event.Retention{Default: 365 * 24 * time.Hour}
	quiet := slog.New(slog.NewTextHandler(c.Log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dataDir := filepath.Join(work, "chdb")

	eng, err := store.OpenEmbedded(c.LibPath, dataDir)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, eng, store.Options{})
	if err != nil {
		eng.Close()
		return nil, err
	}
	srv, err := startServer(st, ret, quiet)
	if err != nil {
		st.Close()
		return nil, err
	}
	// The server owns the store from here and closes it when stopped.
	defer srv.close()
	logf("ingest over HTTP: %d clients, %d events per request, to %s", c.Clients, c.Batch, srv.url)
	stopProfile, err := startProfile(c.IngestProfile)
	if err != nil {
		return nil, err
	}
	user0, sys0 := cpuTime()
	res.IngestEventsPerS, err = postAll(ctx, ds, srv.url, c.Clients, c.Batch)
	user1, sys1 := cpuTime()
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	perEvent := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(ds.n) }
	res.IngestCPU = CPUPerEvent{User: perEvent(user1 - user0), System: perEvent(sys1 - sys0)}
	logf("ingest: %.0f events/s, CPU %.1f µs/event user + %.1f system", res.IngestEventsPerS, res.IngestCPU.User, res.IngestCPU.System)
	if done, err := st.WaitForMerges(ctx, 2*time.Minute); err != nil {
		return nil, err
	} else if !done {
		logf("merges still running after 2 minutes; measuring anyway")
	}
	user0, sys0 = cpuTime()
	indexStart := time.Now()
	parts, err := st.IndexSearch(ctx, 0)
	if err != nil {
		return nil, err
	}
	user1, sys1 = cpuTime()
	res.SearchIndex = SearchIndexResult{Partitions: parts, Seconds: time.Since(indexStart).Seconds(),
		CPU: CPUPerEvent{User: perEvent(user1 - user0), System: perEvent(sys1 - sys0)}}
	logf("search index: %d partitions in %.1f s, CPU %.1f µs/event user + %.1f system", parts, res.SearchIndex.Seconds, res.SearchIndex.CPU.User, res.SearchIndex.CPU.System)
	sts, err := st.Stats(ctx)
	if err != nil {
		return nil, err
	}
	if sts.Events != uint64(ds.n) {
		return nil, fmt.Errorf("bench: the store holds %d events, want %d", sts.Events, ds.n)
	}
	res.Engine, res.EngineVersion, res.SchemaVersion = sts.Engine, sts.EngineVersion, sts.SchemaVersion

	res.LoadAvg = append(res.LoadAvg, loadAvg())
	for _, name := range queryNames {
		t, err := measure(c.Runs, c.QueryBudget, func(i int) (int, error) { return storeQuery(ctx, st, w, name, i) })
		if err != nil {
			return nil, fmt.Errorf("bench: query %s: %w", name, err)
		}
		res.Queries[name] = QueryResult{P50: t.quantile(0.5), P99: t.quantile(0.99), Runs: len(t.runs), Rows: t.rows}
		logf("query %-17s p50 %8.2f ms  p99 %8.2f ms  (%d rows)", name, t.quantile(0.5), t.quantile(0.99), t.rows)
	}

	res.LoadAvg = append(res.LoadAvg, loadAvg())
	res.HostCheckMs = append(res.HostCheckMs, hostCheck())
	if _, err := st.WaitForMerges(ctx, time.Minute); err != nil {
		return nil, err
	}
	usage, err := st.DiskUsage(ctx)
	if err != nil {
		return nil, err
	}
	var total uint64
	for _, u := range usage {
		total += u.Bytes
		res.Tables = append(res.Tables, TableResult{Table: u.Table, Rows: u.Rows, Bytes: u.Bytes, BytesPerEvent: float64(u.Bytes) / float64(ds.n)})
	}
	res.BytesPerEvent = float64(total) / float64(ds.n)
	logf("disk: %.1f bytes/event", res.BytesPerEvent)

	if res.RetentionMs, res.RetentionRows, err = retention(ctx, st, c, from, ds.n, logf); err != nil {
		return nil, err
	}
	logf("retention: one expired day of %d events gone in %.1f ms", res.RetentionRows, res.RetentionMs)

	// Raw inserts go to a scratch database of the same engine, dropped
	// afterwards, so the main one holds the data set once. They come last:
	// dropping a million events' parts deletes thousands of files, and
	// an ext4 without a journal then looks past each deleted inode for a
	// few minutes whenever a file is created, which made the ingest after
	// it spend a quarter of its CPU in the kernel.
	raw, err := store.Open(ctx, sharedEngine{eng}, store.Options{Database: "bench_raw"})
	if err != nil {
		return nil, err
	}
	logf("raw insert: %d events, store.Insert in batches of %d", c.RawInsertMax, c.RawInsertBatch)
	res.RawInsertEventsPerS, res.RawInsertEvents, err = rawInsert(ctx, ds, raw, ret, c.RawInsertMax, c.RawInsertBatch)
	if err == nil {
		err = raw.DropDatabase(ctx)
	}
	if err != nil {
		return nil, err
	}
	logf("raw insert: %.0f events/s", res.RawInsertEventsPerS)
	res.PeakRSSBytes = peakRSS()

	if !c.Postgres {
		res.Postgres = "skipped: not asked for"
	} else if pg, err := runPostgres(ctx, filepath.Join(work, "pg"), ds, w, c.Runs, c.PGInsertMax, c.PGInsertTime, c.PGQueryBudget, logf); err != nil {
		if err != errNoPostgres {
			return nil, err
		}
		res.Postgres = "skipped: " + err.Error()
		logf("postgres: %s; skipping the baseline", err)
	} else {
		res.Postgres = "ran"
		res.PostgresInsertEventsPerS, res.PostgresCopyEventsPerS, res.PostgresBytesPerEvent = &pg.insertPerS, &pg.copyPerS, &pg.bytesPerEvent
		for name, v := range pg.p50 {
			q := res.Queries[name]
			q.PostgresP50 = &v
			res.Queries[name] = q
		}
	}
	res.DurationS = time.Since(began).Seconds()
	if c.Out != "" {
		if err := writeJSON(c.Out, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// retention adds one day's share of the data set (Events / days) dated
// the day before it, expiring in a moment, waits until they have expired,
// and times the store's retention until they are gone while the rest
// stays. The day goes into the main store, so retention works against
// the full data set as it would in production.
func retention(ctx context.Context, st *store.Store, c Config, from time.Time, keep int, logf func(string, ...any)) (float64, int, error) {
	days := max(1, int(c.Span.Hours()/24))
	n := max(1, c.Events/days)
	expires := time.Now().UTC().Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
	logf("retention: inserting one day of %d events expiring at %s", n, expires.Format(time.TimeOnly))
	batch := make([]event.Event, 0, c.RawInsertBatch)
	now := time.Now().UTC().Truncate(time.Millisecond)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := st.Insert(ctx, batch); err != nil {
			return err
		}
		batch = batch[:0]
		return nil
	}
	err := demo.Stream(c.Seed+1, n, from.Add(-24*time.Hour), from, func(_ time.Time, raw []byte) error {
		e, err := prepare(raw, event.Retention{}, now)
		if err != nil {
			return err
		}
		e.Expires = expires
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("bench: retention day: %w", err)
	}
	if _, err := st.WaitForMerges(ctx, time.Minute); err != nil {
		return 0, 0, err
	}
	time.Sleep(time.Until(expires) + 1100*time.Millisecond)
	start := time.Now()
	deadline := start.Add(c.RetentionTimeout)
	for {
		if err := st.ApplyRetention(ctx); err != nil {
			return 0, 0, err
		}
		sts, err := st.Stats(ctx)
		if err != nil {
			return 0, 0, err
		}
		if sts.Events == uint64(keep) {
			break
		}
		if sts.Events < uint64(keep) {
			return 0, 0, fmt.Errorf("bench: retention removed too much: %d events left, want %d", sts.Events, keep)
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("bench: the expired day is still there after %s: %d events, want %d", c.RetentionTimeout, sts.Events, keep)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return float64(time.Since(start)) / float64(time.Millisecond), n, nil
}

func writeJSON(path string, res *Result) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("bench: results dir: %w", err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write results: %w", err)
	}
	return nil
}

// startProfile starts a Go CPU profile written to path ("" for none) and
// returns what stops it.
func startProfile(path string) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		return nil
	}, nil
}
