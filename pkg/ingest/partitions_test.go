package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/store"
)

// spreadExpiry gives n events one expiry day each, from day first on:
// valid events (expires is the sender's to choose) that touch n
// partitions of the table.
func spreadExpiry(n, first int) []event.Event {
	evs := mkEvents(n, "login")
	base := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	for i := range evs {
		evs[i].Expires = base.AddDate(0, 0, first+i)
	}
	return evs
}

// partitionLimited stores nothing and refuses, like the store, an insert
// that touches more than 10,000 expiry days (max_partitions_per_insert_block
// in its INSERT; the table is partitioned by expiry day). The real engine
// takes minutes to refuse 10,001 partitions, hence the stand-in.
type partitionLimited struct{ sizes chan int }

func (p partitionLimited) Insert(_ context.Context, b []event.Event) (store.InsertResult, error) {
	p.sizes <- len(b)
	days := map[int64]bool{}
	for i := range b {
		days[b[i].Expires.Unix()/86400] = true
	}
	if len(days) > 10_000 {
		return store.InsertResult{}, fmt.Errorf("Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 10000). (TOO_MANY_PARTS)")
	}
	return store.InsertResult{Inserted: len(b), Duplicate: make([]bool, len(b))}, nil
}

// TestGroupCommitStaysWithinPartitionLimit: two requests of 6,000
// distinct expiry days each are valid on their own; queued together behind
// a busy writer, they used to be grouped into one insert of 12,000
// partitions, which the engine refuses whole: both failed, and so did
// every other sender's events grouped with them.
func TestGroupCommitStaysWithinPartitionLimit(t *testing.T) {
	sizes := make(chan int, 10)
	g := newGate(partitionLimited{sizes})
	w := ingest.NewWriter(g, ingest.WriterOptions{Inserts: 1})
	defer w.Close(bg)
	first := make(chan error, 1)
	go func() { _, err := w.Write(bg, mkEvents(1, "first")); first <- err }()
	<-g.entered // the writer is busy with the first request

	errs := make(chan error, 3)
	for _, evs := range [][]event.Event{spreadExpiry(6_000, 0), spreadExpiry(6_000, 6_000), mkEvents(5, "bystander")} {
		go func() { _, err := w.Write(bg, evs); errs <- err }()
	}
	waitFor(t, "three requests queued", func() bool { return w.QueueDepth() == 12_005 })
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("a valid request failed: %v", err)
		}
	}
	<-sizes // the first request's insert
	total := 0
	for total < 12_005 {
		n := <-sizes
		if n > 10_005 {
			t.Errorf("one insert of %d events", n)
		}
		total += n
	}
}
