package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)

// layout names the tables of one deployment. On a cluster the data lives in
// replicated local tables and queries go through a Distributed table of the
// public name, so every query below is written once against `events`.
type layout struct {
	db      string
	cluster string
}

func newLayout(db, cluster string) (layout, error) {
	if db == "" {
		db = "auditlog"
	}
	if !identRe.MatchString(db) {
		return layout{}, fmt.Errorf("store: database name %q must match %s", db, identRe)
	}
	if cluster != "" && !identRe.MatchString(cluster) {
		return layout{}, fmt.Errorf("store: cluster name %q must match %s", cluster, identRe)
	}
	return layout{db: db, cluster: cluster}, nil
}

func ident(s string) string { return "`" + s + "`" }

// table is the name queries and inserts use.
func (l layout) table(name string) string { return ident(l.db) + "." + ident(name) }

// storageTable is where rows physically live: the local table on a cluster.
func (l layout) storageTable(name string) string {
	if l.cluster == "" {
		return l.table(name)
	}
	return l.table(name + "_local")
}

func (l layout) onCluster() string {
	if l.cluster == "" {
		return ""
	}
	return " ON CLUSTER " + ident(l.cluster)
}

// mergeTree picks the engine: replicated on a cluster, so each shard's
// replicas agree, plain otherwise.
func (l layout) mergeTree(kind, name string) string {
	if l.cluster == "" {
		return kind + "()"
	}
	return fmt.Sprintf("Replicated%s('/clickhouse/tables/{shard}/%s/%s_local', '{replica}')", kind, l.db, name)
}

// createTable returns the DDL for a table and, on a cluster, the
// Distributed table over it. Rows are sharded by event id so that a re-sent
// event lands on the shard that already has it.
func (l layout) createTable(name, columns, engineKind, tail string) []string {
	return l.createTableKeyed(name, columns, engineKind, tail, "cityHash64(id)")
}

// createTableKeyed is createTable with another sharding key, for tables
// without an id.
func (l layout) createTableKeyed(name, columns, engineKind, tail, shardKey string) []string {
	stmts := []string{fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s (\n%s\n) ENGINE = %s\n%s",
		l.storageTable(name), l.onCluster(), columns, l.mergeTree(engineKind, name), tail)}
	if l.cluster != "" {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s AS %s ENGINE = Distributed(%s, %s, %s, %s)",
			l.table(name), l.onCluster(), l.storageTable(name), quote(l.cluster), quote(l.db), quote(name+"_local"), shardKey))
	}
	return stmts
}

// drop removes a view or table (kind VIEW or TABLE) where it is stored.
func (l layout) drop(kind, name string) string {
	return fmt.Sprintf("DROP %s IF EXISTS %s%s", kind, l.storageTable(name), l.onCluster())
}

// truncate empties a table where it is stored, on every node.
func (l layout) truncate(name string) string {
	return fmt.Sprintf("TRUNCATE TABLE IF EXISTS %s%s", l.storageTable(name), l.onCluster())
}

// insertSelectSettings ends an INSERT … SELECT of the migrations: it may
// span every expiry day, and on a cluster must land before the migration
// is recorded.
func (l layout) insertSelectSettings() string {
	s := " SETTINGS max_partitions_per_insert_block = 0"
	if l.cluster != "" {
		s += ", distributed_foreground_insert = 1"
	}
	return s
}

// alterFront runs an ALTER on a cluster's Distributed table, whose column
// types must follow the local table's. Call it only on a cluster.
func (l layout) alterFront(name, change string) string {
	return fmt.Sprintf("ALTER TABLE %s%s %s", l.table(name), l.onCluster(), change)
}

// alterStorage runs an ALTER on the table that holds the rows.
func (l layout) alterStorage(name, change string) string {
	return fmt.Sprintf("ALTER TABLE %s%s %s", l.storageTable(name), l.onCluster(), change)
}

// eventColumns are the columns of schema version 1. The codecs follow the
// data: times are near-monotonic (Delta), names repeat (LowCardinality),
// and JSON compresses well with ZSTD.
const eventColumns = `  id UUID,
  time DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
  expires DateTime('UTC') CODEC(Delta, ZSTD(1)),
  tenant LowCardinality(String),
  action LowCardinality(String),
  app LowCardinality(String),
  severity LowCardinality(String),
  user_id String CODEC(ZSTD(1)),
  user_name LowCardinality(String),
  user_email String CODEC(ZSTD(1)),
  client_ip IPv6 CODEC(ZSTD(1)),
  object_app LowCardinality(String),
  object_model LowCardinality(String),
  object_pk String CODEC(ZSTD(1)),
  object_name String CODEC(ZSTD(1)),
  context String CODEC(ZSTD(3)),
  diff String CODEC(ZSTD(3)),
  geo_country LowCardinality(String),
  geo_country_code LowCardinality(String),
  geo_city LowCardinality(String),
  geo_continent LowCardinality(String),
  geo_lat Float64 CODEC(ZSTD(1)),
  geo_lon Float64 CODEC(ZSTD(1)),
  asn_number UInt32 CODEC(ZSTD(1)),
  asn_org LowCardinality(String),
  asn_network LowCardinality(String)`

// migration is one schema version. Statements must be safe to re-run
// (IF NOT EXISTS), because a crash can stop a migration half way.
type migration struct {
	version int
	name    string
	stmts   func(l layout) []string
}

var migrations = []migration{
	{1, "events table with TTL on expires", func(l layout) []string {
		// Partitioned by expiry day so that retention drops whole parts,
		// and ordered for "newest events of a tenant".
		return l.createTable("events", eventColumns, "ReplacingMergeTree",
			"PARTITION BY toYYYYMMDD(expires)\nORDER BY (tenant, time, id)\nTTL expires DELETE\nSETTINGS index_granularity = 8192, merge_with_ttl_timeout = 3600")
	}},
	{2, "skip indexes for lookups by id, user and IP", func(l layout) []string {
		var s []string
		for _, ix := range []string{
			"idx_id id TYPE bloom_filter(0.001) GRANULARITY 1",
			"idx_user user_name TYPE bloom_filter(0.01) GRANULARITY 2",
			"idx_ip client_ip TYPE bloom_filter(0.01) GRANULARITY 2",
		} {
			name := strings.Fields(ix)[0]
			s = append(s,
				l.alterStorage("events", "ADD INDEX IF NOT EXISTS "+ix),
				l.alterStorage("events", "MATERIALIZE INDEX "+name))
		}
		return s
	}},
	{3, "rollups by minute and day, fed by materialized views", rollupMigration},
	{4, "id-time index; denser codecs for context, id, user email and id; TTL drops whole parts", func(l layout) []string {
		s := []string{
			// UUIDv7 ids carry a time: lookups by id (duplicate checks,
			// Get) prune granules by it, whatever the event's time says.
			l.alterStorage("events", "ADD INDEX IF NOT EXISTS idx_id_time "+idTimeExpr+" TYPE minmax GRANULARITY 1"),
			l.alterStorage("events", "MATERIALIZE INDEX idx_id_time"),
			// A few thousand users, each one email and id: a dictionary
			// stores them in about a third of the bytes.
			l.alterStorage("events", "MODIFY COLUMN user_email LowCardinality(String)"),
			l.alterStorage("events", "MODIFY COLUMN user_id LowCardinality(String)"),
			// The context is most of an event's bytes. ZSTD(6) stores it in
			// 17% fewer bytes than ZSTD(3) for about 1.4 µs more CPU per
			// event at insert (ZSTD(9): 23% fewer, 2.5 µs); a UUID's
			// time prefix gives ZSTD a byte or so that LZ4 leaves. New
			// parts and merges use them; old parts keep theirs until merged.
			l.alterStorage("events", "MODIFY COLUMN context String CODEC(ZSTD(6))"),
			l.alterStorage("events", "MODIFY COLUMN id UUID CODEC(ZSTD(1))"),
			// Partitions are expiry days, so the parts of a day expire
			// together: TTL drops them whole instead of rewriting them.
			// ApplyRetention deletes the rows of a day not yet over.
			l.alterStorage("events", "MODIFY SETTING ttl_only_drop_parts = 1"),
		}
		if l.cluster != "" {
			// The Distributed table declares column types of its own.
			s = append(s, l.alterFront("events", "MODIFY COLUMN user_email LowCardinality(String)"),
				l.alterFront("events", "MODIFY COLUMN user_id LowCardinality(String)"))
		}
		return s
	}},
	{5, "ZSTD for dictionary keys and coordinates", func(l layout) []string {
		// LowCardinality columns store a small key per row, which the
		// default LZ4 leaves at about 0.6 bytes; ZSTD(3) takes 40% off
		// for almost no CPU, about 3.5 bytes per event over these columns
		// (measured on the bench's million events). Key columns keep
		// theirs.
		var s []string
		for _, c := range []string{"action", "app", "severity", "user_name", "user_id", "user_email", "object_app", "object_model",
			"geo_country", "geo_country_code", "geo_city", "geo_continent", "asn_org", "asn_network"} {
			s = append(s, l.alterStorage("events", "MODIFY COLUMN "+c+" LowCardinality(String) CODEC(ZSTD(3))"))
		}
		for _, c := range []string{"geo_lat Float64", "geo_lon Float64", "asn_number UInt32", "client_ip IPv6"} {
			s = append(s, l.alterStorage("events", "MODIFY COLUMN "+c+" CODEC(ZSTD(3))"))
		}
		return s
	}},
	{6, "n-gram index for search, and the record of where it is built", func(l layout) []string {
		// Not materialized here: IndexSearch builds it in the background
		// (see searchindex.go), on old databases as on new ones.
		return append([]string{l.alterStorage("events", "ADD INDEX IF NOT EXISTS "+searchIndexDef)},
			l.createTable(searchIndexedTable, "  partition_id String,\n  parts String,\n  indexed_at DateTime64(6, 'UTC') DEFAULT now64(6)",
				"MergeTree", "ORDER BY (partition_id, indexed_at)")...)
	}},
	{7, "search index over the text with letters as x; denser codecs for id and diff", func(l layout) []string {
		// The index changes its expression (see searchIndexText): the old
		// one goes, and with it the record of where it was built, so that
		// IndexSearch builds the new one everywhere.
		s := []string{
			l.alterStorage("events", "DROP INDEX IF EXISTS "+searchIndexName),
			l.alterStorage("events", "ADD INDEX IF NOT EXISTS "+searchIndexDef),
			l.truncate(searchIndexedTable),
		}
		// Higher ZSTD levels, measured per column over the bench's million
		// events merged to a part per day: the id's random 74 bits and
		// the time in front of them, 12.5 -> 10.3 bytes per event with
		// ZSTD(5) (no less with 9), for 0.09 µs more CPU per event each
		// time a part is written; the diff (empty in most events) 0.8 ->
		// 0.6 with ZSTD(9). The coordinates would go 2.1 -> 1.8 with
		// ZSTD(9) for 0.15 µs per write, which merges repeat (10M events
		// over HTTP: about 1 µs per event in all with the id's), so they
		// keep ZSTD(3); the other columns gained nothing from 9. New parts
		// and merges use them.
		for _, c := range []string{"id UUID CODEC(ZSTD(5))", "diff String CODEC(ZSTD(9))"} {
			s = append(s, l.alterStorage("events", "MODIFY COLUMN "+c))
		}
		return s
	}},
	{8, "context without the copy of the geo and asn columns; search reads those columns", func(l layout) []string {
		// See lift.go. Rows stored before keep their context whole
		// (context_lifted 0). Search now finds the network in its
		// columns, so the index changes its expression (and takes two
		// hashes per n-gram, see searchindex.go) and is built again, as
		// in version 7.
		const col = "context_lifted UInt16"
		s := []string{
			l.alterStorage("events", "ADD COLUMN IF NOT EXISTS "+col+" CODEC(ZSTD(3)) AFTER context"),
			l.alterStorage("events", "DROP INDEX IF EXISTS "+searchIndexName),
			l.alterStorage("events", "ADD INDEX IF NOT EXISTS "+searchIndexDef),
			l.truncate(searchIndexedTable),
		}
		if l.cluster != "" {
			s = append(s, l.alterFront("events", "ADD COLUMN IF NOT EXISTS "+col+" AFTER context"))
		}
		return s
	}},
	{9, "id bloom filter over the ids that are not their event's time", func(l layout) []string {
		// See idOtherExpr. Both mutations run in the background: the
		// embedded engine waits for mutations and ALTERs by default, and
		// over 10M events they held the store's open for 86 s. Until the
		// new index is built in a part, a lookup of such an id reads that
		// part's ids: slower, not wrong.
		return []string{
			l.alterStorage("events", "ADD INDEX IF NOT EXISTS "+idOtherIndex+" "+idOtherExpr+" TYPE bloom_filter(0.001) GRANULARITY 1"),
			l.alterStorage("events", "MATERIALIZE INDEX "+idOtherIndex+inBackground),
			l.alterStorage("events", "DROP INDEX IF EXISTS idx_id"+inBackground),
		}
	}},
	{10, "dictionary columns for the coordinates", func(l layout) []string {
		// A client's place decides its coordinates, and the bench's
		// million events have a few dozen places: as plain numbers ZSTD
		// stores each coordinate in about a byte per event, as
		// dictionary keys in half that (1.07 -> 0.52 bytes, over parts
		// merged to a day). The AS number would gain as much (0.85 ->
		// 0.51), but the search index reads it, and changing its type
		// would rebuild that index in every part. The engine calls
		// dictionaries of numbers suspicious unless asked; reads and
		// inserts see plain numbers.
		s := []string{l.alterStorage("events", "MODIFY COLUMN geo_lat LowCardinality(Float64) CODEC(ZSTD(3)), "+
			"MODIFY COLUMN geo_lon LowCardinality(Float64) CODEC(ZSTD(3))"+inBackground+", "+allowNumberDictionaries)}
		if l.cluster != "" {
			// The Distributed table declares column types of its own.
			s = append(s, l.alterFront("events", "MODIFY COLUMN geo_lat LowCardinality(Float64), "+
				"MODIFY COLUMN geo_lon LowCardinality(Float64) SETTINGS "+allowNumberDictionaries))
		}
		return s
	}},
}

// allowNumberDictionaries lets a column be a LowCardinality of numbers.
const allowNumberDictionaries = "allow_suspicious_low_cardinality_types = 1"

// inBackground ends an ALTER whose mutation need not finish before the
// statement returns. replication_alter_partitions_sync is the old name of
// alter_sync, which every server version knows.
const inBackground = " SETTINGS mutations_sync = 0, replication_alter_partitions_sync = 0"

// idOtherIndex is the name of the bloom filter over idOtherExpr.
const idOtherIndex = "idx_id_other"

// LatestVersion is the schema version this build writes.
func LatestVersion() int { return migrations[len(migrations)-1].version }

func (s *Store) versionTable() string { return s.l.table("schema_version") }

// migrate brings the schema to target, recording each step, so an older
// database keeps its rows and gains what later versions add.
func (s *Store) migrate(ctx context.Context, target int) error {
	l := s.l
	if err := s.eng.Exec(ctx, fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s%s", ident(l.db), l.onCluster())); err != nil {
		return fmt.Errorf("store: create database %s: %w", l.db, err)
	}
	for _, stmt := range l.createTable("schema_version",
		"  version UInt32,\n  name String,\n  applied_at DateTime('UTC') DEFAULT now()",
		"MergeTree", "ORDER BY version") {
		if err := s.eng.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("store: create schema_version: %w", err)
		}
	}
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if m.version <= current || m.version > target {
			continue
		}
		for _, stmt := range m.stmts(l) {
			if err := s.eng.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("store: migration %d (%s): %w", m.version, m.name, err)
			}
		}
		rec := fmt.Sprintf("INSERT INTO %s (version, name) VALUES (%d, %s)", s.versionTable(), m.version, quote(m.name))
		if err := s.eng.Exec(ctx, rec); err != nil {
			return fmt.Errorf("store: record migration %d: %w", m.version, err)
		}
	}
	if target == LatestVersion() {
		var err error
		if s.deferSearch, err = s.deferSearchIndex(ctx); err != nil {
			return err
		}
		return s.applyTableSettings(ctx)
	}
	return nil
}

// tableSetting is a MergeTree setting the store wants on some of its
// tables, which not every engine version has: it is not a migration but
// runs at open, for the tables still lacking it, on engines that know it.
type tableSetting struct {
	name, value string
	rollups     bool // on the rollup tables too, not only on events
	// deferredSearch: only where IndexSearch builds the search index.
	deferredSearch bool
}

var tableSettings = []tableSetting{
	// ClickHouse 25.x and later build column statistics at every merge
	// (auto_statistics_types): about 190 KB per part, 12 bytes per event
	// at a day per partition, and no read of ours uses them (the sorting
	// key and partitions prune).
	{"auto_statistics_types", "''", true, false},
	// A partition is an expiry day, and under load it gets an insert
	// every fraction of a second. With the default base (5) every event's
	// context was compressed again by several merges. At the bench's 10M
	// rate per day (3M events over 9 days) HTTP ingest went 80-82k ->
	// 93-94k events/s, 20.6 -> 17.2 µs of CPU per event, leaving 80 parts
	// instead of 30 once merges settle; over a whole 10M run, where more
	// of the merging falls inside the timed ingest, 76.0k -> 77.8k. Reads
	// stayed within the runs' noise (1M: by id 10 -> 9 ms, the others
	// equal). The rollups are small and keep the default.
	{"merge_selector_base", "10", false, false},
	// Marks (where each granule of each column starts) are read from disk
	// the first time a query touches a part's column, and a lookup by id
	// touches every column of a part no query has read yet: over the bench's
	// million events the first lookups of a fresh process took 20 ms
	// against 7 once marks were loaded, and 13 with this setting. Inserts
	// and merges hand theirs to the cache, and a start loads them all (in
	// the background), a few hundred bytes per granule.
	{"prewarm_mark_cache", "1", false, false},
	// Parts below 10 MiB of data are Compact (every column in one file),
	// which a scan of a few columns reads slower. With contexts lifted
	// (see lift.go) an insert's part for a day at 10M events per month,
	// 15,000 events, fell to 9.7 MiB, and half the parts were Compact: a
	// rare term's search over 10M events took 172-258 -> 227-390 ms,
	// and 194-234 ms with parts of 6 MiB and more Wide.
	{"min_bytes_for_wide_part", "6291456", false, false},
	// Merges leave the search index to IndexSearch (see searchindex.go).
	{"exclude_materialize_skip_indexes_on_merge", quote(searchIndexName), false, true},
}

// applyTableSettings sets tableSettings where they are missing.
func (s *Store) applyTableSettings(ctx context.Context) error {
	for _, ts := range tableSettings {
		if ts.deferredSearch && !s.deferSearch {
			continue
		}
		tables := []string{"events"}
		if ts.rollups {
			for _, r := range rollups {
				tables = append(tables, r.name)
			}
		}
		names := make([]string, len(tables))
		for i, t := range tables {
			if s.l.cluster != "" {
				t += "_local" // where the rows, and merges, are
			}
			names[i] = quote(t)
		}
		q := "SELECT toString(name) FROM system.tables WHERE database = " + quote(s.l.db) + " AND name IN (" + strings.Join(names, ", ") + ")" +
			" AND position(create_table_query, " + quote(ts.name) + ") = 0" +
			" AND (SELECT count() FROM system.merge_tree_settings WHERE name = " + quote(ts.name) + ") > 0"
		todo, err := queryRows(ctx, s.eng, "read table settings", q, func(r Rows, name *string) error { return r.Scan(name) })
		if err != nil {
			return err
		}
		for _, name := range todo {
			stmt := fmt.Sprintf("ALTER TABLE %s.%s%s MODIFY SETTING %s = %s", ident(s.l.db), ident(name), s.l.onCluster(), ts.name, ts.value)
			if err := s.eng.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("store: set %s on %s: %w", ts.name, name, err)
			}
		}
	}
	return nil
}

// SchemaVersion returns the newest applied migration, 0 for a new database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int64
	err := queryRow(ctx, s.eng, "read schema version", "SELECT toInt64(max(version)) FROM "+s.versionTable(), &v)
	return int(v), err
}
