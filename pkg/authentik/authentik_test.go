package authentik_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/authentik"
	"github.com/auditlog/auditlog/pkg/authentik/authentiktest"
	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/server"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var (
	bg    = context.Background()
	quiet = slog.New(slog.DiscardHandler)
)

const akToken = "ak-api-token"

// memSink stores by pk, counting how often each event came.
type memSink struct {
	mu     sync.Mutex
	seen   map[string]int
	events map[string]map[string]any
}

func newMemSink() *memSink {
	return &memSink{seen: map[string]int{}, events: map[string]map[string]any{}}
}

func (s *memSink) Send(_ context.Context, evs [][]byte) (authentik.Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sent authentik.Sent
	for i, b := range evs {
		var e map[string]any
		if err := json.Unmarshal(b, &e); err != nil {
			sent.Rejected = append(sent.Rejected, authentik.Rejection{Index: i, Error: err.Error()})
			continue
		}
		pk, _ := e["pk"].(string)
		s.seen[pk]++
		if s.seen[pk] > 1 {
			sent.Duplicates++
			continue
		}
		s.events[pk] = e
		sent.Accepted++
	}
	return sent, nil
}

var (
	to   = time.Now().UTC().Truncate(time.Second)
	from = to.Add(-10 * 24 * time.Hour)
)

// withCreated sets the created time of raws[i] to that of raws[j], to
// make events share a microsecond.
func withCreated(t *testing.T, raws [][]byte, i, j int) {
	var src map[string]any
	if err := json.Unmarshal(raws[j], &src); err != nil {
		t.Fatal(err)
	}
	var dst map[string]any
	if err := json.Unmarshal(raws[i], &dst); err != nil {
		t.Fatal(err)
	}
	dst["created"] = src["created"]
	b, err := json.Marshal(dst)
	if err != nil {
		t.Fatal(err)
	}
	raws[i] = b
}

func client(t *testing.T, url string, pageSize int) *authentik.Client {
	c, err := authentik.NewClient(url, akToken)
	if err != nil {
		t.Fatal(err)
	}
	c.PageSize, c.Retries, c.Backoff = pageSize, 1, time.Millisecond
	return c
}

func TestImportAllPages(t *testing.T) {
	raws := demo.GenerateRaw(1, 250, from, to)
	for i := 98; i <= 102; i++ { // a tie across the page boundary at 100
		withCreated(t, raws, i, 98)
	}
	fake := authentiktest.New(t, akToken, raws)
	sink := newMemSink()
	var prog bytes.Buffer
	im := &authentik.Importer{Client: client(t, fake.URL, 100), Sink: sink, CursorPath: filepath.Join(t.TempDir(), "cursor.json"), Progress: &prog, Logger: quiet}
	st, err := im.Run(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sink.events) != 250 {
		t.Fatalf("imported %d distinct events, want 250 (stats %+v)", len(sink.events), st)
	}
	if st.Accepted != 250 || st.Fetched != 250 {
		t.Errorf("stats %+v: events of a tie were sent twice", st)
	}
	for _, e := range sink.events {
		if _, ok := e["expires"]; ok {
			t.Fatal("authentik's expires was kept; Auditlog's retention should apply")
		}
	}
	for _, q := range fake.Requests() {
		if q.Get("ordering") != "created" || q.Get("page_size") != "100" {
			t.Errorf("query %v", q)
		}
	}
	if !strings.Contains(prog.String(), "250/250 events 100%") || !strings.HasSuffix(prog.String(), "\n") {
		t.Errorf("progress %q", prog.String())
	}
	// A second run finds nothing new and sends nothing.
	before := len(fake.Requests())
	st, err = im.Run(bg)
	if err != nil || st.Fetched != 0 {
		t.Fatalf("second run: %+v %v", st, err)
	}
	if n := len(fake.Requests()) - before; n != 1 {
		t.Errorf("second run made %d requests, want 1", n)
	}
}

func TestImportResumesAfterFailure(t *testing.T) {
	raws := demo.GenerateRaw(2, 250, from, to)
	fake := authentiktest.New(t, akToken, raws)
	fake.FailFrom(3) // pages 1 and 2 work, then authentik fails (twice: the try and the retry)
	sink := newMemSink()
	cursorPath := filepath.Join(t.TempDir(), "cursor.json")
	im := &authentik.Importer{Client: client(t, fake.URL, 100), Sink: sink, CursorPath: cursorPath, Logger: quiet}
	st, err := im.Run(bg)
	var ae *authentik.APIError
	if !errors.As(err, &ae) || ae.Status != 500 || !strings.Contains(err.Error(), "database is restarting") {
		t.Fatalf("Run = %v, want the HTTP 500", err)
	}
	if len(fake.Requests()) != 4 {
		t.Errorf("%d requests, want 2 pages + a failed page with one retry", len(fake.Requests()))
	}
	n1 := len(sink.events)
	if n1 < 150 || n1 > 200 || st.Accepted != n1 {
		t.Fatalf("first run stored %d (%+v), want the first two pages", n1, st)
	}
	cur, found, err := authentik.LoadCursor(cursorPath)
	if err != nil || !found {
		t.Fatalf("cursor: %v %v", found, err)
	}
	var last struct{ PK, Created string }
	if err := json.Unmarshal(raws[n1-1], &last); err != nil {
		t.Fatal(err)
	}
	if cur.PK != last.PK || !cur.Created.Equal(mustTime(t, last.Created)) {
		t.Fatalf("cursor %+v, want event %d (%s)", cur, n1-1, last.PK)
	}
	if cur.Imported != int64(n1) || cur.URL != fake.URL {
		t.Errorf("cursor %+v", cur)
	}

	fake.FailFrom(0)
	n := len(fake.Requests())
	var prog bytes.Buffer
	im.Progress = &prog
	st, err = im.Run(bg)
	if err != nil {
		t.Fatal(err)
	}
	q := fake.Requests()[n]
	if got, want := q.Get("created__gt"), cur.Created.Add(-time.Microsecond).Format("2006-01-02T15:04:05.000000Z07:00"); got != want {
		t.Errorf("resumed with created__gt=%s, want %s", got, want)
	}
	if st.Fetched != 250-n1 || st.Accepted != 250-n1 {
		t.Errorf("second run %+v, want the %d remaining events", st, 250-n1)
	}
	if len(sink.events) != 250 {
		t.Fatalf("imported %d distinct events, want 250", len(sink.events))
	}
	if want := fmt.Sprintf("%d/%d events 100%%", 250-n1, 250-n1); !strings.Contains(prog.String(), want) {
		t.Errorf("progress %q, want %q", prog.String(), want)
	}
	for pk, n := range sink.seen {
		if n != 1 {
			t.Errorf("%s sent %d times", pk, n)
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestImportManyEventsInOneMicrosecond(t *testing.T) {
	raws := demo.GenerateRaw(3, 20, from, to)
	for i := 5; i < 12; i++ {
		withCreated(t, raws, i, 5)
	}
	fake := authentiktest.New(t, akToken, raws)
	sink := newMemSink()
	im := &authentik.Importer{Client: client(t, fake.URL, 3), Sink: sink, Logger: quiet}
	if _, err := im.Run(bg); err != nil {
		t.Fatal(err)
	}
	if len(sink.events) != 20 {
		t.Fatalf("imported %d of 20 events", len(sink.events))
	}
}

func TestImportSinceAndCursorOwner(t *testing.T) {
	raws := demo.GenerateRaw(4, 100, from, to)
	fake := authentiktest.New(t, akToken, raws)
	sink := newMemSink()
	since := mustTime(t, func() string {
		var e struct{ Created string }
		_ = json.Unmarshal(raws[59], &e)
		return e.Created
	}())
	im := &authentik.Importer{Client: client(t, fake.URL, 50), Sink: sink, Since: since, Logger: quiet, KeepExpires: true}
	if _, err := im.Run(bg); err != nil {
		t.Fatal(err)
	}
	if len(sink.events) != 40 {
		t.Fatalf("imported %d events, want the 40 after --since", len(sink.events))
	}

	path := filepath.Join(t.TempDir(), "cursor.json")
	if err := (authentik.Cursor{URL: "https://other.example", Created: to}).Save(path); err != nil {
		t.Fatal(err)
	}
	im = &authentik.Importer{Client: client(t, fake.URL, 50), Sink: sink, CursorPath: path, Logger: quiet}
	if _, err := im.Run(bg); err == nil || !strings.Contains(err.Error(), "belongs to https://other.example") {
		t.Fatalf("Run with another instance's cursor = %v", err)
	}
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Run(bg); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Run with a broken cursor = %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	fake := authentiktest.New(t, akToken, demo.GenerateRaw(5, 3, from, to))
	c := client(t, fake.URL, 10)
	c.Token = "wrong"
	_, err := c.Events(bg, time.Time{}, 1)
	var ae *authentik.APIError
	if !errors.As(err, &ae) || ae.Status != 403 || !strings.Contains(err.Error(), "check the token") {
		t.Fatalf("bad token: %v", err)
	}
	c = client(t, fake.URL, 10)
	if _, err := c.Events(bg, time.Time{}, 9); !errors.As(err, &ae) || ae.Status != 404 || !strings.Contains(err.Error(), "Invalid page.") {
		t.Fatalf("bad page: %v", err)
	}
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>") }))
	defer notJSON.Close()
	c = client(t, notJSON.URL, 10)
	if _, err := c.Events(bg, time.Time{}, 1); err == nil || !strings.Contains(err.Error(), "not an authentik events page") {
		t.Fatalf("not JSON: %v", err)
	}
	for _, bad := range []string{"ftp://x", "auth.example.com", ""} {
		if _, err := authentik.NewClient(bad, "t"); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
	if _, err := authentik.NewClient("https://auth.example.com", ""); err == nil {
		t.Error("NewClient without a token accepted")
	}
}

// TestImportIntoAuditlog runs the whole path: authentik pages → HTTP sink
// → an Auditlog server with token auth → the embedded store.
func TestImportIntoAuditlog(t *testing.T) {
	raws := demo.GenerateRaw(6, 120, from, to)
	// authentik's own short retention, which the import must not keep.
	for i, r := range raws {
		var m map[string]any
		_ = json.Unmarshal(r, &m)
		m["expires"] = to.Add(24 * time.Hour).Format(time.RFC3339Nano)
		raws[i], _ = json.Marshal(m)
	}
	fake := authentiktest.New(t, akToken, raws)

	st := storetest.Embedded(t, store.Options{})
	w := ingest.NewWriter(st, ingest.WriterOptions{})
	defer w.Close(bg)
	toks, err := access.ParseTokens(strings.NewReader("importer-token-0123456789 ingest acme\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Config{Tokens: toks, Store: st, Writer: w, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	target := httptest.NewServer(s.Handler())
	defer target.Close()

	sink, err := authentik.NewHTTPSink(target.URL, "wrong-token-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	im := &authentik.Importer{Client: client(t, fake.URL, 50), Sink: sink, Logger: quiet}
	if _, err := im.Run(bg); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("wrong target token: %v", err)
	}
	sink.Token = "importer-token-0123456789"
	stats, err := im.Run(bg)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Accepted != 120 {
		t.Fatalf("stats %+v", stats)
	}
	var first struct {
		PK, Action, Created string
	}
	if err := json.Unmarshal(raws[0], &first); err != nil {
		t.Fatal(err)
	}
	e, err := st.Get(bg, "acme", first.PK)
	if err != nil || e == nil {
		t.Fatalf("imported event %s: %v %v", first.PK, e, err)
	}
	if e.Action != first.Action || !e.Time.Equal(mustTime(t, first.Created).Truncate(time.Millisecond)) {
		t.Errorf("event %+v, want %s at %s", e, first.Action, first.Created)
	}
	if want := e.Time.Add(365 * 24 * time.Hour).Truncate(time.Second); !e.Expires.Equal(want) {
		t.Errorf("expires %s, want Auditlog's default retention %s", e.Expires, want)
	}
	// Running again is harmless: all duplicates.
	im2 := &authentik.Importer{Client: client(t, fake.URL, 50), Sink: sink, Logger: quiet}
	stats, err = im2.Run(bg)
	if err != nil || stats.Accepted != 0 || stats.Duplicates != 120 {
		t.Fatalf("re-run: %+v %v", stats, err)
	}
}

func TestHTTPSinkRetriesBusyServer(t *testing.T) {
	calls, busy := 0, 1 // answers that are 429 before one succeeds
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		if busy > 0 {
			busy--
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
			fmt.Fprint(w, `{"error":"the write queue is full"}`)
			return
		}
		fmt.Fprint(w, `{"accepted":1,"duplicates":0,"rejected":[{"index":1,"error":"action: required"}]}`)
	}))
	defer srv.Close()
	sink, err := authentik.NewHTTPSink(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	sent, err := sink.Send(bg, [][]byte{[]byte(`{"action":"login"}`), []byte(`{}`)})
	if err != nil || sent.Accepted != 1 || len(sent.Rejected) != 1 || calls != 2 {
		t.Fatalf("Send = %+v %v after %d calls", sent, err, calls)
	}
	sink.Retries = 1
	busy = 100
	if _, err := sink.Send(bg, [][]byte{[]byte(`{}`)}); err == nil || !strings.Contains(err.Error(), "HTTP 429") {
		t.Fatalf("busy server: %v", err)
	}
}
