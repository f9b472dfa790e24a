package hostile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/auditlog/auditlog/pkg/event"
)

// IngestAnswer is the JSON of an ingest reply, as both doors send it.
type IngestAnswer struct {
	Accepted, Duplicates int
	Rejected             []struct {
		Index int
		Error string
	}
	Error string
}

// DecodeIngest reads an ingest reply, failing t when it is not JSON.
func DecodeIngest(t testing.TB, status int, body []byte) IngestAnswer {
	t.Helper()
	var a IngestAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("status %d: %.300q is not JSON", status, body)
	}
	return a
}

// Batch puts the element between two valid events with fresh ids, as a
// JSON array or as NDJSON, and returns those ids with the request.
func (e Element) Batch(ndjson bool) (ids []string, contentType, body string) {
	ids = []string{event.NewID(time.Now()), event.NewID(time.Now())}
	ok := func(i int) string { return `{"id":"` + ids[i] + `","action":"login","user":{"username":"ok"}}` }
	if ndjson {
		return ids, "application/x-ndjson", ok(0) + "\n" + e.Event + "\n" + ok(1) + "\n"
	}
	return ids, "application/json", "[" + ok(0) + "," + e.Event + "," + ok(1) + "]"
}

// CheckElement checks the reply to e.Batch(ndjson): the element rejected
// by index with its message and both valid events accepted, or, for an
// element that breaks an array, the array refused whole. It tells whether
// the two valid events were stored.
func (e Element) CheckElement(t testing.TB, ndjson bool, status int, body []byte) bool {
	t.Helper()
	a := DecodeIngest(t, status, body)
	if e.BreaksArray && !ndjson {
		if status != 400 || a.Accepted != 0 || !strings.Contains(a.Error, "the body") {
			t.Fatalf("%d %.300s: want the array refused whole", status, body)
		}
		return false
	}
	if status != 200 || a.Accepted != 2 || len(a.Rejected) != 1 || a.Rejected[0].Index != 1 {
		t.Fatalf("%d %.300s: want 200, 2 accepted and element 1 rejected", status, body)
	}
	if !strings.Contains(a.Rejected[0].Error, e.Want) {
		t.Errorf("rejection %q lacks %q", a.Rejected[0].Error, e.Want)
	}
	return true
}

// Check checks the reply to the body: its status and message, nothing
// accepted, and for a body of invalid events each one rejected.
func (b Body) Check(t testing.TB, status int, body []byte) {
	t.Helper()
	a := DecodeIngest(t, status, body)
	if status != b.Status || a.Accepted != 0 {
		t.Fatalf("status %d, %d accepted; want %d, none: %.300s", status, a.Accepted, b.Status, body)
	}
	if b.Want == "" {
		if len(a.Rejected) != 2 || !strings.Contains(a.Rejected[0].Error, "action") || !strings.Contains(a.Rejected[1].Error, "action") {
			t.Errorf("every event invalid: %s", body)
		}
		return
	}
	if !strings.Contains(a.Error, b.Want) {
		t.Errorf("error %q lacks %q", a.Error, b.Want)
	}
}

// CheckFrames checks the frames a hostile query answered with: the notice
// it must carry, and no events when no event can match.
func (q Query) CheckFrames(t testing.TB, frames data.Frames) {
	t.Helper()
	var notices []string
	events := 0.0
	for _, f := range frames {
		if c, _ := f.FieldByName("count"); c != nil {
			for i := range c.Len() {
				if v, _ := c.NullableFloatAt(i); v != nil {
					events += *v
				}
			}
		} else {
			events += float64(f.Rows())
		}
		if f.Meta != nil {
			for _, n := range f.Meta.Notices {
				notices = append(notices, n.Text)
			}
		}
	}
	if q.Notice != "" && !strings.Contains(strings.Join(notices, "\n"), q.Notice) {
		t.Errorf("notices %q lack %q", notices, q.Notice)
	}
	if q.NoEvents && events != 0 {
		t.Errorf("%v events found by filters no event matches", events)
	}
}
