// Package store keeps events in ClickHouse. It owns the schema, its
// migrations and every SQL statement; the engines below it only execute
// text, so the embedded engine and a ClickHouse server run the same SQL.
package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
)

// Options tune a Store. Zero values take the defaults.
type Options struct {
	Database string // default "auditlog"
	Cluster  string // ClickHouse cluster name for ON CLUSTER DDL; "" for one server
	// QueryTimeout and MaxMemory are passed to ClickHouse with every read
	// (max_execution_time, max_memory_usage), so one bad dashboard cannot
	// take the engine down with it.
	QueryTimeout time.Duration
	MaxMemory    int64
}

// Store is the event store over one engine.
type Store struct {
	eng  Engine
	l    layout
	opts Options
	// writeMu makes "look up existing ids, then insert" atomic within this
	// process, so concurrent sends of one id store it once.
	writeMu sync.Mutex
}

// Open migrates the schema to the latest version and returns the store.
func Open(ctx context.Context, eng Engine, opts Options) (*Store, error) {
	return openAt(ctx, eng, opts, LatestVersion())
}

func openAt(ctx context.Context, eng Engine, opts Options, version int) (*Store, error) {
	l, err := newLayout(opts.Database, opts.Cluster)
	if err != nil {
		return nil, err
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 30 * time.Second
	}
	s := &Store{eng: eng, l: l, opts: opts}
	if err := s.migrate(ctx, version); err != nil {
		return nil, err
	}
	return s, nil
}

// Engine returns the engine's name ("embedded" or "clickhouse").
func (s *Store) Engine() string { return s.eng.Name() }

// Close closes the engine.
func (s *Store) Close() error { return s.eng.Close() }

// readSettings is appended to every SELECT.
func (s *Store) readSettings() string {
	set := fmt.Sprintf(" SETTINGS max_execution_time = %d", int64(s.opts.QueryTimeout.Seconds()+0.999))
	if s.opts.MaxMemory > 0 {
		set += fmt.Sprintf(", max_memory_usage = %d", s.opts.MaxMemory)
	}
	return set
}

// InsertResult tells which events of a batch were new.
type InsertResult struct {
	Inserted int
	// Duplicate[i] is true when batch[i] was already stored (or appeared
	// earlier in the same batch) and was not written again.
	Duplicate []bool
}

// Duplicates counts the events that were not written again.
func (r InsertResult) Duplicates() int {
	n := 0
	for _, d := range r.Duplicate {
		if d {
			n++
		}
	}
	return n
}

// Insert writes a batch of normalized, validated events in one statement,
// skipping ids the tenant already has. When it returns nil the rows are in
// the engine's parts on disk.
func (s *Store) Insert(ctx context.Context, batch []event.Event) (InsertResult, error) {
	res := InsertResult{Duplicate: make([]bool, len(batch))}
	if len(batch) == 0 {
		return res, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	existing, err := s.existingIDs(ctx, batch)
	if err != nil {
		return res, err
	}
	var body []byte
	seen := make(map[string]struct{}, len(batch))
	for i := range batch {
		key := batch[i].Tenant + "/" + batch[i].ID
		if _, dup := existing[key]; dup {
			res.Duplicate[i] = true
			continue
		}
		if _, dup := seen[key]; dup {
			res.Duplicate[i] = true
			continue
		}
		seen[key] = struct{}{}
		body = appendRow(body, &batch[i])
		res.Inserted++
	}
	if res.Inserted == 0 {
		return res, nil
	}
	if err := s.eng.Exec(ctx, s.insertSQL(body)); err != nil {
		return InsertResult{Duplicate: make([]bool, len(batch))}, fmt.Errorf("store: insert batch of %d: %w", res.Inserted, err)
	}
	return res, nil
}

func (s *Store) insertSQL(body []byte) string {
	var b strings.Builder
	b.Grow(len(body) + 256)
	b.WriteString("INSERT INTO ")
	b.WriteString(s.l.table("events"))
	// A historical import spans many expiry days; on a cluster the insert
	// must reach the shards before we acknowledge it.
	b.WriteString(" SETTINGS max_partitions_per_insert_block = 10000")
	if s.l.cluster != "" {
		b.WriteString(", distributed_foreground_insert = 1")
	}
	b.WriteString(" FORMAT JSONEachRow\n")
	b.Write(body)
	return b.String()
}

// idLookupChunk bounds the ids of one duplicate lookup: each id takes about
// 110 bytes of query text, and ClickHouse refuses text over max_query_size
// (256 KiB by default), which about 2,400 ids reach.
const idLookupChunk = 1000

// existingIDs returns "tenant/id" for the batch's ids already stored.
func (s *Store) existingIDs(ctx context.Context, batch []event.Event) (map[string]struct{}, error) {
	out := map[string]struct{}{}
	for start := 0; start < len(batch); start += idLookupChunk {
		if err := s.lookupIDs(ctx, batch[start:min(start+idLookupChunk, len(batch))], start, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lookupIDs adds the ids of chunk (which starts at batch index offset)
// that are already stored to out.
func (s *Store) lookupIDs(ctx context.Context, chunk []event.Event, offset int, out map[string]struct{}) error {
	pairs := make([]string, 0, len(chunk))
	for i := range chunk {
		lit, ok := uuidLit(chunk[i].ID)
		if !ok {
			return fmt.Errorf("store: event %d: id %q is not a UUID", offset+i, chunk[i].ID)
		}
		pairs = append(pairs, "("+quote(chunk[i].Tenant)+", "+lit+")")
	}
	q := "SELECT toString(tenant), toString(id) FROM " + s.l.table("events") +
		" WHERE id IN (" + idList(chunk) + ") AND (tenant, id) IN (" + strings.Join(pairs, ", ") + ")" + s.readSettings()
	rows, err := s.eng.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("store: look up existing ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tenant, id string
		if err := rows.Scan(&tenant, &id); err != nil {
			return fmt.Errorf("store: look up existing ids: %w", err)
		}
		out[tenant+"/"+id] = struct{}{}
	}
	return rows.Err()
}

func idList(batch []event.Event) string {
	ids := make([]string, len(batch))
	for i := range batch {
		ids[i], _ = uuidLit(batch[i].ID)
	}
	return strings.Join(ids, ", ")
}

// ApplyRetention makes the engine apply TTL now instead of at its next
// merge. Retention works without it; tests and operators use it to see the
// effect at once.
func (s *Store) ApplyRetention(ctx context.Context) error {
	q := fmt.Sprintf("OPTIMIZE TABLE %s%s FINAL", s.l.storageTable("events"), s.l.onCluster())
	if err := s.eng.Exec(ctx, q); err != nil {
		return fmt.Errorf("store: apply retention: %w", err)
	}
	return nil
}

// Stats describes the store for health checks and metrics.
type Stats struct {
	Engine        string
	EngineVersion string
	Location      string
	SchemaVersion int
	Events        uint64
	Bytes         uint64
}

// Stats counts events and bytes on disk.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Engine: s.eng.Name(), Location: s.eng.Location()}
	var err error
	if st.EngineVersion, err = s.eng.Version(ctx); err != nil {
		return st, fmt.Errorf("store: engine version: %w", err)
	}
	if st.SchemaVersion, err = s.SchemaVersion(ctx); err != nil {
		return st, err
	}
	parts := "system.parts"
	if s.l.cluster != "" {
		parts = "clusterAllReplicas(" + quote(s.l.cluster) + ", system.parts)"
	}
	storage := "events"
	if s.l.cluster != "" {
		storage = "events_local"
	}
	q := "SELECT toUInt64(count()), (SELECT toUInt64(sum(bytes_on_disk)) FROM " + parts +
		" WHERE database = " + quote(s.l.db) + " AND table = " + quote(storage) + " AND active) FROM " +
		s.l.table("events") + s.readSettings()
	rows, err := s.eng.Query(ctx, q)
	if err != nil {
		return st, fmt.Errorf("store: stats: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&st.Events, &st.Bytes); err != nil {
			return st, fmt.Errorf("store: stats: %w", err)
		}
	}
	return st, rows.Err()
}
