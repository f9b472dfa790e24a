package ingest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

func gz(t testing.TB, s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestPostStatuses covers every answer of POST /events but 429 and 503,
// which need a busy or broken store and have their own tests.
func TestPostStatuses(t *testing.T) {
	e := newEnv(t, envConfig{opts: ingest.Options{MaxBody: 4096, MaxEvents: 3}})
	ok := `{"action":"login","user":{"username":"alice"}}`
	big := `{"action":"login","context":{"pad":"` + strings.Repeat("x", 5000) + `"}}`

	type want struct {
		status     int
		accepted   int
		duplicates int
		rejected   []ingest.Rejection // for 200/400 results
		errPart    string             // for {"error"} answers
	}
	for _, tc := range []struct {
		name      string
		principal string
		header    map[string]string
		body      string
		want      want
	}{
		{"one object", admin, map[string]string{"Content-Type": "application/json"}, ok,
			want{status: 200, accepted: 1}},
		{"object with charset", admin, map[string]string{"Content-Type": "application/json; charset=utf-8"}, ok,
			want{status: 200, accepted: 1}},
		{"no content type", admin, nil, ok,
			want{status: 200, accepted: 1}},
		{"array", admin, map[string]string{"Content-Type": "application/json"}, "[" + ok + "," + ok + "]",
			want{status: 200, accepted: 2}},
		{"ndjson", admin, map[string]string{"Content-Type": "application/x-ndjson"}, ndjson(ok, "", ok, ok),
			want{status: 200, accepted: 3}},
		{"objects one after another as json", admin, map[string]string{"Content-Type": "application/json"}, ok + "\n" + ok,
			want{status: 200, accepted: 2}},
		{"gzip", admin, map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gz(t, ok),
			want{status: 200, accepted: 1}},
		{"partial batch keeps the valid", admin, map[string]string{"Content-Type": "application/json"},
			`[` + ok + `,{"user":{"username":"x"}},` + ok + `]`,
			want{status: 200, accepted: 2, rejected: []ingest.Rejection{{Index: 1, Error: "action: required"}}}},
		{"ndjson bad line is one rejection", admin, map[string]string{"Content-Type": "application/x-ndjson"},
			ndjson(`{"action":`, ok),
			want{status: 200, accepted: 1, rejected: []ingest.Rejection{{Index: 0, Error: "truncated JSON"}}}},
		{"none valid", admin, map[string]string{"Content-Type": "application/json"},
			`[{"action":"Not An Action"},{"action":"login","bogus":1},{"action":"login","time":"yesterday"}]`,
			want{status: 400, rejected: []ingest.Rejection{
				{Index: 0, Error: `action: "Not An Action" must match [a-z0-9_.:-]{1,64}`},
				{Index: 1, Error: "bogus: unknown field"},
				{Index: 2, Error: `time: "yesterday" is not an RFC 3339 time`},
			}}},
		{"array element not an object", admin, map[string]string{"Content-Type": "application/json"}, `[42, ` + ok + `]`,
			want{status: 200, accepted: 1, rejected: []ingest.Rejection{{Index: 0, Error: "event must be a JSON object"}}}},
		{"truncated json", admin, map[string]string{"Content-Type": "application/json"}, `{"action":`,
			want{status: 400, errPart: "ends in the middle of a JSON value"}},
		{"broken array", admin, map[string]string{"Content-Type": "application/json"}, `[` + ok + `,}`,
			want{status: 400, errPart: "not valid JSON at byte"}},
		{"not json", admin, map[string]string{"Content-Type": "application/json"}, `hello`,
			want{status: 400, errPart: `it starts with "h"`}},
		{"bare string", admin, map[string]string{"Content-Type": "application/json"}, `"login"`,
			want{status: 400, errPart: "must be a JSON object, an array of objects, or NDJSON"}},
		{"empty body", admin, map[string]string{"Content-Type": "application/json"}, "  \n",
			want{status: 400, errPart: "the request body is empty"}},
		{"empty ndjson", admin, map[string]string{"Content-Type": "application/x-ndjson"}, "\n\n",
			want{status: 400, errPart: "the request body is empty"}},
		{"empty array", admin, map[string]string{"Content-Type": "application/json"}, "[]",
			want{status: 400, errPart: "the JSON array has no events"}},
		{"trailing data", admin, map[string]string{"Content-Type": "application/json"}, "[" + ok + "] {}",
			want{status: 400, errPart: "trailing data after the JSON array"}},
		{"array then non-object", admin, map[string]string{"Content-Type": "application/json"}, ok + " 7",
			want{status: 400, errPart: "value 1 of the body is not a JSON object"}},
		{"bad gzip", admin, map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, ok,
			want{status: 400, errPart: "not gzip data"}},
		{"other content type", admin, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, ok,
			want{status: 415, errPart: `Content-Type "application/x-www-form-urlencoded" is not supported`}},
		{"bad content type", admin, map[string]string{"Content-Type": "/"}, ok,
			want{status: 415, errPart: "is not a media type"}},
		{"other content encoding", admin, map[string]string{"Content-Type": "application/json", "Content-Encoding": "br"}, ok,
			want{status: 415, errPart: `Content-Encoding "br" is not supported`}},
		{"body too large", admin, map[string]string{"Content-Type": "application/json"}, big,
			want{status: 413, errPart: "larger than 4096 bytes"}},
		{"gzip body too large once unpacked", admin, map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gz(t, big),
			want{status: 413, errPart: "larger than 4096 bytes"}},
		{"too many events in an array", admin, map[string]string{"Content-Type": "application/json"}, "[" + strings.Repeat(ok+",", 3) + ok + "]",
			want{status: 413, errPart: "more than 3 events in one request"}},
		{"too many events in ndjson", admin, map[string]string{"Content-Type": "application/x-ndjson"}, ndjson(ok, ok, ok, ok),
			want{status: 413, errPart: "more than 3 events in one request"}},
		{"no principal", "", map[string]string{"Content-Type": "application/json"}, ok,
			want{status: 401, errPart: "authentication required"}},
		{"read role may not write", "read@*", map[string]string{"Content-Type": "application/json"}, ok,
			want{status: 403, errPart: `role "read" may not do this`}},
		{"scoped token naming another tenant", "ingest@acme", map[string]string{"Content-Type": "application/json"},
			`[` + ok + `,{"action":"login","tenant":"globex"}]`,
			want{status: 403, errPart: `event 1: tenant: the token is scoped to tenant "acme" and may not write events of tenant "globex"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, "POST", "/api/v1/events", tc.principal, tc.header, []byte(tc.body))
			if r.status != tc.want.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.want.status, r.body)
			}
			if tc.want.errPart != "" {
				if msg := r.errorMsg(t); !strings.Contains(msg, tc.want.errPart) {
					t.Fatalf("error %q does not contain %q", msg, tc.want.errPart)
				}
				return
			}
			res := r.result(t)
			if res.Accepted != tc.want.accepted || res.Duplicates != tc.want.duplicates {
				t.Errorf("accepted %d duplicates %d, want %d %d", res.Accepted, res.Duplicates, tc.want.accepted, tc.want.duplicates)
			}
			if fmt.Sprint(res.Rejected) != fmt.Sprint(tc.want.rejected) && !(len(res.Rejected) == 0 && len(tc.want.rejected) == 0) {
				t.Errorf("rejected %+v, want %+v", res.Rejected, tc.want.rejected)
			}
		})
	}
}

func TestRejectedEventsAreNotStoredAndTenantViolationStoresNothing(t *testing.T) {
	e := newEnv(t, envConfig{})
	good, bad, other := event.NewID(time.Now()), event.NewID(time.Now()), event.NewID(time.Now())
	r := e.post(t, "application/json", fmt.Sprintf(`[{"id":%q,"action":"login"},{"id":%q,"action":""}]`, good, bad))
	if res := r.result(t); r.status != 200 || res.Accepted != 1 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	if got := e.stored(t, good, bad); len(got) != 1 || got[0].ID != good {
		t.Fatalf("stored %+v, want only the valid event", got)
	}
	r = e.do(t, "POST", "/api/v1/events", "ingest@acme", map[string]string{"Content-Type": "application/json"},
		[]byte(fmt.Sprintf(`[{"id":%q,"action":"login"},{"action":"login","tenant":"globex"}]`, other)))
	if r.status != 403 {
		t.Fatalf("status %d", r.status)
	}
	if got := e.stored(t, other); len(got) != 0 {
		t.Fatalf("a refused request stored %d events", len(got))
	}
}

func TestMethodsAndUnknownPaths(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"PUT", "/api/v1/events", 405, "POST"},
		{"GET", "/api/v1/events", 405, "POST"},
		{"DELETE", "/api/v1/events/" + event.NewID(time.Now()), 405, "GET, HEAD"},
		{"GET", "/api/v1/nope", 404, ""},
		{"GET", "/api/v1/events/a/b", 404, ""},
	} {
		r := e.do(t, tc.method, tc.path, admin, nil, nil)
		if r.status != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, r.status, tc.status)
			continue
		}
		r.errorMsg(t)
		if r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, r.header.Get("Allow"), tc.allow)
		}
	}
}

func TestGetEvent(t *testing.T) {
	e := newEnv(t, envConfig{})
	id := event.NewID(time.Now())
	body := fmt.Sprintf(`{"id":%q,"action":"login","tenant":"acme","clientIp":"10.1.2.3","user":{"username":"alice"}}`, id)
	if r := e.post(t, "application/json", body); r.status != 200 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name, principal, id string
		status              int
		errPart             string
	}{
		{"admin", admin, id, 200, ""},
		{"reader of the tenant", "read@acme", id, 200, ""},
		{"upper-case id", "read@acme", strings.ToUpper(id), 200, ""},
		{"reader of another tenant", "read@globex", id, 404, "not found"},
		{"absent", admin, event.NewID(time.Now()), 404, "not found"},
		{"malformed id", admin, "not-a-uuid", 400, `event id "not-a-uuid" is not a UUID`},
		{"no principal", "", id, 401, "authentication required"},
		{"ingest role may not read", "ingest@acme", id, 403, `needs role "read"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get(t, tc.principal, tc.id)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status != 200 {
				if msg := r.errorMsg(t); !strings.Contains(msg, tc.errPart) {
					t.Fatalf("error %q does not contain %q", msg, tc.errPart)
				}
				return
			}
			// event.Decode would drop receivedAt, which only ingest sets.
			var got event.Event
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("answer is not a native event: %v\n%s", err, r.body)
			}
			if _, err := event.Decode(r.body); err != nil {
				t.Fatalf("answer cannot be sent again as it is: %v", err)
			}
			if got.ID != id || got.Tenant != "acme" || got.User.Username != "alice" || got.ReceivedAt.IsZero() || got.Expires.IsZero() {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestStoreFailureIs503(t *testing.T) {
	var batches []error
	e := newEnv(t, envConfig{st: storetest.Broken(t), opts: ingest.Options{Logger: quiet}, wopts: ingest.WriterOptions{
		OnBatch: func(n int, _ time.Duration, err error) { batches = append(batches, err) },
	}})
	r := e.post(t, "application/json", `{"action":"login"}`)
	if r.status != 503 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if msg := r.errorMsg(t); !strings.Contains(msg, "nothing of this request was acknowledged") {
		t.Errorf("error %q", msg)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if len(batches) != 1 || batches[0] == nil {
		t.Errorf("OnBatch saw %v, want one failed batch", batches)
	}
	r = e.get(t, admin, event.NewID(time.Now()))
	if r.status != 503 {
		t.Fatalf("get: status %d: %s", r.status, r.body)
	}
	r.errorMsg(t)
}

func TestLongNDJSONLines(t *testing.T) {
	e := newEnv(t, envConfig{})
	// 200 KB of context: longer than the reader's 64 KiB buffer, within
	// the event's 256 KiB limit. A line without a final newline too.
	pad := strings.Repeat("x", 200_000)
	ids := []string{event.NewID(time.Now()), event.NewID(time.Now())}
	body := fmt.Sprintf(`{"id":%q,"action":"login","context":{"pad":%q}}`+"\n"+`{"id":%q,"action":"logout","context":{"pad":%q}}`,
		ids[0], pad, ids[1], pad)
	r := e.post(t, "application/x-ndjson", body)
	if res := r.result(t); r.status != 200 || res.Accepted != 2 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := e.stored(t, ids...)
	if len(got) != 2 {
		t.Fatalf("stored %d of 2", len(got))
	}
	for _, ev := range got {
		if !strings.Contains(string(ev.Context), pad) {
			t.Errorf("%s: context cut short (%d bytes)", ev.Action, len(ev.Context))
		}
	}
}
