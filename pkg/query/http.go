package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/gtime"

	"github.com/auditlog/auditlog/pkg/store"
)

// TenantFunc says which tenant a request may read: "" or "*" for all of
// them. An error refuses the request with 403. The wiring supplies it from
// the authenticated principal, so this package needs no auth of its own.
type TenantFunc func(*http.Request) (string, error)

// Bounds on one HTTP query request.
const (
	MaxQueryBody       = 1 << 20
	MaxQueriesPerBatch = 100
	MaxValuesPrefix    = 256
	DefaultValues      = 100
)

// QueryHandler serves POST /api/v1/query with the body of Grafana's
// /api/ds/query: {"from": "now-1h", "to": "now", "queries": [{"refId": "A",
// "queryType": …, "intervalMs": …, "maxDataPoints": …, …}]}. Times are
// epoch milliseconds (number or string) or Grafana's relative times. The
// answer is Grafana's {"results": {"A": {"frames": […]}}}; its status is 200
// when every query succeeded, else 207 with each error in its result.
func (s *Service) QueryHandler(tenant TenantFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "use POST with a JSON body")
			return
		}
		t, ok := resolveTenant(w, r, tenant)
		if !ok {
			return
		}
		req, failed, err := s.parseHTTPQuery(w, r)
		if err != nil {
			status := http.StatusBadRequest
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				status = http.StatusRequestEntityTooLarge
			}
			writeError(w, status, err.Error())
			return
		}
		// One slot for the whole request: its queries run one after
		// another, and a busy server answers 429 as a whole rather than
		// 207 with every query refused.
		release, err := s.acquire(r.Context())
		if err != nil {
			writeBusy(w, err)
			return
		}
		resp := s.queryData(r.Context(), req, t, true)
		release()
		for ref, dr := range failed {
			resp.Responses[ref] = dr
		}
		status := http.StatusOK
		for _, dr := range resp.Responses {
			if dr.Error != nil {
				status = http.StatusMultiStatus
			}
		}
		b, err := json.Marshal(resp)
		if err != nil {
			s.logger().Error("encode query response", "err", err)
			writeError(w, http.StatusInternalServerError, "query: cannot encode the response")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(b)
	})
}

// parseHTTPQuery turns the request body into a QueryDataRequest. Queries
// whose envelope is malformed come back in failed, keyed by refId, so the
// others still run.
func (s *Service) parseHTTPQuery(w http.ResponseWriter, r *http.Request) (*backend.QueryDataRequest, map[string]backend.DataResponse, error) {
	var body struct {
		From    json.RawMessage   `json:"from"`
		To      json.RawMessage   `json:"to"`
		Queries []json.RawMessage `json:"queries"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxQueryBody))
	if err := dec.Decode(&body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, fmt.Errorf("query: body larger than %d bytes: %w", MaxQueryBody, err)
		}
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field == "":
			return nil, nil, fmt.Errorf("query: body must be a JSON object with from, to and queries, got JSON %s", te.Value)
		case errors.As(err, &te) && te.Field == "queries":
			return nil, nil, fmt.Errorf("query: queries must be an array of query objects, got JSON %s", te.Value)
		}
		return nil, nil, fmt.Errorf("query: body must be a JSON object with from, to and queries: %s", jsonMessage(err))
	}
	if len(body.Queries) == 0 {
		return nil, nil, errors.New("query: queries is empty")
	}
	if len(body.Queries) > MaxQueriesPerBatch {
		return nil, nil, fmt.Errorf("query: %d queries, at most %d per request", len(body.Queries), MaxQueriesPerBatch)
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	from, err := parseTime(body.From, "now-6h", now, false)
	if err != nil {
		return nil, nil, fmt.Errorf("query: from: %w", err)
	}
	to, err := parseTime(body.To, "now", now, true)
	if err != nil {
		return nil, nil, fmt.Errorf("query: to: %w", err)
	}
	if !to.After(from) {
		return nil, nil, fmt.Errorf("query: from (%s) must be before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	req := &backend.QueryDataRequest{}
	failed := map[string]backend.DataResponse{}
	seen := map[string]bool{}
	for i, raw := range body.Queries {
		var env struct {
			RefID         string   `json:"refId"`
			QueryType     string   `json:"queryType"`
			IntervalMs    *float64 `json:"intervalMs"`
			MaxDataPoints *float64 `json:"maxDataPoints"`
		}
		err := json.Unmarshal(raw, &env)
		ref := env.RefID
		if ref == "" {
			ref = defaultRefID(i)
		}
		if seen[ref] {
			return nil, nil, fmt.Errorf("query: refId %q is used twice", clip(ref))
		}
		seen[ref] = true
		if err != nil {
			msg := jsonMessage(err)
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field == "" {
				msg = "must be a JSON object, got JSON " + te.Value
			}
			failed[ref] = backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream,
				fmt.Sprintf("query %s: %s", ref, msg))
			continue
		}
		dq := backend.DataQuery{RefID: ref, QueryType: env.QueryType, TimeRange: backend.TimeRange{From: from, To: to}, JSON: raw}
		if env.IntervalMs != nil && *env.IntervalMs > 0 && *env.IntervalMs < float64(1<<40) {
			dq.Interval = time.Duration(*env.IntervalMs * float64(time.Millisecond))
		}
		if env.MaxDataPoints != nil && *env.MaxDataPoints > 0 && *env.MaxDataPoints < 1<<31 {
			dq.MaxDataPoints = int64(*env.MaxDataPoints)
		}
		req.Queries = append(req.Queries, dq)
	}
	return req, failed, nil
}

func defaultRefID(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return "Q" + strconv.Itoa(i)
}

// parseTime reads an epoch-milliseconds number or string, or a Grafana
// time ("now", "now-6h", "now-7d/d", an RFC 3339 time). Empty takes def.
func parseTime(raw json.RawMessage, def string, now time.Time, roundUp bool) (time.Time, error) {
	s := def
	if len(raw) > 0 && string(raw) != "null" {
		if raw[0] == '"' {
			if err := json.Unmarshal(raw, &s); err != nil {
				return time.Time{}, err
			}
			if strings.TrimSpace(s) == "" {
				s = def
			}
		} else {
			n, err := strconv.ParseInt(string(raw), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("%s is not epoch milliseconds", clip(string(raw)))
			}
			s = strconv.FormatInt(n, 10)
		}
	}
	s = strings.TrimSpace(s)
	tr := gtime.TimeRange{From: s, To: s, Now: now}
	var t time.Time
	var err error
	if roundUp {
		t, err = tr.ParseTo(gtime.WithLocation(time.UTC))
	} else {
		t, err = tr.ParseFrom(gtime.WithLocation(time.UTC))
	}
	if err != nil {
		if rt, rerr := time.Parse(time.RFC3339Nano, s); rerr == nil {
			return rt.UTC(), nil
		}
		return time.Time{}, fmt.Errorf("%q is not a time (want epoch ms, RFC 3339, or now, now-6h, now-7d)", clip(s))
	}
	return t.UTC(), nil
}

// ValuesHandler serves GET …/values/{field}?q=<prefix>&limit=<n>: the
// distinct values of action, user, app or country that start with q
// (ignoring case), most frequent first, as {"values": […]}. It reads the
// field from the {field} path wildcard, or else the last path segment.
func (s *Service) ValuesHandler(tenant TenantFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		t, ok := resolveTenant(w, r, tenant)
		if !ok {
			return
		}
		field := r.PathValue("field")
		if field == "" {
			field = path.Base(r.URL.Path)
		}
		var dim store.Dimension
		switch field {
		case "action":
			dim = store.DimAction
		case "user":
			dim = store.DimUser
		case "app":
			dim = store.DimApp
		case "country":
			dim = store.DimCountry
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("values: unknown field %q (want action, user, app or country)", clip(field)))
			return
		}
		qs := r.URL.Query()
		prefix := qs.Get("q")
		if len(prefix) > MaxValuesPrefix {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("values: q is longer than %d bytes", MaxValuesPrefix))
			return
		}
		n := DefaultValues
		if l := qs.Get("limit"); l != "" {
			v, err := strconv.Atoi(l)
			if err != nil || v < 1 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("values: limit %q is not a positive whole number", clip(l)))
				return
			}
			n = min(v, store.MaxValues)
		}
		release, err := s.acquire(r.Context())
		if err != nil {
			writeBusy(w, err)
			return
		}
		vals, err := s.Store.Values(r.Context(), normTenant(t), dim, prefix, n)
		release()
		if err != nil {
			if status, why, ok := engineLimit(err); ok {
				code := http.StatusBadRequest
				if status == backend.StatusTimeout {
					code = http.StatusGatewayTimeout
				}
				writeError(w, code, "values: "+why+": "+err.Error())
				return
			}
			s.logger().Error("values", "field", field, "err", err)
			writeError(w, http.StatusInternalServerError, "values: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string][]string{"values": vals})
	})
}

func resolveTenant(w http.ResponseWriter, r *http.Request, tenant TenantFunc) (string, bool) {
	if tenant == nil {
		// Reading every tenant must be a decision of the wiring, never a
		// default.
		writeError(w, http.StatusInternalServerError, "no tenant resolver is configured")
		return "", false
	}
	t, err := tenant(r)
	if err != nil {
		writeError(w, http.StatusForbidden, err.Error())
		return "", false
	}
	return t, true
}

// writeBusy answers a request that got no query slot: 429 with a hint,
// or, if the client went away while waiting, nothing it could read anyway.
func writeBusy(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrTooManyQueries) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "query: "+err.Error())
		return
	}
	writeError(w, http.StatusServiceUnavailable, "query: "+err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
