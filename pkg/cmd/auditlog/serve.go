package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/geoip"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/libchdb"
	"github.com/auditlog/auditlog/pkg/metrics"
	"github.com/auditlog/auditlog/pkg/query"
	"github.com/auditlog/auditlog/pkg/server"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/stream"
)

// backendFlags are the flags of everything behind the HTTP layer: the
// store, GeoIP, retention and the ingest queue. serve, demo and import
// --data share them.
type backendFlags struct {
	data       string
	engine     string
	chAddr     string
	chDatabase string
	chUser     string
	chCluster  string
	chTLS      bool
	chdbLib    string
	geoCity    string
	geoASN     string
	geoAnon    string
	retention  string
	rules      listFlag
	queueSize  int
	logLevel   string
	logFormat  string
	// Limits of every read a query makes, passed to ClickHouse.
	queryTimeout    time.Duration
	queryMaxMemory  sizeFlag
	queryConcurrent int
}

func (b *backendFlags) register(fs *flag.FlagSet, defaultData string) {
	fs.StringVar(&b.data, "data", defaultData, "data directory of the embedded engine")
	fs.StringVar(&b.engine, "engine", "embedded", "store engine: embedded (ClickHouse in the process, data in --data) or clickhouse (a server)")
	fs.StringVar(&b.chAddr, "clickhouse-addr", "127.0.0.1:9000", "ClickHouse native-protocol address(es), comma-separated host:port (with --engine clickhouse)")
	fs.StringVar(&b.chDatabase, "clickhouse-database", "auditlog", "ClickHouse database")
	fs.StringVar(&b.chUser, "clickhouse-user", "default", "ClickHouse user; the password comes from $AUDITLOG_CLICKHOUSE_PASSWORD")
	fs.StringVar(&b.chCluster, "clickhouse-cluster", "", "ClickHouse cluster for ON CLUSTER DDL and distributed tables")
	fs.BoolVar(&b.chTLS, "clickhouse-tls", false, "connect to ClickHouse with TLS")
	fs.StringVar(&b.chdbLib, "chdb-lib", "", "path of libchdb.so (default: $CHDB_LIB_PATH, then the cache of go tool mage setup)")
	fs.StringVar(&b.geoCity, "geoip-city", "", "MaxMind GeoIP2/GeoLite2 City (or Country) database; reloaded on SIGHUP and when the file changes")
	fs.StringVar(&b.geoASN, "geoip-asn", "", "MaxMind GeoLite2 ASN database")
	fs.StringVar(&b.geoAnon, "geoip-anonymous", "", "MaxMind GeoIP2 Anonymous-IP database")
	fs.StringVar(&b.retention, "retention", "365d", "how long events are kept unless a rule or the event says otherwise (365d, 5y, 2w, 12h, or days=30;hours=12)")
	fs.Var(&b.rules, "retention-rule", "per-action retention ACTION=DURATION, e.g. login_failed=30d (repeatable)")
	fs.IntVar(&b.queueSize, "queue-size", 100_000, "events that may wait for the store before requests get 429")
	fs.StringVar(&b.logLevel, "log-level", "info", "log level: error, warn, info, debug or trace")
	fs.StringVar(&b.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&b.queryTimeout, "query-timeout", 30*time.Second, "longest a query may run (ClickHouse max_execution_time, whole seconds)")
	fs.Var(&b.queryMaxMemory, "query-max-memory", "most memory one query may use, e.g. 2GiB (ClickHouse max_memory_usage; default: the engine's own limit)")
	fs.IntVar(&b.queryConcurrent, "query-max-concurrent", query.DefaultMaxConcurrent, "queries that may run at once; more wait briefly, then get 429")
}

// check validates what can be checked without side effects.
func (b *backendFlags) check() (event.Retention, error) {
	switch b.engine {
	case "embedded":
		if b.data == "" {
			return event.Retention{}, usagef("--data is required with --engine embedded")
		}
	case "clickhouse":
	default:
		return event.Retention{}, usagef("--engine %q: want embedded or clickhouse", b.engine)
	}
	if b.queueSize <= 0 {
		return event.Retention{}, usagef("--queue-size must be positive")
	}
	if b.queryTimeout < time.Second {
		return event.Retention{}, usagef("--query-timeout %s: want at least 1s", b.queryTimeout)
	}
	if b.queryConcurrent <= 0 {
		return event.Retention{}, usagef("--query-max-concurrent must be positive")
	}
	r, err := retention(b.retention, b.rules)
	if err != nil {
		return r, usagef("%v", err)
	}
	return r, nil
}

// backend is what backendFlags open.
type backend struct {
	log       *slog.Logger
	retention event.Retention
	geo       *geoip.Resolver // nil without GeoIP
	store     *store.Store
	// reader is the store for queries: the same engine and tables, with
	// the query limits. Ingest's own reads (duplicate lookups) go through
	// store, so a tight query memory limit can never refuse events.
	reader     *store.Store
	concurrent int // queries at once
	writer     *ingest.Writer
	// onStored and onBatch are the writer's observers (live tail,
	// metrics). Append to them before the first write; they run on the
	// writer goroutine and must not block.
	onStored []func([]event.Event)
	onBatch  []func(n int, dur time.Duration, err error)
	hub      *stream.Hub // the live tail, once extraRoutes made it
}

// open opens GeoIP first (a bad path fails fast, before the store's
// startup), then the store, then starts the writer.
func (b *backendFlags) open(ctx context.Context, stderr io.Writer) (*backend, error) {
	ret, err := b.check()
	if err != nil {
		return nil, err
	}
	log, err := newLogger(stderr, b.logLevel, b.logFormat)
	if err != nil {
		return nil, usagef("%v", err)
	}
	be := &backend{log: log, retention: ret}
	if b.geoCity != "" || b.geoASN != "" || b.geoAnon != "" {
		be.geo, err = geoip.Open(geoip.Config{CityPath: b.geoCity, ASNPath: b.geoASN, AnonymousPath: b.geoAnon},
			geoip.OnLookup(func(db, result string) { metrics.Default().GeoIPLookups.WithLabelValues(db, result).Inc() }),
			geoip.OnReload(func(err error) {
				if err != nil {
					log.Error("geoip: reload failed; the previous databases stay in use", "err", err)
				} else {
					log.Info("geoip: databases reloaded")
				}
			}))
		if err != nil {
			return nil, err
		}
	}
	eng, err := b.openEngine(ctx)
	if err != nil {
		be.closeGeo()
		return nil, err
	}
	// --log-level trace logs every statement with its time and rows read.
	eng = store.Traced(eng, log)
	opts := store.Options{}
	if b.engine == "clickhouse" {
		opts.Database, opts.Cluster = b.chDatabase, b.chCluster
	}
	be.store, err = store.Open(ctx, eng, opts)
	if err != nil {
		eng.Close()
		be.closeGeo()
		return nil, err
	}
	be.reader = be.store.Reader(store.Options{QueryTimeout: b.queryTimeout, MaxMemory: int64(b.queryMaxMemory)})
	be.concurrent = b.queryConcurrent
	be.onBatch = append(be.onBatch, func(n int, dur time.Duration, err error) {
		if err != nil {
			log.Error("ingest: store insert failed", "events", n, "duration", dur, "err", err)
			return
		}
		logTrace(log, "ingest: batch stored", "events", n, "duration", dur)
	})
	be.writer = ingest.NewWriter(be.store, ingest.WriterOptions{
		QueueSize: b.queueSize,
		Logger:    log,
		OnBatch: func(n int, dur time.Duration, err error) {
			for _, h := range be.onBatch {
				h(n, dur, err)
			}
		},
		OnStored: func(evs []event.Event) {
			for _, h := range be.onStored {
				h(evs)
			}
		},
	})
	return be, nil
}

func (b *backendFlags) openEngine(ctx context.Context) (store.Engine, error) {
	if b.engine == "clickhouse" {
		return store.OpenServer(ctx, store.ServerConfig{
			Addr:     strings.Split(b.chAddr, ","),
			Database: b.chDatabase,
			User:     b.chUser,
			Password: os.Getenv("AUDITLOG_CLICKHOUSE_PASSWORD"),
			TLS:      b.chTLS,
			Cluster:  b.chCluster,
		})
	}
	eng, err := store.OpenEmbedded(b.chdbLib, b.data)
	if errors.Is(err, libchdb.ErrNotFound) && b.chdbLib == "" && os.Getenv("CHDB_LIB_PATH") == "" {
		return nil, libchdb.ErrNotFound
	}
	return eng, err
}

func (be *backend) enricher() ingest.Enricher { return ingest.GeoIP(be.geo) }

func (be *backend) closeGeo() {
	if be.geo != nil {
		be.geo.Close()
	}
}

// watchGeoIP reloads the GeoIP databases on SIGHUP and when their files
// change, until ctx ends.
func (be *backend) watchGeoIP(ctx context.Context) {
	if be.geo != nil {
		go be.geo.Watch(ctx, geoip.WatchOptions{Interval: 30 * time.Second, SIGHUP: true})
	}
}

// serveFlags are serve's own flags on top of the backend's.
type serveFlags struct {
	backendFlags
	listen          string
	tokenFile       string
	maxBody         sizeFlag
	maxEvents       int
	shutdownTimeout time.Duration
}

func (s *serveFlags) register(fs *flag.FlagSet, defaultData string) {
	s.backendFlags.register(fs, defaultData)
	s.maxBody = ingest.DefaultMaxBody
	fs.StringVar(&s.listen, "listen", "127.0.0.1:8080", "address to listen on; without --token-file only a loopback address is allowed")
	fs.StringVar(&s.tokenFile, "token-file", "", "bearer tokens, one \"TOKEN ROLE TENANT\" per line (ROLE ingest|read|admin, TENANT a name or *); re-read on SIGHUP")
	fs.Var(&s.maxBody, "max-body", "largest request body, e.g. 10MiB, 512KiB, 1MB")
	fs.IntVar(&s.maxEvents, "max-events", ingest.DefaultMaxEvents, "most events in one request")
	fs.DurationVar(&s.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown may take")
}

// running is a server about to serve, and the parts it was built from.
type running struct {
	*backend
	srv      *server.Server
	ln       net.Listener
	ingester *ingest.Ingester
	tokens   *access.Tokens
	url      string
}

// start opens everything and listens, but does not serve yet.
func (s *serveFlags) start(ctx context.Context, stderr io.Writer) (*running, error) {
	if _, err := s.check(); err != nil {
		return nil, err
	}
	if s.maxEvents <= 0 {
		return nil, usagef("--max-events must be positive")
	}
	var toks *access.Tokens
	if s.tokenFile != "" {
		var err error
		if toks, err = access.LoadTokens(s.tokenFile); err != nil {
			return nil, err
		}
	} else if err := server.RequireLoopback(s.listen); err != nil {
		return nil, err
	}
	be, err := s.backendFlags.open(ctx, stderr)
	if err != nil {
		return nil, err
	}
	iopts := ingest.Options{
		Retention: be.retention,
		Enricher:  be.enricher(),
		MaxBody:   int64(s.maxBody),
		MaxEvents: s.maxEvents,
		Logger:    be.log,
		Observe: func(status int, res ingest.Result) {
			metrics.Default().ObserveIngest(status, res.Accepted, res.Duplicates, len(res.Rejected))
		},
	}
	r := &running{backend: be, tokens: toks, ingester: ingest.New(be.writer, iopts)}
	var geo server.GeoIP
	if be.geo != nil {
		geo = be.geo
	}
	r.srv, err = server.New(server.Config{
		Tokens:          toks,
		Store:           be.store,
		Writer:          be.writer,
		Ingest:          iopts,
		GeoIP:           geo,
		Routes:          extraRoutes(be),
		Logger:          be.log,
		ShutdownTimeout: s.shutdownTimeout,
	})
	if err == nil {
		r.ln, err = net.Listen("tcp", s.listen)
	}
	if err != nil {
		be.writer.Close(ctx)
		be.store.Close()
		be.closeGeo()
		return nil, err
	}
	r.url = "http://" + r.ln.Addr().String()
	return r, nil
}

// extraRoutes is where the endpoints of other packages are mounted:
// POST /api/v1/query (pkg/query), GET /api/v1/tail (pkg/stream, fed by
// appending its publisher to be.onStored) and GET /metrics (pkg/metrics,
// fed through be.onBatch). Each route names the role it needs; the server
// authenticates and puts the principal in the request context
// (access.FromContext; its ReadTenant is the tenant a read is limited to,
// "" for all).
func extraRoutes(be *backend) []server.Route {
	tenant := func(r *http.Request) (string, error) {
		p, ok := access.FromContext(r.Context())
		if !ok || !p.CanRead() {
			return "", errors.New("this token may not read events")
		}
		return p.ReadTenant(), nil
	}
	m := metrics.Default()
	m.BuildInfo.WithLabelValues(version, be.store.Engine()).Set(1)
	hub := stream.NewHub(stream.Options{})
	be.onStored = append(be.onStored, hub.Publish)
	be.onBatch = append(be.onBatch, func(n int, dur time.Duration, err error) {
		if err == nil {
			m.ObserveBatch(n, dur)
		}
	})
	be.hub = hub
	svc := &query.Service{Store: be.reader, Logger: be.log, Observe: m.ObserveQuery, MaxConcurrent: be.concurrent}
	return []server.Route{
		{Pattern: "POST /api/v1/query", Handler: svc.QueryHandler(tenant), Role: access.RoleRead},
		{Pattern: "GET /api/v1/values/{field}", Handler: svc.ValuesHandler(tenant), Role: access.RoleRead},
		{Pattern: "GET /api/v1/tail", Handler: hub.Handler(tenant, stream.HandlerOptions{}), Role: access.RoleRead},
		{Pattern: "GET /metrics", Handler: metrics.Handler()},
	}
}

// serve runs until SIGTERM or SIGINT, then shuts down gracefully.
func (r *running) serve(ctx context.Context, tokenFile string) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	defer r.closeGeo()
	defer func() {
		if r.hub != nil {
			r.hub.Close()
		}
	}()
	r.watchGeoIP(ctx)
	src := metrics.Sources{
		Store: func(ctx context.Context) (uint64, uint64, error) {
			st, err := r.store.Stats(ctx)
			return st.Events, st.Bytes, err
		},
		QueueDepth: r.writer.QueueDepth,
	}
	if r.hub != nil {
		src.Subscribers = r.hub.Subscribers
	}
	go metrics.Default().Track(ctx, 10*time.Second, src)
	go r.store.RunSearchIndex(ctx, store.SearchIndexEvery, store.SearchIndexSettled, func(err error) {
		r.log.Error("store: search index", "err", err)
	})
	if tokenFile != "" {
		go r.reloadTokensOnHUP(ctx, tokenFile)
	}
	return r.srv.Serve(ctx, r.ln)
}

// reloadTokensOnHUP re-reads the token file on SIGHUP, so tokens can be
// rotated without dropping the ingest queue. A broken file keeps the old
// tokens.
func (r *running) reloadTokensOnHUP(ctx context.Context, path string) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			toks, err := access.LoadTokens(path)
			if err != nil {
				r.log.Error("tokens: reload failed; the previous tokens stay in use", "err", err)
				continue
			}
			r.srv.SetTokens(toks)
			r.log.Info("tokens: reloaded", "tokens", toks.Len())
		}
	}
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlagSet("serve", "serve [flags]", stderr)
	f.register(fs, "auditlog-data")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	r, err := f.start(ctx, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "auditlog: listening on %s (engine %s, %s)\n", r.url, r.store.Engine(), location(&f.backendFlags))
	return r.serve(ctx, f.tokenFile)
}

func location(b *backendFlags) string {
	if b.engine == "clickhouse" {
		return "clickhouse " + b.chAddr + "/" + b.chDatabase
	}
	return "data " + b.data
}
