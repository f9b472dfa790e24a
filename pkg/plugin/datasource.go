// Package plugin is the Grafana datasource: a thin adapter from the plugin
// SDK's handlers to the store, ingest, query and stream packages.
package plugin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/resource/httpadapter"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/geoip"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/metrics"
	"github.com/auditlog/auditlog/pkg/query"
	"github.com/auditlog/auditlog/pkg/stream"
)

// ID is the plugin id in plugin.json.
const ID = "auditlog-events-datasource"

// version is set by the build (main passes -X main.version on).
var version = "dev"

// SetVersion records the build version for auditlog_build_info.
func SetVersion(v string) {
	if v != "" {
		version = v
	}
}

// geoIPPoll is how often a datasource checks its GeoIP files for changes.
const geoIPPoll = 5 * time.Second

// TokenHeader carries the datasource's ingest token on resource calls from
// outside Grafana's role model (e.g. a shipper posting through Grafana).
const TokenHeader = "X-Auditlog-Token"

// Datasource is one configured datasource instance.
type Datasource struct {
	settings Settings
	// err is why the instance cannot serve (bad settings, unreachable
	// engine, unreadable GeoIP file). The instance is still created so that
	// CheckHealth and every query can say so, rather than Grafana showing
	// a bare plugin error.
	err      error
	shared   *sharedStore
	geo      *geoip.Resolver
	geoStop  context.CancelFunc
	query    *query.Service
	resource backend.CallResourceHandler
	log      *slog.Logger
}

var (
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CallResourceHandler   = (*Datasource)(nil)
	_ backend.StreamHandler         = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// NewDatasource is the instance factory given to datasource.Manage.
func NewDatasource(ctx context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	ds := &Datasource{}
	ds.settings, ds.err = ParseSettings(s)
	ds.log = newLogger(ds.settings.LogLevel).With("datasource", s.UID)
	if ds.err != nil {
		return ds, nil
	}
	if ds.settings.GeoIPCityPath != "" || ds.settings.GeoIPASNPath != "" {
		ds.geo, ds.err = geoip.Open(geoip.Config{CityPath: ds.settings.GeoIPCityPath, ASNPath: ds.settings.GeoIPASNPath},
			geoip.OnLookup(func(db, result string) { metricsGeoIP(db, result) }))
		if ds.err != nil {
			return ds, nil
		}
		var wctx context.Context
		wctx, ds.geoStop = context.WithCancel(context.Background())
		// The files are polled, not signalled: Grafana owns the process.
		// A stat of two files is cheap, and a short interval lets the
		// health check report a bad new file soon after it lands.
		go ds.geo.Watch(wctx, geoip.WatchOptions{Interval: geoIPPoll})
	}
	ds.shared, ds.err = acquireStore(ctx, ds.settings, ds.log)
	if ds.err != nil {
		return ds, nil
	}
	ds.query = &query.Service{Store: ds.shared.reader(ds.settings), Logger: ds.log, Observe: metrics.Default().ObserveQuery}
	ds.resource = httpadapter.New(ds.routes())
	return ds, nil
}

// Dispose releases the instance's share of the store and its GeoIP files.
func (d *Datasource) Dispose() {
	if d.geoStop != nil {
		d.geoStop()
	}
	if d.geo != nil {
		d.geo.Close()
	}
	if d.shared != nil {
		d.shared.release()
		d.shared = nil
	}
}

// tenant is the scope of every read: the configured tenant, or all.
func (d *Datasource) tenant() string { return d.settings.Tenant }

func (d *Datasource) routes() http.Handler {
	opts := ingest.Options{Retention: d.settings.Retention(), Logger: d.log,
		Observe: func(status int, res ingest.Result) {
			metrics.Default().ObserveIngest(status, res.Accepted, res.Duplicates, len(res.Rejected))
		}}
	if d.geo != nil {
		opts.Enricher = ingest.GeoIP(d.geo)
	}
	events := ingest.NewHandler(d.shared.writer, d.shared.store, opts)
	tenant := func(r *http.Request) (string, error) {
		p, ok := access.FromContext(r.Context())
		if !ok || !p.CanRead() {
			return "", errors.New("reading events needs the Viewer role or higher")
		}
		return p.Tenant, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/events", events)
	mux.Handle("/events/", events)
	mux.Handle("GET /values/{field}", d.query.ValuesHandler(tenant))
	// ServeMux's own 404 and 405 are plain text; every error here is JSON.
	mux.HandleFunc("/values/{field}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		ingest.WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed here; use GET", r.Method))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ingest.WriteError(w, http.StatusNotFound, fmt.Sprintf("no such resource: %s %s (want events, events/{id} or values/{field})", r.Method, r.URL.Path))
	})
	return d.authenticate(mux)
}

// authenticate turns Grafana's user (or the ingest token) into a principal:
// Editors and Admins may write, Viewers only read, and the datasource's
// tenant setting scopes both.
func (d *Datasource) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil {
			// The SDK's adapter leaves the body nil when Grafana sends
			// none; handlers written for net/http expect http.NoBody.
			r.Body = http.NoBody
		}
		defer func() {
			// A panic would otherwise reach the SDK's gRPC layer, where a
			// panicking resource call was seen to hang for minutes and
			// then take the plugin process down. One request's 500 is
			// the right price for a bug.
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				d.log.Error("resource handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				ingest.WriteError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		scope := d.settings.Tenant
		if scope == "" {
			scope = access.AllTenants
		}
		var p access.Principal
		token := r.Header.Get(TokenHeader)
		switch {
		case token != "":
			if d.settings.IngestToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(d.settings.IngestToken)) != 1 {
				ingest.WriteError(w, http.StatusUnauthorized, "the "+TokenHeader+" header does not match the datasource's ingest token")
				return
			}
			p = access.Principal{Tenant: scope, Role: access.RoleIngest}
		default:
			u := backend.UserFromContext(r.Context())
			if u == nil {
				ingest.WriteError(w, http.StatusUnauthorized, "no Grafana user and no ingest token")
				return
			}
			switch strings.ToLower(u.Role) {
			case "admin", "editor":
				p = access.Principal{Tenant: scope, Role: access.RoleAdmin}
			case "viewer":
				p = access.Principal{Tenant: scope, Role: access.RoleRead}
			default:
				ingest.WriteError(w, http.StatusForbidden, fmt.Sprintf("Grafana role %q may not use this datasource", u.Role))
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
	})
}

// QueryData answers each query; a broken datasource fails every query with
// the reason.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	if d.err != nil {
		res := backend.NewQueryDataResponse()
		for _, q := range req.Queries {
			res.Responses[q.RefID] = backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, d.err.Error())
		}
		return res, nil
	}
	return d.query.QueryData(ctx, req, d.tenant()), nil
}

// CallResource serves POST /events, GET /events/{id} and GET /values/{field}.
func (d *Datasource) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	if d.err != nil {
		body, _ := json.Marshal(map[string]string{"error": d.err.Error()})
		return sender.Send(&backend.CallResourceResponse{Status: http.StatusServiceUnavailable,
			Headers: map[string][]string{"Content-Type": {"application/json"}}, Body: body})
	}
	return d.resource.CallResource(ctx, req, sender)
}

// SubscribeStream admits subscriptions to the tail channel
// ("tail" or "tail/<base64url filters>"), for any user who may read.
func (d *Datasource) SubscribeStream(_ context.Context, req *backend.SubscribeStreamRequest) (*backend.SubscribeStreamResponse, error) {
	if d.err != nil {
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
	}
	if _, err := query.ParseTailPath(req.Path); err != nil {
		return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusNotFound}, nil
	}
	initial, err := backend.NewInitialFrame(query.LogsFrame(nil), data.IncludeSchemaOnly)
	if err != nil {
		return nil, err
	}
	return &backend.SubscribeStreamResponse{Status: backend.SubscribeStreamStatusOK, InitialData: initial}, nil
}

// PublishStream refuses: events come in through ingest, never from Live.
func (d *Datasource) PublishStream(context.Context, *backend.PublishStreamRequest) (*backend.PublishStreamResponse, error) {
	return &backend.PublishStreamResponse{Status: backend.PublishStreamStatusPermissionDenied}, nil
}

// RunStream sends each newly stored matching event as a logs frame until
// the last subscriber leaves.
func (d *Datasource) RunStream(ctx context.Context, req *backend.RunStreamRequest, sender *backend.StreamSender) error {
	if d.err != nil {
		return d.err
	}
	f, err := query.ParseTailPath(req.Path)
	if err != nil {
		return err
	}
	m, err := query.NewMatcher(f, d.tenant())
	if err != nil {
		return err
	}
	err = d.shared.hub.Tail(ctx, m, 0, 0, func(evs []event.Event) error {
		return sender.SendFrame(query.LogsFrame(evs), data.IncludeAll)
	})
	if errors.Is(err, stream.ErrTooManySubscribers) {
		// Grafana runs one stream per distinct live query and shows this
		// text where the panel would show events.
		return fmt.Errorf("live tail: %w: each distinct live query (filters) of every dashboard holds one; close some live panels or share filters", err)
	}
	return err
}

// Health is what CheckHealth reports in its details.
type Health struct {
	Engine        string        `json:"engine"`
	EngineVersion string        `json:"engineVersion,omitempty"`
	Location      string        `json:"location,omitempty"`
	SchemaVersion int           `json:"schemaVersion,omitempty"`
	Events        uint64        `json:"events"`
	Bytes         uint64        `json:"bytes"`
	Tenant        string        `json:"tenant,omitempty"`
	QueueDepth    int           `json:"queueDepth"`
	GeoIP         *geoip.Status `json:"geoip,omitempty"`
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
		SchemaVersion: st.SchemaVersion, Events: st.Events, Bytes: st.Bytes, Tenant: d.settings.Tenant,
		QueueDepth: d.shared.writer.QueueDepth()}
	where := "data path"
	if st.Engine == EngineClickHouse {
		where = "server"
	}
	msg := fmt.Sprintf("OK: %s engine, ClickHouse %s, %d events, %s %s", st.Engine, st.EngineVersion, st.Events, where, st.Location)
	if d.geo != nil {
		gs := d.geo.Status()
		h.GeoIP = &gs
		if gs.LastError != "" {
			msg += "; GeoIP reload failed (old database kept): " + gs.LastError
		}
	}
	details, _ := json.Marshal(h)
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk, Message: msg, JSONDetails: details}, nil
}
