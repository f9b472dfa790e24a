package plugin

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/auditlog/auditlog/pkg/store"
)

// Grafana builds a new instance whenever a datasource's settings change and
// disposes the old one a few seconds later, and several datasources may
// point at the same data. Stores are therefore shared per location and
// reference-counted: two live stores on one table would each think they
// hold the only writer, and chDB allows one data path per process anyway.
type sharedStore struct {
	key   string
	store *store.Store
	refs  int
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
func acquireStore(ctx context.Context, st Settings) (*sharedStore, error) {
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
	s, err := store.Open(ctx, eng, store.Options{Database: st.ClickHouseDatabase, Cluster: st.ClickHouseCluster})
	if err != nil {
		eng.Close()
		return nil, err
	}
	ss := &sharedStore{key: key, store: s, refs: 1}
	shared[key] = ss
	return ss, nil
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

func (s *sharedStore) release() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	s.refs--
	if s.refs == 0 {
		delete(shared, s.key)
		s.store.Close()
	}
}
