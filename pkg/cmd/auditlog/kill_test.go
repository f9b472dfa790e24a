package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
)

// batch is one request of known events.
type batch struct {
	ids   []string
	body  []byte
	sent  bool // a request was started
	acked bool // answered 200 for every event
}

func makeBatches(n, size int) []*batch {
	now := time.Now()
	out := make([]*batch, n)
	for i := range out {
		b := &batch{}
		var body bytes.Buffer
		for j := range size {
			id := event.NewID(now)
			b.ids = append(b.ids, id)
			fmt.Fprintf(&body, `{"id":%q,"action":"login","user":{"username":"user%d","email":"user%d@example.com"},"clientIp":"81.2.69.%d","context":{"http_request":{"method":"POST","path":"/api/v3/flows/executor/default-authentication-flow/"},"batch":%d}}`+"\n",
				id, j, j, 1+j%250, i)
		}
		b.body = body.Bytes()
		out[i] = b
	}
	return out
}

// post sends a batch; ok means 200 with every event stored (new or
// already there).
func post(url string, b *batch) (status int, ok bool, err error) {
	resp, err := httpClient.Post(url+"/api/v1/events", "application/x-ndjson", bytes.NewReader(b.body))
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, false, err
	}
	var res struct{ Accepted, Duplicates int }
	_ = json.Unmarshal(raw, &res)
	return resp.StatusCode, resp.StatusCode == http.StatusOK && res.Accepted+res.Duplicates == len(b.ids), nil
}

// drive posts batches from several workers until the batches or the time
// run out, or the server goes away.
type driver struct {
	url     string
	batches []*batch
	next    atomic.Int64
	acked   atomic.Int64
	wg      sync.WaitGroup
}

func (d *driver) start(workers int, deadline time.Time) {
	for range workers {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for time.Now().Before(deadline) {
				i := int(d.next.Add(1) - 1)
				if i >= len(d.batches) {
					return
				}
				b := d.batches[i]
				b.sent = true
				status, ok, err := post(d.url, b)
				if err != nil || status == http.StatusServiceUnavailable {
					return // killed or shutting down
				}
				if ok {
					b.acked = true
					d.acked.Add(1)
				}
			}
		}()
	}
}

func (d *driver) waitAcked(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for d.acked.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d batches acknowledged within %s", d.acked.Load(), within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (d *driver) sentIDs() []string {
	var ids []string
	for _, b := range d.batches {
		if b.sent {
			ids = append(ids, b.ids...)
		}
	}
	return ids
}

// TestKill9KeepsAcknowledgedEvents kills the server with SIGKILL while
// several clients send, restarts it on the same data, resends what was
// not acknowledged, and checks that every event is stored exactly once.
func TestKill9KeepsAcknowledgedEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP kill -9 test in -short mode: it builds and runs the server")
	}
	data := filepath.Join(t.TempDir(), "data")
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "warn")
	d := &driver{url: p.url, batches: makeBatches(400, 100)}
	d.start(4, time.Now().Add(60*time.Second))
	d.waitAcked(t, 25, 60*time.Second)
	if code := p.stop(t, syscall.SIGKILL); code != -1 {
		t.Fatalf("exit code %d after SIGKILL", code)
	}
	d.wg.Wait()

	var acked, inFlight []*batch
	for _, b := range d.batches {
		switch {
		case b.acked:
			acked = append(acked, b)
		case b.sent:
			inFlight = append(inFlight, b)
		}
	}
	t.Logf("at the kill: %d batches acknowledged, %d in flight", len(acked), len(inFlight))

	p2 := start(t, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "warn")
	var ready struct{ Status string }
	if code := getJSON(t, p2.url+"/readyz", &ready); code != 200 || ready.Status != "ready" {
		t.Fatalf("after restart: readyz %d %+v", code, ready)
	}
	// What was in flight may or may not have been stored; sending it again
	// must store it once.
	for _, b := range inFlight {
		if status, ok, err := post(p2.url, b); err != nil || !ok {
			t.Fatalf("resend: %d %v", status, err)
		}
	}
	// Acknowledged events survived: sending them again finds them all.
	for _, b := range acked[:3] {
		resp, err := httpClient.Post(p2.url+"/api/v1/events", "application/x-ndjson", bytes.NewReader(b.body))
		if err != nil {
			t.Fatal(err)
		}
		var res struct{ Accepted, Duplicates int }
		_ = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if res.Accepted != 0 || res.Duplicates != len(b.ids) {
			t.Fatalf("an acknowledged batch sent again: %+v, want all %d duplicates", res, len(b.ids))
		}
	}
	if code := p2.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, p2.stderr.String())
	}

	ids := d.sentIDs()
	requireExactlyOnce(t, data, ids)
}

// TestSIGTERMKeepsAcknowledgedEvents stops the server gracefully while
// clients send: it must exit 0 and every acknowledged event must be there
// once.
func TestSIGTERMKeepsAcknowledgedEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP SIGTERM test in -short mode: it builds and runs the server")
	}
	data := filepath.Join(t.TempDir(), "data")
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "info")
	d := &driver{url: p.url, batches: makeBatches(300, 100)}
	d.start(4, time.Now().Add(60*time.Second))
	d.waitAcked(t, 15, 60*time.Second)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
	}
	d.wg.Wait()
	if !bytes.Contains([]byte(p.stderr.String()), []byte("server: stopped")) {
		t.Errorf("no clean stop in the log:\n%s", p.stderr.String())
	}

	ids := d.sentIDs()
	c := countRows(t, data, ids)
	stored := 0
	for _, b := range d.batches {
		for _, id := range b.ids {
			n := c.IDs[id]
			if b.acked && n != 1 {
				t.Errorf("acknowledged event %s stored %d times, want once", id, n)
			}
			if n > 1 {
				t.Errorf("event %s stored %d times", id, n)
			}
			stored += n
		}
	}
	if c.Total != uint64(stored) {
		t.Errorf("the store has %d rows, %d of them ours", c.Total, stored)
	}
	t.Logf("%d batches acknowledged, %d events stored", d.acked.Load(), stored)
}
