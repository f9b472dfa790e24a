package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/hostile"
	"github.com/auditlog/auditlog/pkg/query"
	"github.com/auditlog/auditlog/pkg/server"
)

// queryRoute mounts POST /api/v1/query over the fixture's store the way
// the CLI does, reading the tenant from the principal.
func queryRoute(f func() *query.Service) server.Route {
	return server.Route{Pattern: "POST /api/v1/query", Role: access.RoleRead,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f().QueryHandler(func(r *http.Request) (string, error) {
				p, _ := access.FromContext(r.Context())
				return p.ReadTenant(), nil
			}).ServeHTTP(w, r)
		})}
}

type hostileEnv struct {
	*fixture
	t      *testing.T
	canary event.Event
	stored int // events this test stored after the canary
}

func newHostileEnv(t *testing.T) *hostileEnv {
	var svc *query.Service
	f := newFixture(t, nil, queryRoute(func() *query.Service { return svc }))
	svc = &query.Service{Store: f.st, Logger: quiet}
	h := &hostileEnv{fixture: f, t: t}
	id := event.NewID(time.Now())
	a := h.post("application/json", `{"id":"`+id+`","action":"canary","user":{"username":"canary-user"},"context":{"k":"v"}}`)
	if a.status != 200 {
		t.Fatalf("canary: %d %s", a.status, a.body)
	}
	h.canary = h.get(id)
	return h
}

func (h *hostileEnv) post(contentType, body string) answer {
	h.t.Helper()
	return h.postBytes(contentType, "", []byte(body))
}

func (h *hostileEnv) postBytes(contentType, encoding string, body []byte) answer {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.srv.URL+"/api/v1/events", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

// get reads one stored event by id through the API.
func (h *hostileEnv) get(id string) event.Event {
	h.t.Helper()
	a := h.do(h.t, "GET", "/api/v1/events/"+id, "", "")
	if a.status != 200 {
		h.t.Fatalf("GET %s: %d %s", id, a.status, a.body)
	}
	var e event.Event
	if err := json.Unmarshal(a.body, &e); err != nil {
		h.t.Fatal(err)
	}
	return e
}

// intact checks the table after the hostile input: exactly the events the
// test meant to store were added, and the canary reads back unchanged.
func (h *hostileEnv) intact() {
	h.t.Helper()
	st, err := h.st.Stats(bg)
	if err != nil {
		h.t.Fatalf("stats after hostile input: %v", err)
	}
	if want := uint64(1 + h.stored); st.Events != want {
		h.t.Errorf("the table holds %d events, want %d (the canary and %d valid ones)", st.Events, want, h.stored)
	}
	if got := h.get(h.canary.ID); !equalJSON(got, h.canary) {
		h.t.Errorf("canary changed:\n got %s\nwant %s", mustJSON(got), mustJSON(h.canary))
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func equalJSON(a, b any) bool { return bytes.Equal(mustJSON(a), mustJSON(b)) }

func (a answer) ingest(t *testing.T) hostile.IngestAnswer {
	t.Helper()
	return hostile.DecodeIngest(t, a.status, a.body)
}

// TestHostileIngestElements sends each hostile event between two valid
// ones, as a JSON array and as NDJSON: the hostile one is rejected by
// index with a message naming the problem, the valid ones are stored and
// readable, nothing else is stored, and the canary is untouched.
func TestHostileIngestElements(t *testing.T) {
	h := newHostileEnv(t)
	for _, tc := range hostile.Elements() {
		for _, ndjson := range []bool{false, true} {
			name := tc.Name + " in an array"
			if ndjson {
				name = tc.Name + " in NDJSON"
			}
			t.Run(name, func(t *testing.T) {
				h.t = t
				ids, ct, body := tc.Batch(ndjson)
				a := h.post(ct, body)
				if !tc.CheckElement(t, ndjson, a.status, a.body) {
					return
				}
				h.stored += 2
				for _, id := range ids {
					h.get(id)
				}
			})
		}
	}
	h.t = t
	h.intact()
}

// TestHostileIngestBodies sends bodies that cannot be read as a whole:
// each gets a 4xx with a JSON message naming the problem, and nothing of
// it is stored.
func TestHostileIngestBodies(t *testing.T) {
	h := newHostileEnv(t)
	for _, tc := range hostile.Bodies() {
		t.Run(tc.Name, func(t *testing.T) {
			h.t = t
			a := h.postBytes(tc.ContentType, tc.Encoding, []byte(tc.Body))
			tc.Check(t, a.status, a.body)
		})
	}
	h.t = t
	h.intact()
}

// TestHostileInjectionStrings puts every injection string into every
// field. Free-text fields store it exactly and a filter on it finds
// exactly that event; fields with a syntax refuse it by name. Afterwards
// the table holds what it should, so no string ended a statement.
func TestHostileInjectionStrings(t *testing.T) {
	h := newHostileEnv(t)
	for i, s := range hostile.Injections {
		t.Run(fmt.Sprintf("%d %s", i, s), func(t *testing.T) {
			h.t = t
			id := event.NewID(time.Now())
			e := map[string]any{
				"id": id, "action": "login", "app": s, "clientIp": "81.2.69.142",
				"user":    map[string]any{"id": s, "username": s, "email": s},
				"object":  map[string]any{"app": s, "model": s, "pk": s, "name": s},
				"context": map[string]any{s: s, "nested": map[string]any{"q": s}},
				"diff":    map[string]any{s: map[string]any{"old": s, "new": s}},
			}
			a := h.post("application/json", string(mustJSON(e)))
			if r := a.ingest(t); a.status != 200 || r.Accepted != 1 {
				t.Fatalf("free-text fields: %d %s", a.status, a.body)
			}
			h.stored++
			got := h.get(id)
			for name, v := range map[string]string{"app": got.App, "user.id": got.User.ID, "user.username": got.User.Username,
				"user.email": got.User.Email, "object.app": got.Object.App, "object.model": got.Object.Model,
				"object.pk": got.Object.PK, "object.name": got.Object.Name} {
				if v != s {
					t.Errorf("%s stored as %q, want %q", name, v, s)
				}
			}
			var ctx map[string]any
			if err := json.Unmarshal(got.Context, &ctx); err != nil || ctx[s] != s {
				t.Errorf("context stored as %s", got.Context)
			}
			if ch, ok := got.Diff[s]; !ok || string(ch.Old) != string(mustJSON(s)) {
				t.Errorf("diff stored as %+v", got.Diff)
			}

			// A filter of every kind on the string finds exactly this event.
			q := fmt.Sprintf(`{"from":"now-1h","to":"now+1h","queries":[{"refId":"A","filters":{"users":[%s],"apps":[%s],"search":%s}},{"refId":"B","queryType":"stats","groupBy":"user","filters":{"users":[%s]}}]}`,
				mustJSON(s), mustJSON(s), mustJSON(s), mustJSON(s))
			a = h.do(t, "POST", "/api/v1/query", "", q)
			var res struct {
				Results map[string]struct {
					Error  string
					Frames []json.RawMessage
				}
			}
			if err := json.Unmarshal(a.body, &res); err != nil || a.status != 200 {
				t.Fatalf("query on the string: %d %.500s", a.status, a.body)
			}
			if f := res.Results["A"].Frames; len(f) != 1 || strings.Count(string(f[0]), id) != 1 {
				t.Errorf("logs filtered on %q do not show exactly the event: %.500s", s, a.body)
			}
			if f := res.Results["B"].Frames; len(f) != 1 || !strings.Contains(string(f[0]), string(mustJSON(s))[1:len(mustJSON(s))-1]) {
				t.Errorf("stats filtered on %q: %.500s", s, a.body)
			}

			// Fields with a syntax refuse it and name themselves, unless the
			// string happens to fit the syntax ("--" is a valid action and
			// tenant name): then it is data like any other.
			js := string(mustJSON(s))
			for _, c := range []struct {
				field string
				body  func(id string) string
				got   func(e event.Event) string
			}{
				{"action", func(id string) string { return `{"id":"` + id + `","action":` + js + `}` }, func(e event.Event) string { return e.Action }},
				{"tenant", func(id string) string { return `{"id":"` + id + `","action":"login","tenant":` + js + `}` }, func(e event.Event) string { return e.Tenant }},
				{"id", func(string) string { return `{"action":"login","id":` + js + `}` }, nil},
				{"severity", func(id string) string { return `{"id":"` + id + `","action":"login","severity":` + js + `}` }, func(e event.Event) string { return e.Severity }},
				{"clientIp", func(id string) string { return `{"id":"` + id + `","action":"login","clientIp":` + js + `}` }, nil},
				{"time", func(id string) string { return `{"id":"` + id + `","action":"login","time":` + js + `}` }, nil},
				{"expires", func(id string) string { return `{"id":"` + id + `","action":"login","expires":` + js + `}` }, nil},
			} {
				id := event.NewID(time.Now())
				a := h.post("application/json", c.body(id))
				r := a.ingest(t)
				if a.status == 200 && r.Accepted == 1 && c.got != nil {
					h.stored++
					if got := c.got(h.get(id)); got != s {
						t.Errorf("%s = %q was accepted but stored as %q", c.field, s, got)
					}
					continue
				}
				if a.status != 400 || len(r.Rejected) != 1 || !strings.HasPrefix(r.Rejected[0].Error, c.field+": ") {
					t.Errorf("%s = %q: %d %s, want a rejection naming %s", c.field, s, a.status, a.body, c.field)
				}
			}
		})
	}
	h.t = t
	h.intact()
}

type queryAnswer struct {
	Results map[string]struct {
		Status int
		Error  string
		Frames []*data.Frame
	}
	Error string
}

func (a answer) queries(t *testing.T) queryAnswer {
	t.Helper()
	var r queryAnswer
	if err := json.Unmarshal(a.body, &r); err != nil {
		t.Fatalf("status %d: %.300q is not a query answer: %v", a.status, a.body, err)
	}
	return r
}

// TestHostileQueriesHTTP runs every hostile query model through POST
// /api/v1/query: each fails on its own (207) with its status and a message
// naming the problem, or answers without rows where an injection string
// is only data; a valid query in the same request still answers.
func TestHostileQueriesHTTP(t *testing.T) {
	h := newHostileEnv(t)
	for _, q := range hostile.Queries() {
		if q.PluginOnly {
			continue
		}
		t.Run(q.Name, func(t *testing.T) {
			h.t = t
			body := `{"from":"now-1h","to":"now+1h","queries":[` + q.JSON + `,{"refId":"OK","filters":{"users":["canary-user"]}}]}`
			a := h.do(t, "POST", "/api/v1/query", "", body)
			r := a.queries(t)
			res, ok := r.Results["A"]
			if !ok {
				t.Fatalf("%d %.500s: no result A", a.status, a.body)
			}
			if okRes := r.Results["OK"]; okRes.Error != "" || len(okRes.Frames) != 1 || okRes.Frames[0].Rows() != 1 {
				t.Errorf("the valid query beside it: %+v", okRes)
			}
			if q.Want == "" {
				if a.status != 200 || res.Error != "" {
					t.Fatalf("%d %.500s: want success", a.status, a.body)
				}
				q.CheckFrames(t, res.Frames)
				return
			}
			if a.status != http.StatusMultiStatus || res.Status != int(q.Status) {
				t.Errorf("status %d, query status %d; want 207 and %d", a.status, res.Status, q.Status)
			}
			if !strings.Contains(res.Error, q.Want) || !strings.HasPrefix(res.Error, "query A: ") {
				t.Errorf("error %.300q lacks %q", res.Error, q.Want)
			}
		})
	}
	h.t = t
	h.intact()
}

// TestHostileQueryBodiesHTTP sends POST /api/v1/query bodies that cannot
// be read as a whole: each is a 4xx with a JSON message naming the
// problem. A range reaching before 1970 or after 2200 is not a problem:
// no event lies there, and the events inside are found.
func TestHostileQueryBodiesHTTP(t *testing.T) {
	h := newHostileEnv(t)
	q := `{"refId":"A"}`
	many := strings.TrimSuffix(strings.Repeat(`{},`, 101), ",")
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"empty", ``, 400, "query: body must be a JSON object with from, to and queries"},
		{"malformed", `{"queries":[` + q + `,]}`, 400, "query: body must be a JSON object with from, to and queries: invalid character"},
		{"truncated", `{"from":"now-1h","queries":[` + q, 400, "query: body must be a JSON object with from, to and queries: unexpected EOF"},
		{"not an object", `[` + q + `]`, 400, "query: body must be a JSON object with from, to and queries, got JSON array"},
		{"queries an object", `{"queries":` + q + `}`, 400, "query: queries must be an array of query objects, got JSON object"},
		{"no queries", `{"queries":[]}`, 400, "query: queries is empty"},
		{"101 queries", `{"queries":[` + many + `]}`, 400, "query: 101 queries, at most 100 per request"},
		{"10 MB body", `{"queries":[{"filters":{"search":"` + hostile.TenMB + `"}}]}`, 413, "query: body larger than 1048576 bytes"},
		{"nesting beyond the decoder", `{"queries":[` + hostile.Deep(20_000) + `]}`, 400, "exceeded max depth"},
		{"raw NUL", "{\"queries\":[{\"filters\":{\"users\":[\"a\x00\"]}}]}", 400, "invalid character"},
		{"from 1e400", `{"from":1e400,"queries":[` + q + `]}`, 400, "query: from: 1e400 is not epoch milliseconds"},
		{"to 99999999999999999999999", `{"to":99999999999999999999999,"queries":[` + q + `]}`, 400, "query: to: 99999999999999999999999 is not epoch milliseconds"},
		{"from yesterday", `{"from":"yesterday","queries":[` + q + `]}`, 400, `query: from: "yesterday" is not a time`},
		{"from injection", `{"from":"now-1h'; DROP TABLE events","queries":[` + q + `]}`, 400, `query: from: "now-1h'; DROP TABLE events" is not a time`},
		{"from after to", `{"from":"now","to":"now-1h","queries":[` + q + `]}`, 400, "must be before to"},
		{"refId twice", `{"queries":[` + q + `,` + q + `]}`, 400, `query: refId "A" is used twice`},
		{"1960 to 2300", `{"from":"1960-01-01T00:00:00Z","to":"2300-01-01T00:00:00Z","queries":[{"refId":"A","filters":{"users":["canary-user"]}},{"refId":"B","queryType":"timeseries","filters":{"users":["canary-user"]}}]}`, 200, ""},
		{"epoch ms far before 1970", `{"from":-99999999999999,"to":"now+1h","queries":[{"refId":"A","filters":{"users":["canary-user"]}},{"refId":"B","queryType":"timeseries","filters":{"users":["canary-user"]}}]}`, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			a := h.do(t, "POST", "/api/v1/query", "", tc.body)
			r := a.queries(t)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %.500s", a.status, tc.status, a.body)
			}
			if tc.want == "" {
				for ref, res := range r.Results {
					if res.Error != "" {
						t.Errorf("%s: %s", ref, res.Error)
					}
				}
				if f := r.Results["A"].Frames; len(f) != 1 || f[0].Rows() != 1 {
					t.Errorf("the canary is not found over the range: %.500s", a.body)
				}
				return
			}
			if !strings.Contains(r.Error, tc.want) {
				t.Errorf("error %.300q lacks %q", r.Error, tc.want)
			}
		})
	}
	h.t = t
	h.intact()
}
