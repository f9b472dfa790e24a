// Package hostile holds the hostile inputs every front door is tested
// with: events for ingest, query models for queries, and strings that would
// change a statement built by concatenation. The standalone server's tests
// and the plugin's gRPC tests run the same tables, so both doors refuse
// the same input with the same message.
//
// It is test data, kept in a plain package so that tests of several
// packages can share it; nothing else imports it.
package hostile

import (
	"bytes"
	"compress/gzip"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// Injections are strings that would end or extend a statement built by
// string concatenation, or fill a parameter slot. They are data
// everywhere: stored and found as they are in free-text fields and
// filters, refused by name where a field has a syntax.
var Injections = []string{
	`'`, `\`, `--`, `; DROP TABLE events`, `{param:String}`, `' OR 1=1 --`,
	`\'; DROP TABLE events; --`, `/* x */`, "`events`", `%s%d`, `$(id)`,
}

// Deep is a JSON array nested n levels.
func Deep(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }

// TenMB is a 10 MB string: within the ingest body limit (10 MiB), far over
// any field's.
var TenMB = strings.Repeat("x", 10_000_000)

// Element is one hostile event. Sent between two valid events, it must be
// rejected by its index with a message containing Want while both valid
// ones are stored.
type Element struct {
	Name, Event, Want string
	// BreaksArray: the element is not JSON syntax, so an array holding it
	// cannot be split into elements and is refused whole (400, nothing
	// stored); NDJSON still keeps the other lines.
	BreaksArray bool
}

// Elements are the hostile events.
func Elements() []Element {
	return []Element{
		{"malformed", `{"action":"login",}`, "invalid JSON", true},
		{"truncated", `{"action":"login","user":{"username":"al`, "truncated JSON", true},
		{"raw NUL", "{\"action\":\"login\",\"user\":{\"username\":\"a\x00b\"}}", `invalid character '\x00' in string literal`, true},
		{"trailing brace", `{"action":"login"}}`, "trailing data after the event object", true},
		{"not an object", `"login"`, "event must be a JSON object", false},
		{"array element", `[{"action":"login"}]`, "event must be a JSON object", false},
		{"action is a number", `{"action":1}`, "action: expected string, got JSON number", false},
		{"user is a string", `{"action":"login","user":"alice"}`, "user: expected", false},
		{"time is a number", `{"action":"login","time":1700000000}`, "time: expected string, got JSON number", false},
		{"context is an array", `{"action":"login","context":[1]}`, "context: must be a JSON object", false},
		{"diff is a string", `{"action":"login","diff":"email"}`, "diff: must be an object", false},
		{"huge float", `{"action":"login","geo":{"lat":1e400,"lon":0}}`, "geo.lat: expected float64, got JSON number 1e400", false},
		{"huge integer", `{"action":"login","asn":{"number":99999999999999999999999}}`, "asn.number: expected uint32, got JSON number 99999999999999999999999", false},
		{"latitude out of range", `{"action":"login","geo":{"lat":1e300,"lon":0}}`, "geo.lat: 1e+300 is not a latitude", false},
		{"deep context", `{"action":"login","context":{"a":` + Deep(40) + `}}`, "context: nested deeper than 32 levels", false},
		{"deep diff", `{"action":"model_updated","diff":{"f":{"old":` + Deep(40) + `}}}`, "diff.f: nested deeper than 32 levels", false},
		{"10 MB username", `{"action":"login","user":{"username":"` + TenMB + `"}}`, "user.username: longer than 4096 bytes", false},
		{"10 MB context", `{"action":"login","context":{"pad":"` + TenMB + `"}}`, "context: larger than 262144 bytes", false},
		{"10 MB city", `{"action":"login","geo":{"city":"` + TenMB + `"}}`, "geo.city: longer than 4096 bytes", false},
		{"escaped NUL in username", `{"action":"login","user":{"username":"a\u0000b"}}`, "user.username: contains a NUL character", false},
		{"escaped NUL in context", `{"action":"login","context":{"k":"a\u0000b"}}`, "context: contains a NUL character", false},
		{"escaped NUL in action", `{"action":"login\u0000"}`, `action: "login\x00" must match`, false},
		{"invalid UTF-8", "{\"action\":\"login\",\"user\":{\"username\":\"\xff\xfe\"}}", "event is not valid UTF-8", false},
		{"bad IP", `{"action":"login","clientIp":"999.1.1.1"}`, `clientIp: "999.1.1.1" is not an IPv4 or IPv6 address`, false},
		{"CIDR as IP", `{"action":"login","clientIp":"10.0.0.0/8"}`, `clientIp: "10.0.0.0/8" is not an IPv4 or IPv6 address`, false},
		// A zoned address used to pass validation and then fail the whole
		// insert in ClickHouse: every event of the group commit, other
		// senders' too, got a 503.
		{"IP with zone", `{"action":"login","client_ip":"fe80::1%eth0"}`, `clientIp: "fe80::1%eth0" is not an IPv4 or IPv6 address: it has a zone`, false},
		{"before 1970", `{"action":"login","time":"1969-12-31T23:59:59Z"}`, "time: 1969-12-31T23:59:59Z is outside 1970-01-01 … 2200-01-01", false},
		{"year 1", `{"action":"login","time":"0001-01-01T00:00:00Z"}`, "time: 0001-01-01T00:00:00Z is outside 1970-01-01", false},
		{"year 2200", `{"action":"login","time":"2200-01-01T00:00:00Z"}`, "time: 2200-01-01T00:00:00Z is outside 1970-01-01 … 2200-01-01", false},
		{"expires after 2106", `{"action":"login","expires":"2150-01-01T00:00:00Z"}`, "expires: 2150-01-01T00:00:00Z is outside 1970-01-01 … 2106-02-07", false},
		{"time not RFC 3339", `{"action":"login","time":"yesterday"}`, `time: "yesterday" is not an RFC 3339 time`, false},
		{"unknown field", `{"action":"login","actor":"alice"}`, "actor: unknown field", false},
		{"conflicting ids", `{"id":"0195a000-0000-7000-8000-000000000001","pk":"0195a000-0000-7000-8000-000000000002","action":"login"}`, "pk: conflicts with id", false},
	}
}

// Query is one hostile query model. Want is part of the query's own error
// (and Status its status); an empty Want means the query must succeed,
// with Notice in its frame's notices when set, and finding no event when
// NoEvents is set (no rows, or only zero counts).
type Query struct {
	Name, JSON string
	Want       string
	Status     backend.Status
	Notice     string
	NoEvents   bool
	// PluginOnly: the model is not JSON syntax, or too large for an HTTP
	// body; through the HTTP API the whole body is refused instead, which
	// the HTTP tests cover with their own cases.
	PluginOnly bool
}

// Queries are the hostile query models.
func Queries() []Query {
	bad := backend.StatusBadRequest
	qs := []Query{
		{Name: "not an object", JSON: `"logs"`, Want: "must be a JSON object, got JSON string", Status: bad},
		{Name: "malformed", JSON: `{"queryType":"logs",}`, Want: "query must be a JSON object: invalid character", Status: bad, PluginOnly: true},
		{Name: "truncated", JSON: `{"queryType":"logs","filters":{"actions":["lo`, Want: "query must be a JSON object: unexpected end of JSON input", Status: bad, PluginOnly: true},
		{Name: "raw NUL", JSON: "{\"filters\":{\"users\":[\"a\x00b\"]}}", Want: `query must be a JSON object: invalid character '\x00' in string literal`, Status: bad, PluginOnly: true},
		{Name: "invalid UTF-8", JSON: "{\"filters\":{\"users\":[\"\xff\xfe\"]}}", Want: "query is not valid UTF-8", Status: bad},
		{Name: "nesting beyond the decoder", JSON: `{"filters":{"actions":` + Deep(20_000) + `}}`, Want: "exceeded max depth", Status: bad, PluginOnly: true},
		{Name: "deep filter", JSON: `{"filters":{"actions":` + Deep(3000) + `}}`, Want: "filters.actions: expected an array of strings", Status: bad},
		{Name: "unknown queryType", JSON: `{"queryType":"logs'; DROP TABLE events"}`, Want: `unknown queryType "logs'; DROP TABLE events"`, Status: bad},
		{Name: "filters not an object", JSON: `{"filters":"actions=login"}`, Want: "filters must be a JSON object, got JSON string", Status: bad},
		{Name: "filter of numbers", JSON: `{"filters":{"actions":[1,2]}}`, Want: "filters.actions: expected an array of strings", Status: bad},
		{Name: "search is an array", JSON: `{"filters":{"search":["x"]}}`, Want: "filters.search: expected string, got JSON array", Status: bad},
		{Name: "unknown filter", JSON: `{"filters":{"action":["login"]}}`, Want: "filters.action: unknown filter (want actions, users, apps, clientIps, countries, search or eventId)", Status: bad},
		{Name: "limit 1e400", JSON: `{"limit":1e400}`, Want: "limit: limit must be a whole number", Status: bad},
		{Name: "limit -1", JSON: `{"limit":-1}`, Want: "limit: limit must be a whole number of rows, 0 or more", Status: bad},
		{Name: "limit 99999999999999999999999", JSON: `{"limit":99999999999999999999999}`, Notice: "above the maximum of 10000"},
		{Name: "groupBy a number", JSON: `{"queryType":"stats","groupBy":7}`, Want: "groupBy: expected string, got JSON number", Status: bad},
		{Name: "live a string", JSON: `{"live":"yes"}`, Want: "live: expected bool", Status: bad},
		{Name: "groupBy injection", JSON: `{"queryType":"timeseries","groupBy":"user) OR 1=1 --"}`, Want: `groupBy "user) OR 1=1 --": want action, user`, Status: bad},
		{Name: "stats groupBy injection", JSON: `{"queryType":"stats","groupBy":"'; DROP TABLE events"}`, Want: `groupBy "'; DROP TABLE events": want action`, Status: bad},
		{Name: "10 MB search", JSON: `{"filters":{"search":"` + TenMB + `"}}`, Want: "filters: too large", Status: bad, PluginOnly: true},
		{Name: "2 KB search", JSON: `{"filters":{"search":"` + strings.Repeat("s", 2048) + `"}}`, Want: "filters.search: longer than 1024 bytes", Status: bad},
		{Name: "5 KB user", JSON: `{"filters":{"users":["` + strings.Repeat("u", 5000) + `"]}}`, Want: "filters.users[0]: longer than 4096 bytes", Status: bad},
		{Name: "1001 users", JSON: `{"filters":{"users":[` + strings.TrimSuffix(strings.Repeat(`"u",`, 1001), ",") + `]}}`, Want: "filters.users: 1001 values, at most 1000 allowed", Status: bad},
		{Name: "escaped NUL in a user", JSON: `{"filters":{"users":["a\u0000b"]}}`, Want: "filters.users[0]: contains a NUL character", Status: bad},
		{Name: "escaped NUL in search", JSON: `{"filters":{"search":"\u0000"}}`, Want: "filters.search: contains a NUL character", Status: bad},
		{Name: "bad IP", JSON: `{"filters":{"clientIps":["999.1.1.1"]}}`, Want: `filters.clientIps[0]: "999.1.1.1" is not an IP address or CIDR`, Status: bad},
		{Name: "bad CIDR", JSON: `{"filters":{"clientIps":["10.0.0.0/33"]}}`, Want: `filters.clientIps[0]: "10.0.0.0/33" is not an IP address or CIDR`, Status: bad},
		{Name: "zoned IP", JSON: `{"filters":{"clientIps":["::1","fe80::1%eth0"]}}`, Want: `filters.clientIps[1]: "fe80::1%eth0" is not an IP address or CIDR`, Status: bad},
		{Name: "IP injection", JSON: `{"filters":{"clientIps":["' OR 1=1 --"]}}`, Want: `filters.clientIps[0]: "' OR 1=1 --" is not an IP address or CIDR`, Status: bad},
		{Name: "three-letter country", JSON: `{"filters":{"countries":["GBR"]}}`, Want: `filters.countries[0]: "GBR" is not a two-letter ISO country code`, Status: bad},
		{Name: "country injection", JSON: `{"filters":{"countries":["'1"]}}`, Want: `filters.countries[0]: "'1" is not a two-letter ISO country code`, Status: bad},
		{Name: "event id injection", JSON: `{"queryType":"details","filters":{"eventId":"' OR 1=1 --"}}`, Want: `filters.eventId: "' OR 1=1 --" is not an event id (a UUID)`, Status: bad},
		{Name: "details without an id", JSON: `{"queryType":"details"}`, Want: "filters.eventId is required", Status: bad},
		{Name: "details of an unknown id", JSON: `{"queryType":"details","filters":{"eventId":"0195a000-0000-7000-8000-00000000dead"}}`, Want: "event 0195a000-0000-7000-8000-00000000dead: not found", Status: backend.StatusNotFound},
		{Name: "Grafana's own keys", JSON: `{"datasource":{"type":"auditlog-events-datasource","uid":"x"},"hide":false,"intervalMs":1000,"maxDataPoints":500,"key":"Q-1"}`},
	}
	for _, s := range Injections {
		js := quote(s)
		qs = append(qs,
			Query{Name: "injection in every filter: " + s, JSON: `{"filters":{"actions":[` + js + `],"users":[` + js + `],"apps":[` + js + `],"search":` + js + `}}`, NoEvents: true},
			Query{Name: "injection in users: " + s, JSON: `{"queryType":"stats","groupBy":"user","filters":{"users":[` + js + `]}}`, NoEvents: true},
			Query{Name: "injection in search: " + s, JSON: `{"queryType":"timeseries","filters":{"search":` + js + `}}`, NoEvents: true},
		)
	}
	return qs
}

// quote writes s as a JSON string; the injections hold no characters that
// need more than these escapes.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Body is a hostile ingest request body, refused as a whole with Status
// and a JSON error containing Want; nothing of it may be stored. An empty
// Want marks the body whose every event is invalid: 400 with each
// rejected by index.
type Body struct {
	Name, ContentType, Encoding, Body string
	Status                            int
	Want                              string
}

// Bodies are the hostile ingest bodies, for the default limits (10 MiB,
// 10,000 events).
func Bodies() []Body {
	ok := `{"action":"login"}`
	var gzBomb bytes.Buffer
	zw := gzip.NewWriter(&gzBomb)
	_, _ = zw.Write(bytes.Repeat([]byte(" "), 20<<20))
	_ = zw.Close()
	var tooMany strings.Builder
	for range 10_001 {
		tooMany.WriteString(ok + "\n")
	}
	return []Body{
		{"empty", "application/json", "", "", 400, "the request body is empty"},
		{"white space", "application/x-ndjson", "", " \r\n\t\n", 400, "the request body is empty"},
		{"null", "application/json", "", "null", 400, "it starts with \"n\""},
		{"number", "application/json", "", "1e400", 400, "must be a JSON object, an array of objects, or NDJSON"},
		{"byte order mark", "application/json", "", "\xef\xbb\xbf" + ok, 400, "must be a JSON object"},
		{"array cut after the bracket", "application/json", "", "[", 400, "the body ends in the middle of a JSON value"},
		{"array cut after an element", "application/json", "", "[" + ok, 400, "the body ends in the middle of a JSON value"},
		{"array cut inside an element", "application/json", "", "[" + ok + `,{"action":"lo`, 400, "the body ends in the middle of a JSON value"},
		{"array without comma", "application/json", "", "[" + ok + " " + ok + "]", 400, "the body is not valid JSON at byte"},
		{"array with trailing data", "application/json", "", "[" + ok + "] {}", 400, "trailing data after the JSON array"},
		{"empty array", "application/json", "", "[]", 400, "the JSON array has no events"},
		{"raw NUL in an array", "application/json", "", "[{\"action\":\"a\x00\"}," + ok + "]", 400, "the body is not valid JSON at byte"},
		{"object then a stray brace", "application/json", "", ok + "}", 400, "the body is not valid JSON"},
		{"object then an array", "application/json", "", ok + "[1]", 400, "value 1 of the body is not a JSON object"},
		{"nesting beyond the decoder", "application/json", "", "[" + Deep(20_000) + "]", 400, "exceeded max depth"},
		{"11 MB body", "application/json", "", `{"action":"login","context":{"pad":"` + strings.Repeat("x", 11<<20) + `"}}`, 413, "larger than 10485760 bytes"},
		{"gzip bomb", "application/json", "gzip", gzBomb.String(), 413, "larger than 10485760 bytes"},
		{"not gzip", "application/json", "gzip", ok, 400, "the body is not gzip data"},
		{"10,001 events", "application/x-ndjson", "", tooMany.String(), 413, "more than 10000 events in one request"},
		{"form", "application/x-www-form-urlencoded", "", "action=login", 415, "is not supported"},
		{"content type injection", "application/json'; DROP TABLE events", "", ok, 415, "not a media type"},
		{"all invalid", "application/x-ndjson", "", `{"action":"Bad Action"}` + "\n" + `{"action":1}`, 400, ""},
	}
}
