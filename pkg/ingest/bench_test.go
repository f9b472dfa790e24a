package ingest_test

import (
	"bytes"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
)

const (
	benchBatch   = 1000 // events per request
	benchPerOp   = 16   // requests per benchmark op
	benchClients = 4    // concurrent senders
)

// ndjsonBatches turns demo events (authentik's API JSON) into NDJSON
// bodies of benchBatch events.
func ndjsonBatches(raws [][]byte) [][]byte {
	var out [][]byte
	for len(raws) > 0 {
		n := min(benchBatch, len(raws))
		var b bytes.Buffer
		for _, r := range raws[:n] {
			b.Write(r)
			b.WriteByte('\n')
		}
		out = append(out, b.Bytes())
		raws = raws[n:]
	}
	return out
}

// BenchmarkIngestHTTP posts NDJSON batches from several clients to the
// ingest handler over HTTP and the embedded store, end to end: decode,
// validate, group commit, insert with duplicate check. "live" events are of
// the last ten minutes, as a running authentik sends them; "backfill-30d"
// spans a month, as an import does, and so writes into ~30 expiry
// partitions per insert.
func BenchmarkIngestHTTP(b *testing.B) {
	for _, bc := range []struct {
		name string
		span time.Duration
	}{{"live", 10 * time.Minute}, {"backfill-30d", 30 * 24 * time.Hour}} {
		b.Run(bc.name, func(b *testing.B) { benchIngestHTTP(b, bc.span) })
	}
}

func benchIngestHTTP(b *testing.B, span time.Duration) {
	e := newEnv(b, envConfig{})
	now := time.Now()
	raws := demo.GenerateRaw(42, b.N*benchPerOp*benchBatch, now.Add(-span), now)
	bodies := ndjsonBatches(raws)
	size := 0
	for _, r := range raws {
		size += len(r)
	}
	client := e.srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = benchClients

	b.SetBytes(int64(size / b.N))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan []byte)
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range work {
				req, err := http.NewRequest("POST", e.srv.URL+"/api/v1/events", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					continue
				}
				req.Header.Set("Content-Type", "application/x-ndjson")
				req.Header.Set(principalHeader, admin)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	for _, body := range bodies {
		work <- body
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(len(raws))/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(size)/float64(len(raws)), "bytes/event")
}
