// Package metrics registers every Prometheus collector of Auditlog in one
// place. The plugin SDK serves prometheus.DefaultGatherer for Grafana's
// /metrics/plugins/<id>, so collectors go to the default registry, which
// also carries the Go and process collectors; the standalone server
// exposes the same registry at /metrics.
//
// Labels stay bounded: results, status codes, query types and database
// names, never users or IPs.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors.
type Metrics struct {
	EventsIngested    *prometheus.CounterVec
	IngestRequests    *prometheus.CounterVec
	IngestBatchSize   prometheus.Histogram
	StoreInsertSecs   prometheus.Histogram
	IngestQueueDepth  prometheus.Gauge
	QueryDuration     *prometheus.HistogramVec
	QueryRows         *prometheus.CounterVec
	GeoIPLookups      *prometheus.CounterVec
	StoreEvents       prometheus.Gauge
	StoreBytes        prometheus.Gauge
	StreamSubscribers prometheus.Gauge
	BuildInfo         *prometheus.GaugeVec
}

var (
	once    sync.Once
	current *Metrics
)

// Default returns the process's collectors, registering them on first use.
// Registering twice would panic, and the plugin may build many instances.
func Default() *Metrics {
	once.Do(func() { current = New(prometheus.DefaultRegisterer) })
	return current
}

// New registers a fresh set of collectors on reg (tests use their own).
func New(reg prometheus.Registerer) *Metrics {
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{
		EventsIngested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlog_events_ingested_total", Help: "Events received, by result (accepted, duplicate, rejected).",
		}, []string{"result"}),
		IngestRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlog_ingest_requests_total", Help: "Ingest requests, by HTTP status code.",
		}, []string{"code"}),
		IngestBatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "auditlog_ingest_batch_size", Help: "Events per store insert (group commit batch).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		StoreInsertSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "auditlog_store_insert_duration_seconds", Help: "Time to insert one batch into the store.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}),
		IngestQueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "auditlog_ingest_queue_depth", Help: "Events waiting for the group commit.",
		}),
		QueryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "auditlog_query_duration_seconds", Help: "Query time, by query type.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"query_type"}),
		QueryRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlog_query_rows_total", Help: "Rows returned to Grafana, by query type.",
		}, []string{"query_type"}),
		GeoIPLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlog_geoip_lookups_total", Help: "GeoIP lookups, by database and result.",
		}, []string{"db", "result"}),
		StoreEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "auditlog_store_events", Help: "Events in the store (refreshed on a timer).",
		}),
		StoreBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "auditlog_store_bytes", Help: "Bytes of event data on disk (refreshed on a timer).",
		}),
		StreamSubscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "auditlog_stream_subscribers", Help: "Live tail subscribers.",
		}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "auditlog_build_info", Help: "Build version and store engine; always 1.",
		}, []string{"version", "engine"}),
	}
	for _, c := range []prometheus.Collector{m.EventsIngested, m.IngestRequests, m.IngestBatchSize,
		m.StoreInsertSecs, m.IngestQueueDepth, m.QueryDuration, m.QueryRows, m.GeoIPLookups,
		m.StoreEvents, m.StoreBytes, m.StreamSubscribers, m.BuildInfo} {
		f(c)
	}
	return m
}

// Handler serves the default registry in the Prometheus text format.
func Handler() http.Handler { return promhttp.Handler() }

// StoreStats is what the refresher reads.
type StoreStats func(ctx context.Context) (events, bytes uint64, err error)

// Sources are what Track samples for the gauges.
type Sources struct {
	Store       StoreStats // events and bytes; a query, so sampled slowly
	QueueDepth  func() int // events waiting for the group commit
	Subscribers func() int // live tail subscribers
}

// Track keeps the gauges current until ctx ends: queue depth and
// subscribers every second, the store's size every storeEvery (counting
// rows is a query, so it runs on a timer rather than per scrape).
func (m *Metrics) Track(ctx context.Context, storeEvery time.Duration, src Sources) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last time.Time
	for {
		if src.QueueDepth != nil {
			m.IngestQueueDepth.Set(float64(src.QueueDepth()))
		}
		if src.Subscribers != nil {
			m.StreamSubscribers.Set(float64(src.Subscribers()))
		}
		if src.Store != nil && time.Since(last) >= storeEvery {
			last = time.Now()
			if ev, by, err := src.Store(ctx); err == nil {
				m.StoreEvents.Set(float64(ev))
				m.StoreBytes.Set(float64(by))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ObserveIngestRequest counts one ingest request by its status code.
func (m *Metrics) ObserveIngestRequest(code int) {
	m.IngestRequests.WithLabelValues(strconv.Itoa(code)).Inc()
}

// ObserveBatch records one group-commit insert.
func (m *Metrics) ObserveBatch(n int, d time.Duration) {
	m.IngestBatchSize.Observe(float64(n))
	m.StoreInsertSecs.Observe(d.Seconds())
}

// ObserveQuery records one query's time and the rows it returned.
func (m *Metrics) ObserveQuery(queryType string, d time.Duration, rows int) {
	m.QueryDuration.WithLabelValues(queryType).Observe(d.Seconds())
	m.QueryRows.WithLabelValues(queryType).Add(float64(rows))
}

// ObserveIngest counts one ingest request: its status code and what
// became of its events.
func (m *Metrics) ObserveIngest(code, accepted, duplicates, rejected int) {
	m.ObserveIngestRequest(code)
	m.EventsIngested.WithLabelValues("accepted").Add(float64(accepted))
	m.EventsIngested.WithLabelValues("duplicate").Add(float64(duplicates))
	m.EventsIngested.WithLabelValues("rejected").Add(float64(rejected))
}
