package query_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/query"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

func allTenants(*http.Request) (string, error) { return "", nil }

// TestQueryMemoryLimit: with a memory limit of one byte, far below what any read needs,
// every query type fails on its own with a message that names the limit
// and what to do, as a 400 of the caller's (downstream), never a crash or
// a 500 of ours. The same store without the limit answers.
func TestQueryMemoryLimit(t *testing.T) {
	fx := newFixture(t)
	eng := storetest.EmbeddedEngine(t)
	db := storetest.DBName(t)
	full, err := store.Open(ctx, eng, store.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Exec(ctx, "DROP DATABASE IF EXISTS `"+db+"`") })
	var all []event.Event
	for _, e := range fx.ev {
		all = append(all, e)
	}
	// ClickHouse checks the limit only once a thread has allocated a few
	// MiB (max_untracked_memory), so every query type needs enough rows
	// and distinct groups (users, places) to get there.
	for i := range 20_000 {
		e := mk(event.NewID(t0), fmt.Sprintf("action_%d", i%50), fmt.Sprintf("user%d", i), time.Duration(i)*10*time.Millisecond)
		e.ClientIP = "81.2.69.142"
		e.Geo = &event.Geo{CountryCode: "GB", City: fmt.Sprintf("City %d", i), Lat: float64(i%9000) / 100, Lon: float64(i) / 1000}
		e.Diff = map[string]event.Change{"f": {Old: json.RawMessage(`1`), New: json.RawMessage(`2`)}}
		all = append(all, finish(e))
	}
	if _, err := full.Insert(ctx, all); err != nil {
		t.Fatal(err)
	}
	limited, err := store.Open(ctx, eng, store.Options{Database: db, MaxMemory: 1})
	if err != nil {
		t.Fatal(err)
	}
	queries := []backend.DataQuery{
		dq("logs", `{"queryType":"logs"}`),
		dq("stats", `{"queryType":"stats","groupBy":"user"}`),
		dq("timeseries", `{"queryType":"timeseries","groupBy":"action"}`),
		dq("geomap", `{"queryType":"geomap"}`),
		dq("diff", `{"queryType":"diff"}`),
	}
	res := (&query.Service{Store: limited}).QueryData(ctx, &backend.QueryDataRequest{Queries: queries}, "acme")
	for _, q := range queries {
		r := res.Responses[q.RefID]
		if r.Error == nil {
			t.Errorf("%s: answered despite a 1-byte memory limit", q.RefID)
			continue
		}
		msg := r.Error.Error()
		for _, want := range []string{"query " + q.RefID + ":", "memory limit", "queryMaxMemory", "narrow the time range", "MEMORY_LIMIT_EXCEEDED"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q lacks %q", q.RefID, msg, want)
			}
		}
		if r.Status != backend.StatusBadRequest || r.ErrorSource != backend.ErrorSourceDownstream {
			t.Errorf("%s: status %v source %v, want 400 downstream", q.RefID, r.Status, r.ErrorSource)
		}
	}
	res = (&query.Service{Store: full}).QueryData(ctx, &backend.QueryDataRequest{Queries: queries}, "acme")
	for _, q := range queries {
		if r := res.Responses[q.RefID]; r.Error != nil {
			t.Errorf("%s without the limit: %v", q.RefID, r.Error)
		}
	}

	// The values endpoint says the same as a 400.
	rec := httptest.NewRecorder()
	(&query.Service{Store: limited}).ValuesHandler(allTenants).ServeHTTP(rec, httptest.NewRequest("GET", "/values/user?q=a", nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "memory limit") {
		t.Errorf("values under the limit: %d %s", rec.Code, rec.Body)
	}
}

// timeoutReader fails every read as ClickHouse does when
// max_execution_time runs out. A real timeout needs a query slower than a
// second, which the fixture cannot make; the text is the engine's own.
type timeoutReader struct{ query.Reader }

var errEngineTimeout = &store.EngineError{Msg: "Code: 159. DB::Exception: Timeout exceeded: elapsed 1.000612 seconds, maximum: 1. (TIMEOUT_EXCEEDED)"}

func (timeoutReader) Events(context.Context, store.Filter, int) ([]event.Event, error) {
	return nil, errEngineTimeout
}

// TestQueryTimeLimit: a read the engine stopped at its time limit is a
// timeout of that query, naming the limit.
func TestQueryTimeLimit(t *testing.T) {
	svc := &query.Service{Store: timeoutReader{}}
	r := svc.QueryData(ctx, &backend.QueryDataRequest{Queries: []backend.DataQuery{dq("A", `{}`)}}, "").Responses["A"]
	if r.Error == nil || r.Status != backend.StatusTimeout || r.ErrorSource != backend.ErrorSourceDownstream {
		t.Fatalf("status %v source %v error %v, want a downstream timeout", r.Status, r.ErrorSource, r.Error)
	}
	for _, want := range []string{"time limit", "queryTimeout", "--query-timeout", "TIMEOUT_EXCEEDED"} {
		if !strings.Contains(r.Error.Error(), want) {
			t.Errorf("error %q lacks %q", r.Error, want)
		}
	}
}

// gatedReader holds every Events and Values call until released, to keep
// query slots taken.
type gatedReader struct {
	query.Reader
	entered chan struct{}
	release chan struct{}
}

func (g gatedReader) Events(ctx context.Context, f store.Filter, n int) ([]event.Event, error) {
	g.entered <- struct{}{}
	<-g.release
	return nil, nil
}

func (g gatedReader) Values(context.Context, string, store.Dimension, string, int) ([]string, error) {
	g.entered <- struct{}{}
	<-g.release
	return nil, nil
}

// TestMaxConcurrentQueries: with every slot taken for longer than the
// wait, a query fails with "too many concurrent queries" (a 429 of the
// caller's), the HTTP API answers 429 with Retry-After, and once a slot
// frees, queries run again. A query that waits less than QueueWait for a
// slot is not refused.
func TestMaxConcurrentQueries(t *testing.T) {
	g := gatedReader{entered: make(chan struct{}, 16), release: make(chan struct{})}
	svc := &query.Service{Store: g, MaxConcurrent: 2, QueueWait: 200 * time.Millisecond}
	one := func(ref string) backend.DataResponse {
		return svc.QueryData(ctx, &backend.QueryDataRequest{Queries: []backend.DataQuery{dq(ref, `{"queryType":"logs"}`)}}, "").Responses[ref]
	}
	var wg sync.WaitGroup
	for _, ref := range []string{"A", "B"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := one(ref); r.Error != nil {
				t.Errorf("query %s holding a slot: %v", ref, r.Error)
			}
		}()
	}
	<-g.entered
	<-g.entered

	start := time.Now()
	r := one("C")
	if r.Error == nil {
		t.Fatal("a third query ran with both slots taken")
	}
	if waited := time.Since(start); waited < 200*time.Millisecond || waited > 5*time.Second {
		t.Errorf("refused after %s, want after the 200ms wait", waited)
	}
	if r.Status != backend.StatusTooManyRequests || r.ErrorSource != backend.ErrorSourceDownstream {
		t.Errorf("status %v source %v, want 429 downstream", r.Status, r.ErrorSource)
	}
	for _, want := range []string{"query C: too many concurrent queries", "2 are running", "retry"} {
		if !strings.Contains(r.Error.Error(), want) {
			t.Errorf("error %q lacks %q", r.Error, want)
		}
	}

	rec := httptest.NewRecorder()
	body := `{"from":"now-1h","to":"now","queries":[{"refId":"A"}]}`
	svc.QueryHandler(allTenants).ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/query", strings.NewReader(body)))
	var msg struct{ Error string }
	_ = json.Unmarshal(rec.Body.Bytes(), &msg)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || !strings.Contains(msg.Error, "too many concurrent queries") {
		t.Errorf("POST /api/v1/query with no slot: %d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	rec = httptest.NewRecorder()
	svc.ValuesHandler(allTenants).ServeHTTP(rec, httptest.NewRequest("GET", "/values/user", nil))
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "too many concurrent queries") {
		t.Errorf("values with no slot: %d %s", rec.Code, rec.Body)
	}

	// A query that finds a slot within its wait runs.
	done := make(chan backend.DataResponse, 1)
	svc.QueueWait = 10 * time.Second
	go func() { done <- one("D") }()
	time.Sleep(50 * time.Millisecond)
	g.release <- struct{}{} // A or B finishes
	<-g.entered             // D got the slot
	g.release <- struct{}{}
	g.release <- struct{}{}
	if r := <-done; r.Error != nil {
		t.Errorf("a query that got a slot in time: %v", r.Error)
	}
	wg.Wait()
	close(g.release) // no more gating
	if r := one("E"); r.Error != nil {
		t.Errorf("after the burst: %v", r.Error)
	}
}
