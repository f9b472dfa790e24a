package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
)

// Inserter stores a batch of events; *store.Store is one.
type Inserter interface {
	Insert(ctx context.Context, batch []event.Event) (store.InsertResult, error)
}

var (
	// ErrQueueFull means the writer is behind: the caller should retry
	// later (HTTP 429). Nothing of the refused request was queued.
	ErrQueueFull = errors.New("ingest: the write queue is full; retry later")
	// ErrClosed means the writer is shutting down (HTTP 503).
	ErrClosed = errors.New("ingest: the writer is shutting down")
)

// StoreError is a failed insert. None of the request's events were
// acknowledged; a retry is safe because ids are deduplicated.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return "ingest: store events: " + e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// FailureReason names, in a few words fit for a client or a public
// readiness check, why the store refused a write: "its disk is full", "its
// data is read-only", or "" when the error says nothing recognisable. The
// full error, which may hold file paths, goes to the log only.
func FailureReason(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	// The embedded engine's inserts stage their rows in a file first, so
	// the operating system's own errors come through too.
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		has("NOT_ENOUGH_SPACE", "No space left on device", "not enough space", "Disk quota exceeded"):
		return "its disk is full"
	case errors.Is(err, syscall.EROFS) || has("Read-only file system", "TABLE_IS_READ_ONLY", "read-only"):
		return "its data is read-only"
	case has("MEMORY_LIMIT_EXCEEDED", "Cannot allocate memory"):
		return "it is out of memory"
	}
	return ""
}

// DefaultMaxBatch is the most events a Writer puts in one insert unless
// told otherwise (see WriterOptions.MaxBatch).
const DefaultMaxBatch = 50_000

// WriterOptions tune a Writer. Zero values take the defaults.
type WriterOptions struct {
	// QueueSize bounds the events waiting for the writer (default 100,000).
	// A request that would overflow it gets ErrQueueFull, unless the queue
	// is empty, so that one request larger than the queue still gets in.
	QueueSize int
	// MaxBatch bounds the events of one insert (default DefaultMaxBatch). Requests
	// are never split, so one larger request is inserted on its own. The
	// engine's cost per event falls with the size of an insert (it writes
	// a part per table and partition, and runs the rollups' views, per
	// insert): 50,000 against 20,000 took the CPU of an HTTP ingest of 1M
	// events from 17.2 to 15.3 µs per event (10M: 24 to 22).
	MaxBatch int
	// InsertTimeout bounds one insert (default 1 minute).
	InsertTimeout time.Duration
	// Inserts is how many inserts may run at once (default 2): while one
	// is in the engine, the next group forms, has its duplicates checked
	// and its rows encoded, and the one before files its events into the
	// hot tier. The store keeps an id once however they overlap. A
	// ClickHouse server runs inserts side by side; the embedded engine runs
	// one statement at a time, yet our share of an insert then overlaps
	// its share (HTTP ingest of 1M events: 84-96k -> 99-102k events/s with
	// 8 senders, 90-94k -> 111-113k with 16), though groups get smaller.
	Inserts int

	// OnBatch is called after every insert with its size, duration and
	// outcome. It runs on the inserting goroutine, possibly at the same
	// time as for another insert: it must be quick and safe for that.
	OnBatch func(n int, dur time.Duration, err error)
	// OnStored is called with the newly stored events of every successful
	// insert (duplicates left out), after the requests were answered. It
	// runs on the inserting goroutine, possibly at the same time as for
	// another insert, so a slow subscriber stalls ingest: it must not
	// block. It may keep the slice.
	OnStored func([]event.Event)
	// Logger reports a panicking hook. Default slog.Default().
	Logger *slog.Logger
}

// Writer commits events in groups: every request's events wait in one
// bounded queue, and one goroutine takes whatever has queued up as one
// insert, with at most Inserts of them running at once. Under load, many
// requests share one insert, which is what ClickHouse wants (few, large
// inserts); when idle, a request is inserted at once.
type Writer struct {
	ins Inserter
	o   WriterOptions

	mu      sync.Mutex
	queue   []*pending
	depth   int // events in queue
	running int // inserts in progress
	closed  bool

	wake chan struct{} // capacity 1: "the queue or closed changed"
	done chan struct{} // closed when the writer goroutine exits

	lastMu  sync.Mutex
	lastErr error // of the latest insert; nil after a success
}

type pending struct {
	evs  []event.Event
	days int              // distinct expiry days of evs: the partitions they touch
	res  chan writeResult // capacity 1, so the writer never blocks on it
}

// maxPartitionsPerInsert is the store's max_partitions_per_insert_block:
// the table is partitioned by expiry day, and an insert that touches more
// partitions fails as a whole. Requests are grouped below it, or one
// sender's events spread over many expiry dates would fail every other
// sender's events in the same insert.
const maxPartitionsPerInsert = 10_000

// expiryDays counts the distinct expiry days of evs.
func expiryDays(evs []event.Event) int {
	if len(evs) == 0 {
		return 0
	}
	first := evs[0].Expires.Unix() / 86400
	var seen map[int64]struct{}
	for i := range evs {
		d := evs[i].Expires.Unix() / 86400
		if seen == nil {
			if d == first {
				continue // the common case: one retention, one day
			}
			seen = map[int64]struct{}{first: {}}
		}
		seen[d] = struct{}{}
	}
	if seen == nil {
		return 1
	}
	return len(seen)
}

type writeResult struct {
	dup []bool
	err error
}

// NewWriter starts the writer goroutine. Call Close to stop it.
func NewWriter(ins Inserter, o WriterOptions) *Writer {
	if o.QueueSize <= 0 {
		o.QueueSize = 100_000
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.InsertTimeout <= 0 {
		o.InsertTimeout = time.Minute
	}
	if o.Inserts <= 0 {
		o.Inserts = 2
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	w := &Writer{ins: ins, o: o, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w
}

// Write queues evs and waits until they are stored. dup[i] tells whether
// evs[i] was already stored (or came earlier in the same insert) and so was
// not stored again. A nil error means every event of evs is in the store.
//
// When ctx ends first, Write returns ctx's error but the events stay queued
// and will be stored: a client that gave up and retries gets them
// deduplicated. The Writer reads evs until then, so the caller must not
// change it after Write returns with an error.
func (w *Writer) Write(ctx context.Context, evs []event.Event) (dup []bool, err error) {
	if len(evs) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &pending{evs: evs, days: expiryDays(evs), res: make(chan writeResult, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, ErrClosed
	}
	if w.depth > 0 && w.depth+len(evs) > w.o.QueueSize {
		w.mu.Unlock()
		return nil, ErrQueueFull
	}
	w.queue = append(w.queue, p)
	w.depth += len(evs)
	w.mu.Unlock()
	w.signal()

	select {
	case r := <-p.res:
		return r.dup, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// QueueDepth is the number of events waiting for the writer, not counting
// the insert in progress.
func (w *Writer) QueueDepth() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.depth
}

// LastInsertError is the error of the latest insert, or nil when it
// succeeded or none has run yet. Readiness checks use it: a store that
// still answers reads may refuse every write (a full disk), and only an
// insert finds out. The next successful insert, such as a client's retry
// after its 503, clears it.
func (w *Writer) LastInsertError() error {
	w.lastMu.Lock()
	defer w.lastMu.Unlock()
	return w.lastErr
}

// QueueSize is the queue's capacity in events.
func (w *Writer) QueueSize() int { return w.o.QueueSize }

// Close refuses new writes, stores everything already queued and stops the
// writer. If ctx ends first Close returns its error, and the writer goes on
// draining in the background.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.signal()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ingest: close writer with %d events queued: %w", w.QueueDepth(), ctx.Err())
	}
}

func (w *Writer) run() {
	var flushing sync.WaitGroup
	slots := make(chan struct{}, w.o.Inserts)
	defer func() {
		flushing.Wait()
		close(w.done)
	}()
	for {
		// Wait for a free insert first, so that the group taken below
		// holds everything that queued up in the meantime.
		slots <- struct{}{}
		w.mu.Lock()
		for len(w.queue) == 0 || (w.running > 0 && !w.closed && w.depth < w.o.MaxBatch/2) {
			if len(w.queue) == 0 && w.closed {
				w.mu.Unlock()
				return
			}
			// Beside a running insert, another goes only once half a
			// batch has queued (or the first is done): many small
			// groups cost the engine more per event than they save.
			w.mu.Unlock()
			<-w.wake
			w.mu.Lock()
		}
		// The first request always goes; later ones join while the insert
		// stays within MaxBatch events and the partition limit (counting
		// each request's days on their own overstates the union, which
		// only makes some groups smaller).
		n, days, k := 0, 0, 0
		for k < len(w.queue) && (k == 0 || n+len(w.queue[k].evs) <= w.o.MaxBatch && days+w.queue[k].days <= maxPartitionsPerInsert) {
			n += len(w.queue[k].evs)
			days += w.queue[k].days
			k++
		}
		taken := make([]*pending, k)
		copy(taken, w.queue[:k])
		// Shift rather than reslice so the backing array does not pin
		// answered requests.
		rest := copy(w.queue, w.queue[k:])
		clear(w.queue[rest:])
		w.queue = w.queue[:rest]
		w.depth -= n
		w.running++
		w.mu.Unlock()

		flushing.Add(1)
		go func() {
			defer func() {
				w.mu.Lock()
				w.running--
				w.mu.Unlock()
				w.signal()
				<-slots
				flushing.Done()
			}()
			w.flush(taken, n)
		}()
	}
}

func (w *Writer) flush(taken []*pending, n int) {
	batch := make([]event.Event, 0, n)
	for _, p := range taken {
		batch = append(batch, p.evs...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.o.InsertTimeout)
	start := time.Now()
	res, err := w.insert(ctx, batch)
	dur := time.Since(start)
	cancel()
	if err == nil && len(res.Duplicate) != len(batch) {
		err = fmt.Errorf("store answered for %d of %d events", len(res.Duplicate), len(batch))
	}
	w.lastMu.Lock()
	w.lastErr = err
	w.lastMu.Unlock()
	w.hook("OnBatch", func() {
		if w.o.OnBatch != nil {
			w.o.OnBatch(len(batch), dur, err)
		}
	})
	if err != nil {
		serr := &StoreError{Err: err}
		for _, p := range taken {
			p.res <- writeResult{err: serr}
		}
		return
	}
	off := 0
	for _, p := range taken {
		p.res <- writeResult{dup: res.Duplicate[off : off+len(p.evs) : off+len(p.evs)]}
		off += len(p.evs)
	}
	if w.o.OnStored != nil && res.Inserted > 0 {
		stored := make([]event.Event, 0, res.Inserted)
		for i := range batch {
			if !res.Duplicate[i] {
				stored = append(stored, batch[i])
			}
		}
		w.hook("OnStored", func() { w.o.OnStored(stored) })
	}
}

// insert calls the store, turning a panic into an error for the waiting
// requests instead of a dead writer goroutine.
func (w *Writer) insert(ctx context.Context, batch []event.Event) (res store.InsertResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("insert panicked: %v", p)
		}
	}()
	return w.ins.Insert(ctx, batch)
}

// hook runs an observer so that a bug in one cannot kill the writer
// goroutine, which would leave every later request waiting forever.
func (w *Writer) hook(name string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			w.o.Logger.Error("ingest: writer hook panicked", "hook", name, "panic", fmt.Sprint(p))
		}
	}()
	fn()
}
