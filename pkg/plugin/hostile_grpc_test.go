package plugin_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/hostile"
	"github.com/auditlog/auditlog/pkg/plugin/plugintest"
)

// hostilePlugin is the built plugin with one embedded datasource holding
// a canary event, for sending it hostile input through Grafana's doors.
type hostilePlugin struct {
	c      *plugintest.Client
	ds     plugintest.Datasource
	canary event.Event
	stored int // events the test stored after the canary
}

func newHostilePlugin(t *testing.T) *hostilePlugin {
	t.Helper()
	h := &hostilePlugin{c: plugintest.Start(t), ds: plugintest.Datasource{UID: "hostile", JSONData: map[string]any{"dataPath": plugintest.Dir(t)}}}
	id := event.NewID(time.Now())
	res := h.post(t, "application/json", "", `{"id":"`+id+`","action":"canary","user":{"username":"canary-user"},"context":{"k":"v"}}`)
	if res.Status != 200 {
		t.Fatalf("canary: %d %s", res.Status, res.Body)
	}
	h.canary = h.get(t, id)
	return h
}

func (h *hostilePlugin) post(t *testing.T, contentType, encoding, body string) plugintest.Resource {
	t.Helper()
	hdr := map[string]string{"Content-Type": contentType}
	if encoding != "" {
		hdr["Content-Encoding"] = encoding
	}
	return h.c.CallResource(t, h.ds, "Editor", http.MethodPost, "events", []byte(body), hdr)
}

func (h *hostilePlugin) get(t *testing.T, id string) event.Event {
	t.Helper()
	res := h.c.CallResource(t, h.ds, "Viewer", http.MethodGet, "events/"+id, nil, nil)
	if res.Status != 200 {
		t.Fatalf("GET events/%s: %d %s", id, res.Status, res.Body)
	}
	var e event.Event
	if err := json.Unmarshal(res.Body, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// intact checks the table through the health check's event count and
// the canary through the events resource.
func (h *hostilePlugin) intact(t *testing.T) {
	t.Helper()
	var details struct{ Events uint64 }
	if err := json.Unmarshal(h.c.CheckHealth(t, h.ds).JsonDetails, &details); err != nil {
		t.Fatal(err)
	}
	if want := uint64(1 + h.stored); details.Events != want {
		t.Errorf("the table holds %d events, want %d (the canary and %d valid ones)", details.Events, want, h.stored)
	}
	got, want := h.get(t, h.canary.ID), h.canary
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("canary changed:\n got %s\nwant %s", g, w)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHostileResourcesOverGRPC sends every hostile event and body through
// the plugin's events resource (POST /api/datasources/uid/…/resources/
// events in Grafana), and hostile paths to the other resources: each is a
// 4xx with a JSON message naming the problem, valid events beside a bad
// one are stored, and the table holds exactly what it should afterwards.
func TestHostileResourcesOverGRPC(t *testing.T) {
	h := newHostilePlugin(t)
	for _, tc := range hostile.Elements() {
		for _, ndjson := range []bool{false, true} {
			name := tc.Name + " in an array"
			if ndjson {
				name = tc.Name + " in NDJSON"
			}
			t.Run("element "+name, func(t *testing.T) {
				ids, ct, body := tc.Batch(ndjson)
				res := h.post(t, ct, "", body)
				if !tc.CheckElement(t, ndjson, res.Status, res.Body) {
					return
				}
				h.stored += 2
				for _, id := range ids {
					h.get(t, id)
				}
			})
		}
	}
	for _, tc := range hostile.Bodies() {
		t.Run("body "+tc.Name, func(t *testing.T) {
			res := h.post(t, tc.ContentType, tc.Encoding, tc.Body)
			tc.Check(t, res.Status, res.Body)
		})
	}
	for _, tc := range []struct {
		name, role, method, path string
		status                   int
		want                     string
	}{
		{"id injection", "Viewer", "GET", "events/" + url.PathEscape("' OR 1=1 --"), 400, `event id "' OR 1=1 --" is not a UUID`},
		{"id with NUL", "Viewer", "GET", "events/" + url.PathEscape("a\x00b"), 400, "is not a UUID"},
		{"unknown id", "Viewer", "GET", "events/0195a000-0000-7000-8000-00000000dead", 404, "event 0195a000-0000-7000-8000-00000000dead not found"},
		{"values of a secret column", "Viewer", "GET", "values/password", 400, `values: unknown field "password"`},
		{"values limit 1e400", "Viewer", "GET", "values/user?limit=1e400", 400, `values: limit "1e400" is not a positive whole number`},
		{"values limit -1", "Viewer", "GET", "values/user?limit=-1", 400, `values: limit "-1" is not a positive whole number`},
		{"values prefix too long", "Viewer", "GET", "values/user?q=" + strings.Repeat("q", 300), 400, "values: q is longer than 256 bytes"},
		{"delete events", "Admin", "DELETE", "events", 405, "method DELETE is not allowed here"},
		{"no such resource", "Viewer", "GET", "admin/drop", 404, "no such resource: GET /admin/drop"},
		{"post values", "Editor", "POST", "values/user", 405, "method POST is not allowed here"},
		{"no role", "None", "GET", "values/user", 403, `Grafana role "None" may not use this datasource`},
	} {
		t.Run("path "+tc.name, func(t *testing.T) {
			res := h.c.CallResource(t, h.ds, tc.role, tc.method, tc.path, nil, nil)
			var a struct{ Error string }
			_ = json.Unmarshal(res.Body, &a)
			if res.Status != tc.status || !strings.Contains(a.Error, tc.want) {
				t.Errorf("%d %s; want %d and %q", res.Status, res.Body, tc.status, tc.want)
			}
		})
	}
	for _, s := range hostile.Injections {
		t.Run("values prefix "+s, func(t *testing.T) {
			res := h.c.CallResource(t, h.ds, "Viewer", "GET", "values/user?q="+url.QueryEscape(s), nil, nil)
			if res.Status != 200 || strings.TrimSpace(string(res.Body)) != `{"values":[]}` {
				t.Errorf("%d %s; want no values", res.Status, res.Body)
			}
		})
	}
	h.intact(t)
}

// TestHostileQueriesOverGRPC sends every hostile query model through
// QueryData, beside a valid query: each fails on its own with its status
// and a message naming the problem, or finds nothing where an injection
// string is only data, and the valid query still answers.
func TestHostileQueriesOverGRPC(t *testing.T) {
	h := newHostilePlugin(t)
	from, to := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for _, q := range hostile.Queries() {
		t.Run(q.Name, func(t *testing.T) {
			res := h.c.QueryData(t, h.ds, from, to, time.Minute, q.JSON, `{"refId":"OK","filters":{"users":["canary-user"]}}`)
			if ok := res.Responses["OK"]; ok.Error != nil || len(ok.Frames) != 1 || ok.Frames[0].Rows() != 1 {
				t.Errorf("the valid query beside it: %v", ok.Error)
			}
			r, found := res.Responses["A"]
			if !found {
				t.Fatalf("no response A: %v", res.Responses)
			}
			if q.Want == "" {
				if r.Error != nil {
					t.Fatalf("want success: %v", r.Error)
				}
				q.CheckFrames(t, r.Frames)
				return
			}
			if r.Error == nil {
				t.Fatalf("answered; want an error with %q", q.Want)
			}
			if r.Status != q.Status || !strings.HasPrefix(r.Error.Error(), "query A: ") || !strings.Contains(r.Error.Error(), q.Want) {
				t.Errorf("status %v error %.300q; want %v and %q", r.Status, r.Error, q.Status, q.Want)
			}
			if r.ErrorSource != backend.ErrorSourceDownstream {
				t.Errorf("error source %v, want downstream: the query is the caller's", r.ErrorSource)
			}
		})
	}
	h.intact(t)
}
