package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/server"
	"github.com/auditlog/auditlog/pkg/store"
)

// liveServer is the standalone server running in this process on a
// loopback port, over the bench's store: the real ingest path (HTTP,
// authentication, decode, validate, group commit, store insert).
type liveServer struct {
	url    string
	writer *ingest.Writer
	stop   context.CancelFunc
	done   chan error
}

// startServer serves st on 127.0.0.1 without tokens, as `auditlog serve`
// does on loopback. Serve closes st when stopped.
func startServer(st *store.Store, ret event.Retention, log *slog.Logger) (*liveServer, error) {
	w := ingest.NewWriter(st, ingest.WriterOptions{Logger: log})
	srv, err := server.New(server.Config{
		Store:  st,
		Writer: w,
		Ingest: ingest.Options{Retention: ret, Logger: log},
		Logger: log,
	})
	if err != nil {
		w.Close(context.Background())
		return nil, fmt.Errorf("bench: server: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.Close(context.Background())
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ls := &liveServer{url: "http://" + ln.Addr().String(), writer: w, stop: cancel, done: make(chan error, 1)}
	go func() { ls.done <- srv.Serve(ctx, ln) }()
	return ls, nil
}

// close shuts the server down, which closes the store.
func (ls *liveServer) close() error {
	ls.stop()
	return <-ls.done
}

type ingestReply struct {
	Accepted   int               `json:"accepted"`
	Duplicates int               `json:"duplicates"`
	Rejected   []json.RawMessage `json:"rejected"`
}

// postAll sends the data set as NDJSON bodies of batch events from
// clients concurrent senders, and returns the events per second from the
// first request to the last answer. Every event must be accepted.
func postAll(ctx context.Context, ds *dataset, url string, clients, batch int) (float64, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	bodies := make(chan []byte, clients)
	var (
		accepted atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range bodies {
				n, err := post(ctx, hc, url+"/api/v1/events", body)
				if err != nil {
					fail(err)
					continue
				}
				accepted.Add(int64(n))
			}
		}()
	}
	start := time.Now()
	var buf bytes.Buffer
	count := 0
	flush := func() bool {
		if count == 0 {
			return true
		}
		b := bytes.Clone(buf.Bytes())
		buf.Reset()
		count = 0
		select {
		case bodies <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	err := ds.each(0, func(_ int, raw []byte) error {
		buf.Write(raw)
		buf.WriteByte('\n')
		count++
		if count == batch && !flush() {
			return ctx.Err()
		}
		return nil
	})
	if err == nil {
		flush()
	}
	close(bodies)
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, firstErr
	}
	if err != nil {
		return 0, err
	}
	if got := accepted.Load(); got != int64(ds.n) {
		return 0, fmt.Errorf("bench: ingest accepted %d of %d events", got, ds.n)
	}
	return float64(ds.n) / elapsed.Seconds(), nil
}

// post sends one body, retrying while the server says it is busy (429),
// as a well-behaved client does, and returns the accepted count.
func post(ctx context.Context, hc *http.Client, url string, body []byte) (int, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, fmt.Errorf("bench: post events: %w", err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("bench: read ingest answer: %w", err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 1000 {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("bench: ingest answered %d: %s", resp.StatusCode, bytes.TrimSpace(data))
		}
		var r ingestReply
		if err := json.Unmarshal(data, &r); err != nil {
			return 0, fmt.Errorf("bench: ingest answer %q: %w", data, err)
		}
		if len(r.Rejected) > 0 {
			return 0, fmt.Errorf("bench: ingest rejected %d events, first: %s", len(r.Rejected), r.Rejected[0])
		}
		return r.Accepted, nil
	}
}

// rawInsert stores up to limit events with store.Insert directly, in
// batches of batch, and returns events per second over the Insert calls
// alone (decoding is not timed).
func rawInsert(ctx context.Context, ds *dataset, st *store.Store, ret event.Retention, limit, batch int) (float64, int, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	evs := make([]event.Event, 0, batch)
	var took time.Duration
	total := 0
	flush := func() error {
		if len(evs) == 0 {
			return nil
		}
		start := time.Now()
		res, err := st.Insert(ctx, evs)
		took += time.Since(start)
		if err != nil {
			return err
		}
		if res.Inserted != len(evs) {
			return fmt.Errorf("bench: raw insert stored %d of %d events", res.Inserted, len(evs))
		}
		total += len(evs)
		evs = evs[:0]
		return nil
	}
	err := ds.each(limit, func(i int, raw []byte) error {
		e, err := prepare(raw, ret, now)
		if err != nil {
			return fmt.Errorf("bench: event %d: %w", i, err)
		}
		evs = append(evs, e)
		if len(evs) == batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return 0, total, err
	}
	return float64(total) / took.Seconds(), total, nil
}
