package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/store"
)

// gate holds inserts until released, so tests can line requests up
// behind a busy writer without sleeping.
type gate struct {
	ingest.Inserter
	entered chan int // batch sizes, as inserts begin
	release chan struct{}
}

func newGate(ins ingest.Inserter) *gate {
	return &gate{Inserter: ins, entered: make(chan int, 100), release: make(chan struct{})}
}

func (g *gate) Insert(ctx context.Context, b []event.Event) (store.InsertResult, error) {
	g.entered <- len(b)
	<-g.release
	return g.Inserter.Insert(ctx, b)
}

// waitFor polls cond for up to 10s; the writer is asynchronous by design.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func mkEvents(n int, action string) []event.Event {
	now := time.Now().UTC()
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{ID: event.NewID(now), Time: now, Action: action, Tenant: "default", Severity: "info", ReceivedAt: now}
		event.Retention{}.Apply(&out[i])
	}
	return out
}

func TestQueueFullIs429(t *testing.T) {
	var g *gate
	e := newEnv(t, envConfig{
		opts:   ingest.Options{RetryAfter: 1500 * time.Millisecond},
		wopts:  ingest.WriterOptions{QueueSize: 2},
		insert: func(ins ingest.Inserter) ingest.Inserter { g = newGate(ins); return g },
	})
	two := `[{"action":"login"},{"action":"logout"}]`
	first := make(chan response, 1)
	go func() { first <- e.post(t, "application/json", two) }()
	<-g.entered // the writer is busy with the first request
	second := make(chan response, 1)
	go func() { second <- e.post(t, "application/json", two) }()
	waitFor(t, "the second request to queue", func() bool { return e.w.QueueDepth() == 2 })

	r := e.post(t, "application/json", `{"action":"login"}`)
	if r.status != 429 {
		t.Fatalf("status %d, want 429: %s", r.status, r.body)
	}
	if msg := r.errorMsg(t); !strings.Contains(msg, "queue is full") {
		t.Errorf("error %q", msg)
	}
	if ra := r.header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2 (1.5s rounded up)", ra)
	}
	close(g.release)
	for _, c := range []chan response{first, second} {
		if r := <-c; r.status != 200 || r.result(t).Accepted != 2 {
			t.Fatalf("queued request: %d %s", r.status, r.body)
		}
	}
}

func TestWriterGroupsConcurrentRequests(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	var storedN int
	var g *gate
	e := newEnv(t, envConfig{
		wopts: ingest.WriterOptions{
			MaxBatch: 25,
			OnBatch: func(n int, _ time.Duration, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					sizes = append(sizes, n)
				}
			},
			OnStored: func(evs []event.Event) {
				mu.Lock()
				defer mu.Unlock()
				storedN += len(evs)
			},
		},
		insert: func(ins ingest.Inserter) ingest.Inserter { g = newGate(ins); return g },
	})
	// One request occupies the writer; ten more of 5 events queue behind it
	// and must go in as two inserts of 25 (MaxBatch), not ten.
	var wg sync.WaitGroup
	errs := make(chan error, 11)
	write := func(evs []event.Event) {
		defer wg.Done()
		dup, err := e.w.Write(bg, evs)
		if err == nil && len(dup) != len(evs) {
			err = fmt.Errorf("%d outcomes for %d events", len(dup), len(evs))
		}
		errs <- err
	}
	wg.Add(1)
	go write(mkEvents(1, "login"))
	<-g.entered
	for range 10 {
		wg.Add(1)
		go write(mkEvents(5, "login"))
	}
	waitFor(t, "ten requests to queue", func() bool { return e.w.QueueDepth() == 50 })
	close(g.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// OnStored runs after the requests are answered: the last insert's
	// may still be on its way.
	waitFor(t, "OnStored to see every event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return storedN >= 51
	})
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(sizes) != "[1 25 25]" {
		t.Errorf("insert sizes %v, want [1 25 25]", sizes)
	}
	if storedN != 51 {
		t.Errorf("OnStored saw %d events, want 51", storedN)
	}
}

func TestWriterCloseDrainsQueue(t *testing.T) {
	var g *gate
	e := newEnv(t, envConfig{insert: func(ins ingest.Inserter) ingest.Inserter { g = newGate(ins); return g }})
	var wg sync.WaitGroup
	var all []event.Event
	results := make(chan error, 4)
	for i := range 4 {
		evs := mkEvents(10, "login")
		all = append(all, evs...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.w.Write(bg, evs)
			results <- err
		}()
		if i == 0 {
			<-g.entered
		}
	}
	waitFor(t, "30 events to queue", func() bool { return e.w.QueueDepth() == 30 })
	// A Close that gives up early has still closed the writer to new work,
	// and leaves the queue to be drained.
	short, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if err := e.w.Close(short); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "30 events queued") {
		t.Fatalf("Close with a blocked store = %v", err)
	}
	if _, err := e.w.Write(bg, mkEvents(1, "login")); !errors.Is(err, ingest.ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
	close(g.release)
	if err := e.w.Close(bg); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatalf("a queued request failed on close: %v", err)
		}
	}
	ids := make([]string, len(all))
	for i := range all {
		ids[i] = all[i].ID
	}
	if got := e.stored(t, ids...); len(got) != 40 {
		t.Fatalf("stored %d of 40 events queued before Close", len(got))
	}
	r := e.post(t, "application/json", `{"action":"login"}`)
	if r.status != 503 || !strings.Contains(r.errorMsg(t), "shutting down") {
		t.Fatalf("after close: %d %s", r.status, r.body)
	}
}

func TestWriterCancelledRequestIsStillStored(t *testing.T) {
	var g *gate
	e := newEnv(t, envConfig{insert: func(ins ingest.Inserter) ingest.Inserter { g = newGate(ins); return g }})
	evs := mkEvents(3, "login")
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { _, err := e.w.Write(ctx, evs); done <- err }()
	<-g.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Write = %v, want context.Canceled", err)
	}
	close(g.release)
	waitFor(t, "the abandoned events to be stored", func() bool {
		return len(e.stored(t, evs[0].ID, evs[1].ID, evs[2].ID)) == 3
	})
}

func TestDuplicates(t *testing.T) {
	e := newEnv(t, envConfig{})
	id := event.NewID(time.Now())
	one := fmt.Sprintf(`{"id":%q,"action":"login"}`, id)
	for i, want := range []struct{ accepted, duplicates int }{{1, 0}, {0, 1}} {
		r := e.post(t, "application/json", one)
		if res := r.result(t); r.status != 200 || res.Accepted != want.accepted || res.Duplicates != want.duplicates {
			t.Fatalf("send %d: %d %s, want accepted %d duplicates %d", i, r.status, r.body, want.accepted, want.duplicates)
		}
	}
	// Within one request, and across tenants: the same id in another
	// tenant is another event.
	id2 := event.NewID(time.Now())
	r := e.post(t, "application/x-ndjson", ndjson(
		fmt.Sprintf(`{"id":%q,"action":"login"}`, id2),
		fmt.Sprintf(`{"id":%q,"action":"login"}`, strings.ToUpper(id2)),
		fmt.Sprintf(`{"id":%q,"action":"login","tenant":"acme"}`, id2),
	))
	if res := r.result(t); res.Accepted != 2 || res.Duplicates != 1 {
		t.Fatalf("%s, want 2 accepted 1 duplicate", r.body)
	}
	if got := e.stored(t, id, id2); len(got) != 3 {
		t.Fatalf("stored %d rows, want 3", len(got))
	}
}

func TestConcurrentDuplicatesStoreOnce(t *testing.T) {
	e := newEnv(t, envConfig{})
	const senders, n = 16, 50
	now := time.Now()
	ids := make([]string, n)
	var b strings.Builder
	for i := range ids {
		ids[i] = event.NewID(now)
		fmt.Fprintf(&b, `{"id":%q,"action":"login","user":{"username":"u%d"}}`+"\n", ids[i], i)
	}
	body := b.String()
	var wg sync.WaitGroup
	results := make(chan response, senders)
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- e.post(t, "application/x-ndjson", body)
		}()
	}
	wg.Wait()
	close(results)
	accepted, dups := 0, 0
	for r := range results {
		if r.status != 200 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		res := r.result(t)
		accepted += res.Accepted
		dups += res.Duplicates
	}
	if accepted != n || dups != n*(senders-1) {
		t.Fatalf("accepted %d duplicates %d, want %d and %d", accepted, dups, n, n*(senders-1))
	}
	got := e.stored(t, ids...)
	count := map[string]int{}
	for _, ev := range got {
		count[ev.ID]++
	}
	for _, id := range ids {
		if count[id] != 1 {
			t.Errorf("id %s stored %d times", id, count[id])
		}
	}
}

func TestRetentionAndReceivedAt(t *testing.T) {
	// Recent, or the store's TTL would drop the rows as already expired.
	now := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	e := newEnv(t, envConfig{opts: ingest.Options{
		Now:       func() time.Time { return now },
		Retention: event.Retention{Default: 90 * 24 * time.Hour, Rules: map[string]time.Duration{"login_failed": 7 * 24 * time.Hour}},
	}})
	at := now.Add(-time.Hour)
	ids := []string{event.NewID(at), event.NewID(at), event.NewID(at), event.NewID(now)}
	body := ndjson(
		fmt.Sprintf(`{"id":%q,"action":"login","time":%q}`, ids[0], at.Format(time.RFC3339)),
		fmt.Sprintf(`{"id":%q,"action":"login_failed","time":%q}`, ids[1], at.Format(time.RFC3339)),
		fmt.Sprintf(`{"id":%q,"action":"login","time":%q,"expires":"2030-01-01T00:00:00Z"}`, ids[2], at.Format(time.RFC3339)),
		fmt.Sprintf(`{"id":%q,"action":"logout","receivedAt":"2001-01-01T00:00:00Z"}`, ids[3]),
	)
	if r := e.post(t, "application/x-ndjson", body); r.status != 200 || r.result(t).Accepted != 4 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	want := map[string]time.Time{
		ids[0]: at.Add(90 * 24 * time.Hour),
		ids[1]: at.Add(7 * 24 * time.Hour),
		ids[2]: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		ids[3]: now.Add(90 * 24 * time.Hour),
	}
	got := e.stored(t, ids...)
	if len(got) != len(ids) {
		t.Fatalf("stored %d of %d events", len(got), len(ids))
	}
	for _, ev := range got {
		if !ev.Expires.Equal(want[ev.ID]) {
			t.Errorf("%s (%s): expires %s, want %s", ev.Action, ev.ID, ev.Expires, want[ev.ID])
		}
		if !ev.ReceivedAt.Equal(now) {
			t.Errorf("%s: receivedAt %s, want the ingest time %s", ev.Action, ev.ReceivedAt, now)
		}
	}
	if ev := e.stored(t, ids[3]); len(ev) != 1 || !ev[0].Time.Equal(now) {
		t.Errorf("an event without time gets the ingest time: %+v", ev)
	}
}

func TestIngestAPI(t *testing.T) {
	e := newEnv(t, envConfig{})
	in := ingest.New(e.w, ingest.Options{})
	evs := []event.Event{{Action: "login"}, {Action: "BAD"}, {Action: "logout", Tenant: "acme"}}
	res, err := in.Ingest(bg, adminPrincipal, evs)
	if err != nil || res.Accepted != 2 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	raws := [][]byte{[]byte(`{"action":"login"}`), []byte(`{"action":`)}
	res, err = in.IngestRaw(bg, adminPrincipal, raws)
	if err != nil || res.Accepted != 1 || len(res.Rejected) != 1 || res.Rejected[0].Error != "truncated JSON" {
		t.Fatalf("IngestRaw = %+v, %v", res, err)
	}
	if _, err := in.Ingest(bg, readPrincipal, evs); err == nil {
		t.Fatal("a read-only principal ingested")
	}
	big := make([][]byte, ingest.DefaultMaxEvents+1)
	if _, err := in.IngestRaw(bg, adminPrincipal, big); err == nil || !strings.Contains(err.Error(), strconv.Itoa(ingest.DefaultMaxEvents)) {
		t.Fatalf("IngestRaw over the limit: %v", err)
	}
}

func TestFailureReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("store: insert batch of 5: %w", &fs.PathError{Op: "write", Path: "/data/.insert-1.rowbinary", Err: syscall.ENOSPC}), "its disk is full"},
		{fmt.Errorf("store: insert: %w", syscall.EDQUOT), "its disk is full"},
		{errors.New("Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space. (NOT_ENOUGH_SPACE)"), "its disk is full"},
		{fmt.Errorf("store: insert: %w", &fs.PathError{Op: "open", Path: "/data/x", Err: syscall.EROFS}), "its data is read-only"},
		{errors.New("Code: 241. DB::Exception: Memory limit exceeded (MEMORY_LIMIT_EXCEEDED)"), "it is out of memory"},
		{errors.New("connection refused"), ""},
	} {
		if got := ingest.FailureReason(tc.err); got != tc.want {
			t.Errorf("FailureReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestWriterInsertsSideBySide: with Inserts 2, a second group of at least
// half a batch goes to the store while the first is still inserting, and
// an id sent in both is stored once.
func TestWriterInsertsSideBySide(t *testing.T) {
	var g *gate
	e := newEnv(t, envConfig{
		insert: func(ins ingest.Inserter) ingest.Inserter { g = newGate(ins); return g },
		wopts:  ingest.WriterOptions{Inserts: 2, MaxBatch: 6},
	})
	shared := mkEvents(1, "shared")[0]
	type answer struct {
		dup []bool
		err error
	}
	answers := make(chan answer, 2)
	write := func(evs []event.Event) {
		d, err := e.w.Write(bg, evs)
		answers <- answer{d, err}
	}
	go write(append(mkEvents(3, "a"), shared))
	<-g.entered
	go write(append(mkEvents(2, "b"), shared))
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the second group waited for the first insert to finish")
	}
	close(g.release)
	sharedDups := 0
	for range 2 {
		a := <-answers
		if a.err != nil {
			t.Fatal(a.err)
		}
		for i, d := range a.dup {
			if d && i != len(a.dup)-1 {
				t.Errorf("event %d taken for a duplicate: %v", i, a.dup)
			}
		}
		if a.dup[len(a.dup)-1] {
			sharedDups++
		}
	}
	if sharedDups != 1 {
		t.Errorf("the shared id was a duplicate in %d requests, want exactly 1", sharedDups)
	}
	st, err := e.st.Stats(bg)
	if err != nil || st.Events != 6 {
		t.Fatalf("stored %d events (%v), want 6: the shared id once", st.Events, err)
	}
}

// TestWriterSmallGroupWaitsBesideAnInsert: beside a running insert, a group
// smaller than half a batch waits, gathering later requests, until the
// insert ends or half a batch has queued: small groups cost the engine
// more per event.
func TestWriterSmallGroupWaitsBesideAnInsert(t *testing.T) {
	for _, tc := range []struct {
		name  string
		later int // events sent after the small request, while the first insert runs
		side  bool
	}{
		{"small group waits for the first insert", 0, false},
		{"half a batch goes beside it", 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g *gate
			e := newEnv(t, envConfig{
				insert: func(ins ingest.Inserter) ingest.Inserter { g = newGate(ins); return g },
				wopts:  ingest.WriterOptions{Inserts: 2, MaxBatch: 20},
			})
			errs := make(chan error, 3)
			write := func(evs []event.Event) {
				_, err := e.w.Write(bg, evs)
				errs <- err
			}
			go write(mkEvents(1, "first"))
			if n := <-g.entered; n != 1 {
				t.Fatalf("first insert of %d events, want 1", n)
			}
			go write(mkEvents(3, "small"))
			waitFor(t, "the small request to queue", func() bool { return e.w.QueueDepth() == 3 })
			writes := 2
			if tc.later > 0 {
				go write(mkEvents(tc.later, "later"))
				writes++
			}
			select {
			case n := <-g.entered:
				if !tc.side {
					t.Fatalf("a group of %d events went beside the running insert", n)
				}
				if n != 3+tc.later {
					t.Fatalf("second insert of %d events, want %d", n, 3+tc.later)
				}
			case <-time.After(200 * time.Millisecond):
				if tc.side {
					t.Fatal("half a batch waited for the running insert")
				}
			}
			close(g.release)
			if !tc.side {
				if n := <-g.entered; n != 3 {
					t.Fatalf("after the first insert, a group of %d events, want 3", n)
				}
			}
			for range writes {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
