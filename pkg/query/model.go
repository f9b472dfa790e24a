// Package query turns Grafana queries into store reads and the results
// into data frames. It is the only package that knows frame shapes; the
// plugin's QueryData, the standalone server's /api/v1/query and the live
// tail all build their frames here.
package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/auditlog/auditlog/pkg/store"
)

// Query types.
const (
	TypeLogs       = "logs"
	TypeDetails    = "details"
	TypeDiff       = "diff"
	TypeGeomap     = "geomap"
	TypeTimeSeries = "timeseries"
	TypeStats      = "stats"
)

// Limits per query type: the default when none is given, and the most a
// query may ask for; larger limits are clamped with a notice.
var limits = map[string]struct{ def, max int }{
	TypeLogs:   {1000, store.MaxLimit},
	TypeDiff:   {1000, store.MaxLimit},
	TypeGeomap: {1000, store.MaxGroups},
	TypeStats:  {10, 1000},
}

// Query is the JSON model of one query. Grafana adds keys of its own
// (datasource, intervalMs, maxDataPoints, hide, key, …); they are ignored.
type Query struct {
	RefID     string  `json:"refId"`
	QueryType string  `json:"queryType"`
	Filters   Filters `json:"filters"`
	Limit     Limit   `json:"limit"`
	GroupBy   string  `json:"groupBy"`
	Live      bool    `json:"live"`
}

// Limit is a row limit: a JSON integer, a string of one (template
// variables arrive as strings), or absent (0).
type Limit int

// UnmarshalJSON refuses fractions, negatives and words.
func (l *Limit) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		*l = 0
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*l = 0
			return nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-") {
		// A whole number too large for int64 is still a valid request
		// for "as many as allowed": clamp it like any other large limit.
		n, err = 1<<31, nil
	}
	if err != nil || n < 0 {
		return errors.New("limit must be a whole number of rows, 0 or more")
	}
	if n > 1<<31 {
		n = 1 << 31 // clamped later with a notice; keeps int conversion safe
	}
	*l = Limit(n)
	return nil
}

// ParseQuery reads a query's JSON. queryType is the one Grafana passed
// outside the JSON when set, else the JSON's, else logs.
func ParseQuery(raw json.RawMessage, queryType string) (Query, error) {
	var q Query
	if !utf8.Valid(raw) {
		// encoding/json would quietly turn the bad bytes into U+FFFD and
		// run a query for text nobody typed.
		return q, badf("query is not valid UTF-8")
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		var filters json.RawMessage
		if err := decodeFields("", raw, []field{
			{"refId", &q.RefID}, {"queryType", &q.QueryType}, {"filters", &filters},
			{"limit", &q.Limit}, {"groupBy", &q.GroupBy}, {"live", &q.Live},
		}); err != nil {
			return q, err
		}
		if len(filters) > 0 && string(filters) != "null" {
			if err := decodeFilters(filters, &q.Filters); err != nil {
				return q, err
			}
		}
	}
	if queryType != "" {
		q.QueryType = queryType
	}
	if q.QueryType == "" {
		q.QueryType = TypeLogs
	}
	switch q.QueryType {
	case TypeLogs, TypeDetails, TypeDiff, TypeGeomap, TypeTimeSeries, TypeStats:
	default:
		return q, badf("unknown queryType %q (want logs, details, diff, geomap, timeseries or stats)", clip(q.QueryType))
	}
	return q, nil
}

// decodeFields decodes the named keys of a JSON object one by one, so that
// an error names the key it is about. Other keys are ignored: Grafana adds
// its own.
type field struct {
	key string
	dst any
}

func decodeFields(prefix string, raw json.RawMessage, fields []field) error {
	return decodeObject(prefix, raw, fields, false)
}

// filterKeys names the keys of a filter object, for messages.
const filterKeys = "actions, users, apps, clientIps, countries, search or eventId"

// decodeFilters reads a filter object. Unlike the query around it, nobody
// but us writes keys into it, so an unknown key is a typo ("action" for
// "actions") that, ignored, would widen the query to every event and
// could fire an alert rule on everybody's logins.
func decodeFilters(raw json.RawMessage, f *Filters) error {
	return decodeObject("filters.", raw, []field{
		{"actions", &f.Actions}, {"users", &f.Users}, {"apps", &f.Apps}, {"clientIps", &f.ClientIPs},
		{"countries", &f.Countries}, {"search", &f.Search}, {"eventId", &f.EventID},
	}, true)
}

func decodeObject(prefix string, raw json.RawMessage, fields []field, strict bool) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		name := strings.TrimSuffix(prefix, ".")
		if name == "" {
			name = "query"
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// Not "expected map[string]json.RawMessage": say it plainly.
			return badf("%s must be a JSON object, got JSON %s", name, te.Value)
		}
		return badf("%s must be a JSON object: %s", name, jsonMessage(err))
	}
	if strict {
		var unknown []string
		for k := range obj {
			if !slices.ContainsFunc(fields, func(f field) bool { return f.key == k }) {
				unknown = append(unknown, clip(k))
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			return badf("%s%s: unknown filter (want %s)", prefix, strings.Join(unknown, ", "+prefix), filterKeys)
		}
	}
	for _, f := range fields {
		v, ok := obj[f.key]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return badf("%s%s: %s", prefix, f.key, jsonMessage(err))
		}
	}
	return nil
}

func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "expected " + strings.TrimPrefix(te.Type.String(), "query.") + ", got JSON " + te.Value
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
