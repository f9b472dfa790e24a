package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/metrics"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/stream"
)

// Grafana builds a new instance whenever a datasource's settings change and
// disposes the old one a few seconds later, and several datasources may
// point at the same data. The store, its single group-commit writer and the
// live-tail hub are therefore shared per location and reference-counted:
// two writers on one table would each think they hold the only one (and
// could store a re-sent id twice), and chDB allows one data path per
// process anyway.
type sharedStore struct {
	key    string
	eng    store.Engine // under store; per-datasource readers share it
	store  *store.Store
	writer *ingest.Writer
	hub    *stream.Hub
	stop   context.CancelFunc
	refs   int
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*sharedStore{}
)

func storeKey(st Settings) string {
	if st.Engine == EngineClickHouse {
		return strings.Join([]string{st.Engine, st.ClickHouseAddr, st.ClickHouseDatabase, st.ClickHouseUser, st.ClickHouseCluster}, "|")
	}
	return st.Engine + "|" + st.DataPath
}

// acquireStore returns the store for the settings, opening it on first use.
func acquireStore(ctx context.Context, st Settings, log *slog.Logger) (*sharedStore, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	key := storeKey(st)
	if s, ok := shared[key]; ok {
		s.refs++
		return s, nil
	}
	eng, err := openEngine(ctx, st)
	if err != nil {
		return nil, err
	}
	// At logLevel trace every statement is logged with its time.
	eng = store.Traced(eng, log)
	s, err := store.Open(ctx, eng, store.Options{Database: st.ClickHouseDatabase, Cluster: st.ClickHouseCluster})
	if err != nil {
		eng.Close()
		return nil, err
	}
	m := metrics.Default()
	m.BuildInfo.WithLabelValues(version, s.Engine()).Set(1)
	hub := stream.NewHub(stream.Options{})
	w := ingest.NewWriter(s, ingest.WriterOptions{
		OnStored: hub.Publish,
		OnBatch: func(n int, d time.Duration, err error) {
			if err == nil {
				m.ObserveBatch(n, d)
			}
		},
	})
	bg, stop := context.WithCancel(context.Background())
	go m.Track(bg, 30*time.Second, metrics.Sources{
		Store: func(ctx context.Context) (uint64, uint64, error) {
			st, err := s.Stats(ctx)
			return st.Events, st.Bytes, err
		},
		QueueDepth:  w.QueueDepth,
		Subscribers: hub.Subscribers,
	})
	go s.RunSearchIndex(bg, store.SearchIndexEvery, store.SearchIndexSettled, func(err error) {
		log.Error("store: search index", "err", err)
	})
	ss := &sharedStore{key: key, eng: eng, store: s, writer: w, hub: hub, stop: stop, refs: 1}
	shared[key] = ss
	return ss, nil
}

// reader returns the store for one datasource's queries: with its own
// query limits, a reader of the shared store. Datasources on one location
// share the writer (and its hot tier) but may differ in limits; ingest's
// own reads stay on the shared store, so a tight query memory limit can
// never refuse events.
func (s *sharedStore) reader(st Settings) *store.Store {
	if st.QueryTimeout == 0 && st.QueryMaxMemory == 0 {
		return s.store
	}
	return s.store.Reader(st.QueryLimits())
}

func openEngine(ctx context.Context, st Settings) (store.Engine, error) {
	switch st.Engine {
	case EngineClickHouse:
		return store.OpenServer(ctx, store.ServerConfig{
			Addr:     strings.Split(st.ClickHouseAddr, ","),
			Database: st.ClickHouseDatabase,
			User:     st.ClickHouseUser,
			Password: st.ClickHousePassword,
			TLS:      st.ClickHouseTLS,
			Cluster:  st.ClickHouseCluster,
		})
	case EngineEmbedded:
		return store.OpenEmbedded(st.ChdbLibPath, st.DataPath)
	}
	return nil, fmt.Errorf("engine %q is not supported", st.Engine)
}

// release drops one user; the last one drains the writer so that nothing
// acknowledged is lost, then closes the store.
func (s *sharedStore) release() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	s.refs--
	if s.refs > 0 {
		return
	}
	delete(shared, s.key)
	s.stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = s.writer.Close(ctx)
	s.hub.Close()
	s.store.Close()
}
