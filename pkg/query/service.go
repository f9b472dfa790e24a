package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
)

// Reader is what queries need of the store; *store.Store is one.
type Reader interface {
	Events(ctx context.Context, f store.Filter, limit int) ([]event.Event, error)
	Get(ctx context.Context, tenant, id string) (*event.Event, error)
	DiffEvents(ctx context.Context, f store.Filter, limit int) ([]event.Event, error)
	TimeSeries(ctx context.Context, f store.Filter, groupBy store.Dimension, step time.Duration, from, to time.Time) ([]store.Series, error)
	GeoPoints(ctx context.Context, f store.Filter, limit int) ([]store.GeoPoint, error)
	TopGroups(ctx context.Context, f store.Filter, dim store.Dimension, n int) ([]store.Group, error)
	Values(ctx context.Context, tenant string, field store.Dimension, prefix string, limit int) ([]string, error)
}

// Service answers Grafana queries from a store.
type Service struct {
	Store Reader
	// Now resolves relative times ("now-6h") in the HTTP API; nil is
	// time.Now.
	Now func() time.Time
	// Logger records failures that are ours rather than the caller's;
	// nil is slog.Default().
	Logger *slog.Logger
	// Observe, when set, is told each answered query's type, time and the
	// rows it returned (for metrics).
	Observe func(queryType string, d time.Duration, rows int)
	// MaxConcurrent bounds the queries running at once (default
	// DefaultMaxConcurrent). A query that finds no free slot within
	// QueueWait (default DefaultQueueWait) fails with ErrTooManyQueries.
	MaxConcurrent int
	QueueWait     time.Duration

	semOnce sync.Once
	sem     chan struct{}
}

// MaxBucketsPerSeries bounds a time series; a finer interval is widened.
const MaxBucketsPerSeries = store.MaxBuckets

// QueryData answers every query of req on its own: one query's error is
// that query's response and never fails its siblings. tenant scopes every
// read; "" (or "*") reads all tenants.
// Each query takes one of the MaxConcurrent slots while it runs.
func (s *Service) QueryData(ctx context.Context, req *backend.QueryDataRequest, tenant string) *backend.QueryDataResponse {
	return s.queryData(ctx, req, tenant, false)
}

// queryData runs the queries one after another. held says the caller
// already holds a slot for all of them (the HTTP API takes one per
// request, so that it can answer 429 as a whole).
func (s *Service) queryData(ctx context.Context, req *backend.QueryDataRequest, tenant string, held bool) *backend.QueryDataResponse {
	resp := backend.NewQueryDataResponse()
	if req == nil {
		return resp
	}
	for _, q := range req.Queries {
		if held {
			resp.Responses[q.RefID] = s.run(ctx, req.PluginContext, q, normTenant(tenant))
			continue
		}
		release, err := s.acquire(ctx)
		if err != nil {
			resp.Responses[q.RefID] = s.errResponse(q, err)
			continue
		}
		resp.Responses[q.RefID] = s.run(ctx, req.PluginContext, q, normTenant(tenant))
		release()
	}
	return resp
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// run answers one query. A panic becomes that query's 500, so that one
// malformed stored event cannot take the plugin process down.
func (s *Service) run(ctx context.Context, pc backend.PluginContext, dq backend.DataQuery, tenant string) (resp backend.DataResponse) {
	defer func() {
		if r := recover(); r != nil {
			s.logger().Error("query panicked", "refId", dq.RefID, "panic", r, "stack", string(debug.Stack()))
			resp = backend.ErrDataResponseWithSource(backend.StatusInternal, backend.ErrorSourcePlugin,
				fmt.Sprintf("query %s: internal error", dq.RefID))
		}
	}()
	q, err := ParseQuery(dq.JSON, dq.QueryType)
	if err != nil {
		return s.errResponse(dq, err)
	}
	c, err := q.Filters.Compile()
	if err != nil {
		return s.errResponse(dq, err)
	}
	var frames data.Frames
	if s.Observe != nil {
		start := time.Now()
		defer func() {
			rows := 0
			for _, f := range frames {
				rows += f.Rows()
			}
			s.Observe(string(q.QueryType), time.Since(start), rows)
		}()
	}
	switch q.QueryType {
	case TypeLogs:
		frames, err = s.logs(ctx, pc, dq, q, c, tenant)
	case TypeDetails:
		frames, err = s.details(ctx, c, tenant)
	case TypeDiff:
		frames, err = s.diff(ctx, dq, q, c, tenant)
	case TypeGeomap:
		frames, err = s.geomap(ctx, dq, q, c, tenant)
	case TypeTimeSeries:
		frames, err = s.timeSeries(ctx, dq, q, c, tenant)
	case TypeStats:
		frames, err = s.stats(ctx, dq, q, c, tenant)
	}
	if err != nil {
		return s.errResponse(dq, fmt.Errorf("%s: %w", q.QueryType, err))
	}
	return backend.DataResponse{Frames: frames}
}

var errNotFound = errors.New("not found")

// errResponse sorts errors into the caller's (400/404, downstream) and
// ours (500, plugin), so that Grafana's SLOs blame the right side.
func (s *Service) errResponse(dq backend.DataQuery, err error) backend.DataResponse {
	msg := "query " + dq.RefID + ": " + err.Error()
	var bad *BadRequestError
	switch {
	case errors.As(err, &bad) || errors.Is(err, store.ErrBadFilter):
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, msg)
	case errors.Is(err, errNotFound):
		return backend.ErrDataResponseWithSource(backend.StatusNotFound, backend.ErrorSourceDownstream, msg)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return backend.ErrDataResponseWithSource(backend.StatusTimeout, backend.ErrorSourceDownstream, msg)
	case errors.Is(err, ErrTooManyQueries):
		return backend.ErrDataResponseWithSource(backend.StatusTooManyRequests, backend.ErrorSourceDownstream, msg)
	}
	if status, why, ok := engineLimit(err); ok {
		// The engine kept its limit: the query was too expensive, which
		// is the caller's to narrow, not a fault of ours.
		return backend.ErrDataResponseWithSource(status, backend.ErrorSourceDownstream, "query "+dq.RefID+": "+why+": "+err.Error())
	}
	s.logger().Error("query failed", "refId", dq.RefID, "err", err)
	return backend.ErrDataResponseWithSource(backend.StatusInternal, backend.ErrorSourcePlugin, msg)
}

// limit applies a query type's default and maximum; a larger request is
// clamped and says so in a notice rather than failing the panel.
func limit(q Query) (int, []data.Notice) {
	l := limits[q.QueryType]
	n := int(q.Limit)
	switch {
	case n == 0:
		return l.def, nil
	case n > l.max:
		return l.max, []data.Notice{{Severity: data.NoticeSeverityWarning,
			Text: fmt.Sprintf("limit %d is above the maximum of %d; showing %d rows", n, l.max, l.max)}}
	}
	return n, nil
}

func (s *Service) logs(ctx context.Context, pc backend.PluginContext, dq backend.DataQuery, q Query, c Compiled, tenant string) (data.Frames, error) {
	n, notices := limit(q)
	evs, err := s.Store.Events(ctx, c.Store(tenant, dq.TimeRange.From, dq.TimeRange.To), n)
	if err != nil {
		return nil, err
	}
	f := LogsFrame(evs)
	if len(evs) == n {
		notices = append(notices, data.Notice{Severity: data.NoticeSeverityInfo,
			Text: fmt.Sprintf("showing the newest %d events; narrow the filters or raise the limit to see more", n)})
	}
	// A live query's channel is not set here: the frontend subscribes to
	// the tail itself (src/tail.ts), and a Meta.Channel would make Grafana
	// subscribe a second time and show every live event twice.
	f.Meta.Notices = notices
	return data.Frames{f}, nil
}

// LogsFrame is the frame of a logs query and of each live-tail batch:
// time first, then body (the first string field, which Grafana's logs
// panel shows as the line), level and id (which it recognises by name),
// then fields it offers as labels.
func LogsFrame(evs []event.Event) *data.Frame {
	n := len(evs)
	times := make([]time.Time, n)
	cols := make([][]string, 9)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	for i := range evs {
		e := &evs[i]
		times[i] = e.Time
		var country, city string
		if e.Geo != nil {
			country, city = e.Geo.CountryCode, e.Geo.City
		}
		for j, v := range []string{Summary(e), Level(e.Severity), e.ID, e.Action, UserLabel(e.User), e.App, e.ClientIP, country, city} {
			cols[j][i] = v
		}
	}
	f := data.NewFrame("",
		data.NewField("time", nil, times),
		data.NewField("body", nil, cols[0]),
		data.NewField("level", nil, cols[1]),
		data.NewField("id", nil, cols[2]),
		data.NewField("action", nil, cols[3]),
		data.NewField("user", nil, cols[4]),
		data.NewField("app", nil, cols[5]),
		data.NewField("clientIp", nil, cols[6]),
		data.NewField("country", nil, cols[7]),
		data.NewField("city", nil, cols[8]),
	)
	f.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeLogs}
	return f
}

// lookup fetches the event a details or diff query names.
func (s *Service) lookup(ctx context.Context, c Compiled, tenant string) (*event.Event, error) {
	if c.EventID() == "" {
		return nil, badf("filters.eventId is required")
	}
	e, err := s.Store.Get(ctx, tenant, c.EventID())
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("event %s: %w", c.EventID(), errNotFound)
	}
	return e, nil
}

func (s *Service) details(ctx context.Context, c Compiled, tenant string) (data.Frames, error) {
	e, err := s.lookup(ctx, c, tenant)
	if err != nil {
		return nil, err
	}
	kv := Details(e)
	keys, vals := make([]string, len(kv)), make([]string, len(kv))
	for i, p := range kv {
		keys[i], vals[i] = p[0], p[1]
	}
	f := data.NewFrame("", data.NewField("key", nil, keys), data.NewField("value", nil, vals))
	f.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeTable}
	return data.Frames{f}, nil
}

// Details lists every field of an event as key/value pairs: the model's
// fields, then the context flattened to dotted paths, then the diff.
func Details(e *event.Event) [][2]string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	kv := [][2]string{
		{"id", e.ID}, {"time", ts(e.Time)}, {"action", e.Action}, {"app", e.App},
		{"user.id", e.User.ID}, {"user.username", e.User.Username}, {"user.email", e.User.Email},
		{"clientIp", e.ClientIP}, {"tenant", e.Tenant}, {"severity", e.Severity},
		{"object.app", e.Object.App}, {"object.model", e.Object.Model}, {"object.pk", e.Object.PK}, {"object.name", e.Object.Name},
		{"expires", ts(e.Expires)}, {"receivedAt", ts(e.ReceivedAt)},
	}
	if g := e.Geo; g != nil {
		kv = append(kv, [][2]string{
			{"geo.country", g.Country}, {"geo.countryCode", g.CountryCode}, {"geo.city", g.City}, {"geo.continent", g.Continent},
			{"geo.lat", fmt.Sprint(g.Lat)}, {"geo.lon", fmt.Sprint(g.Lon)},
		}...)
	}
	if a := e.ASN; a != nil {
		kv = append(kv, [][2]string{{"asn.number", fmt.Sprint(a.Number)}, {"asn.org", a.Org}, {"asn.network", a.Network}}...)
	}
	kv = append(kv, flattenContext(e.Context)...)
	if len(e.Diff) > 0 {
		for _, ch := range fromDiff(e.Diff) {
			kv = append(kv, [2]string{"diff." + ch.Field + ".old", ch.Old}, [2]string{"diff." + ch.Field + ".new", ch.New})
		}
	}
	return kv
}

func (s *Service) diff(ctx context.Context, dq backend.DataQuery, q Query, c Compiled, tenant string) (data.Frames, error) {
	var evs []event.Event
	var notices []data.Notice
	if c.EventID() != "" {
		// An event picked by id is shown whatever the dashboard's range.
		e, err := s.lookup(ctx, c, tenant)
		if err != nil {
			return nil, err
		}
		evs = []event.Event{*e}
	} else {
		var n int
		n, notices = limit(q)
		var err error
		if evs, err = s.Store.DiffEvents(ctx, c.Store(tenant, dq.TimeRange.From, dq.TimeRange.To), n); err != nil {
			return nil, err
		}
	}
	var (
		times                            []time.Time
		ids, objects, fields, olds, news []string
	)
	for i := range evs {
		e := &evs[i]
		obj := ObjectLabel(e.Object)
		for _, ch := range Changes(e) {
			times = append(times, e.Time)
			ids = append(ids, e.ID)
			objects = append(objects, obj)
			fields = append(fields, ch.Field)
			olds = append(olds, ch.Old)
			news = append(news, ch.New)
		}
	}
	f := data.NewFrame("",
		data.NewField("time", nil, nonNil(times)),
		data.NewField("eventId", nil, nonNil(ids)),
		data.NewField("object", nil, nonNil(objects)),
		data.NewField("field", nil, nonNil(fields)),
		data.NewField("old", nil, nonNil(olds)),
		data.NewField("new", nil, nonNil(news)),
	)
	f.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeTable, Notices: notices}
	return data.Frames{f}, nil
}

// nonNil keeps an empty column typed: the SDK cannot infer a field type
// from a nil slice's absence of values, but it can from an empty one.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Service) geomap(ctx context.Context, dq backend.DataQuery, q Query, c Compiled, tenant string) (data.Frames, error) {
	n, notices := limit(q)
	pts, err := s.Store.GeoPoints(ctx, c.Store(tenant, dq.TimeRange.From, dq.TimeRange.To), n)
	if err != nil {
		return nil, err
	}
	lat, lon := make([]float64, len(pts)), make([]float64, len(pts))
	city, country, top := make([]string, len(pts)), make([]string, len(pts)), make([]string, len(pts))
	count := make([]int64, len(pts))
	for i, p := range pts {
		lat[i], lon[i], city[i], country[i], count[i], top[i] = p.Lat, p.Lon, p.City, p.CountryCode, p.Count, p.TopAction
	}
	f := data.NewFrame("",
		data.NewField("latitude", nil, lat),
		data.NewField("longitude", nil, lon),
		data.NewField("city", nil, city),
		data.NewField("country", nil, country),
		data.NewField("count", nil, count),
		data.NewField("topAction", nil, top),
	)
	f.Meta = &data.FrameMeta{Notices: notices}
	return data.Frames{f}, nil
}

// Step picks the bucket width of a time series: Grafana's interval, at
// least 1 s, widened to whole seconds when the range would need more than
// maxDataPoints (if set) or MaxBucketsPerSeries buckets.
func Step(interval time.Duration, maxDataPoints int64, from, to time.Time) time.Duration {
	step := interval
	if step < time.Second {
		step = time.Second
	}
	rng := to.Sub(from)
	// One bucket more than range/step may be needed when from is not
	// aligned, hence the -1.
	maxN := int64(MaxBucketsPerSeries - 1)
	if maxDataPoints > 1 && maxDataPoints-1 < maxN {
		maxN = maxDataPoints - 1
	}
	if rng > 0 && int64(rng/step) >= maxN {
		// Round up without adding to rng first: a range of centuries is
		// close enough to time.Duration's limit to overflow.
		step = rng / time.Duration(maxN)
		if rng%time.Duration(maxN) != 0 {
			step++
		}
		step = (step + time.Second - 1).Truncate(time.Second)
	}
	return step.Truncate(time.Millisecond)
}

func (s *Service) timeSeries(ctx context.Context, dq backend.DataQuery, q Query, c Compiled, tenant string) (data.Frames, error) {
	dim, err := store.ParseDimension(q.GroupBy)
	if err != nil {
		return nil, badf("groupBy %q: want action, user, app, country, asn or empty", clip(q.GroupBy))
	}
	from, to := dq.TimeRange.From, dq.TimeRange.To
	// A zero from is year 1, which Grafana can send; it is narrowed below.
	if to.IsZero() || !to.After(from) {
		return nil, badf("a time range with from before to is required")
	}
	// Ingest refuses events outside MinTime…MaxTime, so buckets beyond
	// would all be empty; narrowing the range to it also keeps the range
	// within time.Duration, which a query from year 1 would overflow.
	from = maxTime(from, event.MinTime)
	to = minTime(to, event.MaxTime)
	var series []store.Series
	if to.After(from) {
		step := Step(dq.Interval, dq.MaxDataPoints, from, to)
		var err error
		if series, err = s.Store.TimeSeries(ctx, c.Store(tenant, time.Time{}, time.Time{}), dim, step, from, to); err != nil {
			return nil, err
		}
	}
	meta := func() *data.FrameMeta {
		return &data.FrameMeta{Type: data.FrameTypeTimeSeriesMulti, TypeVersion: data.FrameTypeVersion{0, 1}}
	}
	if len(series) == 0 {
		// An empty typed frame says "no data" in the dataplane contract.
		f := data.NewFrame("", data.NewField("time", nil, []time.Time{}), data.NewField("count", nil, []float64{}))
		f.Meta = meta()
		return data.Frames{f}, nil
	}
	frames := make(data.Frames, 0, len(series))
	for _, sr := range series {
		vals := make([]float64, len(sr.Counts))
		for i, c := range sr.Counts {
			vals[i] = float64(c)
		}
		var labels data.Labels
		if dim != store.DimNone {
			labels = data.Labels{dim.String(): sr.Group}
		}
		count := data.NewField("count", labels, vals)
		if dim != store.DimNone && sr.Group == "" {
			count.Config = &data.FieldConfig{DisplayNameFromDS: "(none)"}
		}
		f := data.NewFrame("", data.NewField("time", nil, sr.Buckets), count)
		f.Meta = meta()
		frames = append(frames, f)
	}
	return frames, nil
}

func (s *Service) stats(ctx context.Context, dq backend.DataQuery, q Query, c Compiled, tenant string) (data.Frames, error) {
	dim := store.DimAction
	if q.GroupBy != "" {
		var err error
		if dim, err = store.ParseDimension(q.GroupBy); err != nil {
			return nil, badf("groupBy %q: want action, user, app, country or asn", clip(q.GroupBy))
		}
	}
	n, notices := limit(q)
	groups, err := s.Store.TopGroups(ctx, c.Store(tenant, dq.TimeRange.From, dq.TimeRange.To), dim, n)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(groups))
	counts, users := make([]int64, len(groups)), make([]int64, len(groups))
	first, last := make([]time.Time, len(groups)), make([]time.Time, len(groups))
	for i, g := range groups {
		names[i], counts[i], users[i], first[i], last[i] = g.Name, g.Count, g.Users, g.FirstSeen, g.LastSeen
	}
	f := data.NewFrame("",
		data.NewField(dim.String(), nil, names),
		data.NewField("count", nil, counts),
		data.NewField("users", nil, users),
		data.NewField("firstSeen", nil, first),
		data.NewField("lastSeen", nil, last),
	)
	f.Meta = &data.FrameMeta{PreferredVisualization: data.VisTypeTable, Notices: notices}
	return data.Frames{f}, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
