// Package plugin is the Grafana datasource: a thin adapter from the plugin
// SDK's handlers to the store, ingest, query and stream packages.
package plugin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
)

// ID is the plugin id in plugin.json.
const ID = "auditlog-events-datasource"

// Datasource is one configured datasource instance.
type Datasource struct {
	settings Settings
	// err is why the instance cannot serve (bad settings, unreachable
	// engine). The instance is still created so that CheckHealth and every
	// query can say so, rather than Grafana showing a bare plugin error.
	err    error
	shared *sharedStore
}

var (
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// NewDatasource is the instance factory given to datasource.Manage.
func NewDatasource(ctx context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	ds := &Datasource{}
	ds.settings, ds.err = ParseSettings(s)
	if ds.err != nil {
		return ds, nil
	}
	ds.shared, ds.err = acquireStore(ctx, ds.settings)
	return ds, nil
}

// Dispose releases the instance's share of the store.
func (d *Datasource) Dispose() {
	if d.shared != nil {
		d.shared.release()
		d.shared = nil
	}
}

// Health is what CheckHealth reports in its details.
type Health struct {
	Engine        string `json:"engine"`
	EngineVersion string `json:"engineVersion,omitempty"`
	Location      string `json:"location,omitempty"`
	SchemaVersion int    `json:"schemaVersion,omitempty"`
	Events        uint64 `json:"events"`
	Bytes         uint64 `json:"bytes"`
	Tenant        string `json:"tenant,omitempty"`
}

// CheckHealth reports the engine, its version, the event count and where
// the data is, or exactly what is wrong.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	if d.err != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: d.err.Error()}, nil
	}
	st, err := d.shared.store.Stats(ctx)
	if err != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: err.Error()}, nil
	}
	h := Health{Engine: st.Engine, EngineVersion: st.EngineVersion, Location: st.Location,
		SchemaVersion: st.SchemaVersion, Events: st.Events, Bytes: st.Bytes, Tenant: d.settings.Tenant}
	where := "data path"
	if st.Engine == EngineClickHouse {
		where = "server"
	}
	msg := fmt.Sprintf("OK: %s engine, ClickHouse %s, %d events, %s %s", st.Engine, st.EngineVersion, st.Events, where, st.Location)
	details, _ := json.Marshal(h)
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk, Message: msg, JSONDetails: details}, nil
}
