package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The search index (idx_search) is an n-gram bloom filter over each
// granule's search text. A search term's runs of ASCII characters other
// than letters (numbers, addresses, ticket numbers: what a rare search
// is usually after) lie byte for byte in every event that matches,
// whatever the case of its letters, so a granule whose filter lacks one of
// their n-grams holds no match and is skipped. Terms made of letters only
// read every row, as before.
//
// Built at insert, the index would double the engine's work per event
// (about 6.5 µs more, with ingest at 17 µs), and merges would build it
// again at every level (10M events: 77k -> 66k events/s over HTTP). So
// inserts and merges leave it out, and IndexSearch builds it in the
// background, once, for the partitions (expiry days) that have stopped
// changing. A merge drops it from the part it writes, so a partition that
// merges later is built again. Partitions still taking events, the newest
// day's, are read whole by a search.
//
// The filter is over the search text with every ASCII letter written as
// "x" (searchIndexText). The runs a search looks for have no letters, so
// the text holds a run exactly where the rewritten text does, and most of
// what fills a filter is gone: the random hex of request ids (about 63,000
// of the 65,536 hex 4-grams in every granule) becomes digits and x's, user
// agents and JSON keys runs of x's.
//
// Measured over the bench's 10M events (1,264 granules) with 30 ticket
// numbers of 1 to 15 events each, 32 KiB filters, one hash (granules left
// to read, mean, and terms that left over 300):
//   - the text as it is: 137, 4 terms (4.0 bytes per event);
//   - letters rewritten: 89, 1 term (2.9 bytes, the filter being sparser);
//   - rewritten, three hashes: 85, 1 term (4.1 bytes);
//   - rewritten, 16 KiB, three hashes: 106, 2 terms (2.0 bytes).
//
// A term goes on being read nearly whole when one of its n-grams hashes
// onto a bit that a ubiquitous n-gram sets ("#702" for every filter
// above, in 1,044 to 1,215 granules). Earlier, over 1M events: 16 KiB with
// two hashes on the text as it is left 39%, 3-grams 37%.
//
// With one hash such a collision is certain for a few ticket numbers in
// a hundred, and a bench run that drew one ("#5044", "#6017") searched
// 10M events in 700-800 ms. With two, both bits must collide. Measured
// again with contexts lifted (see lift.go), over three days of the 10M
// events (153 granules) and 100 ticket numbers of 1 to 20 events each
// (share of granules left to read: mean, terms over 20%, worst; bytes
// per event):
//   - 32 KiB, one hash: 10.1%, 8 terms, 96%; 2.9 bytes;
//   - 32 KiB, two hashes: 6.2%, 2 terms, 45%; 3.8 bytes;
//   - 24 KiB, two hashes: 6.9%, 4 terms, 46%; 3.1 bytes;
//   - 20 KiB, two hashes: 8.4%, 8 terms, 48%; 2.5 bytes;
//   - 16 KiB, two hashes: 7.7%, 5 terms, 84%; 1.9 bytes.
//
// 24 KiB with two hashes halves the bad terms for 0.2 bytes more.
const (
	searchIndexName = "idx_search"
	// searchNgram is the index's n-gram length: runs shorter than this
	// cannot use it.
	searchNgram = 4
	// searchIndexedTable records, per partition, the parts the index
	// was last built for.
	searchIndexedTable = "search_indexed"
)

// searchIndexText is the search text as the index holds it: each ASCII
// letter written as "x". A byte-for-byte map, where collapsing each run of
// letters to one "x" with replaceRegexpAll pruned the same granules for
// 40 ticket numbers over 10M events and cost 30% more CPU to build
// (11.4 against 7.9 µs per event).
var searchIndexText = "translate(" + searchText + ", '" + asciiLetters + "', '" + strings.Repeat("x", len(asciiLetters)) + "')"

const asciiLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

var searchIndexDef = searchIndexName + " " + searchIndexText + " TYPE ngrambf_v1(" + intLit(searchNgram) + ", 24576, 2, 0) GRANULARITY 1"

// searchIndexSetting leaves the index out of inserts.
const searchIndexSetting = "exclude_materialize_skip_indexes_on_insert"

// deferSearchIndex tells whether inserts may leave the search index to
// IndexSearch: not on a cluster, where each node's parts would need a
// builder of their own (inserts build it there), nor on an engine that
// lacks the setting (it then builds it at insert too).
func (s *Store) deferSearchIndex(ctx context.Context) (bool, error) {
	if s.l.cluster != "" {
		return false, nil
	}
	var n uint64
	err := queryRow(ctx, s.eng, "look up "+searchIndexSetting, "SELECT toUInt64(count()) FROM system.settings WHERE name = "+quote(searchIndexSetting), &n)
	return n > 0, err
}

// IndexSearch builds the search index in every partition of the events
// table whose parts have not changed for settled (as far as this store has
// watched them) and are not the parts it last built, and returns how many
// partitions it built. A partition's parts are its block ranges and merge
// levels: an insert or a merge changes them (and leaves a part without the
// index), building the index does not.
func (s *Store) IndexSearch(ctx context.Context, settled time.Duration) (int, error) {
	if !s.deferSearch {
		return 0, nil
	}
	// A build an earlier call left running (cancelled, or its process
	// ended) finishes first, so that no partition gets two at once.
	if err := s.waitSearchIndex(ctx); err != nil {
		return 0, err
	}
	due, err := s.searchIndexDue(ctx, settled)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	// One mutation for all of them: each mutation gives every part of the
	// table a new version, partition or not, and on ext4 31 of them, one
	// a partition, took 8 minutes for a million events where one takes
	// seconds.
	cmds := make([]string, len(due))
	for i, p := range due {
		cmds[i] = "MATERIALIZE INDEX " + searchIndexName + " IN PARTITION ID " + quote(p.id)
	}
	if err := s.eng.Exec(ctx, "ALTER TABLE "+s.l.table("events")+" "+strings.Join(cmds, ", ")); err != nil {
		return 0, fmt.Errorf("store: build search index: %w", err)
	}
	if err := s.waitSearchIndex(ctx); err != nil {
		return 0, err
	}
	// The parts as they were before the build: a part written since then
	// differs, and makes its partition due again.
	vals := make([]string, len(due))
	for i, p := range due {
		vals[i] = "(" + quote(p.id) + ", " + quote(p.parts) + ")"
	}
	rec := "INSERT INTO " + s.l.table(searchIndexedTable) + " (partition_id, parts) VALUES " + strings.Join(vals, ", ")
	if err := s.eng.Exec(ctx, rec); err != nil {
		return 0, fmt.Errorf("store: record the search index: %w", err)
	}
	return len(due), nil
}

// waitSearchIndex waits until no build of the search index is running.
// A build the engine keeps failing is an error (the engine retries it).
func (s *Store) waitSearchIndex(ctx context.Context) error {
	q := "SELECT toUInt64(count()), anyIf(latest_fail_reason, latest_fail_reason != '') FROM system.mutations WHERE database = " + quote(s.l.db) +
		" AND table = 'events' AND NOT is_done AND position(command, " + quote(searchIndexName) + ") > 0" + s.readSettings()
	for {
		var n uint64
		var reason string
		if err := queryRow(ctx, s.eng, "wait for the search index", q, &n, &reason); err != nil {
			return err
		}
		switch {
		case n == 0:
			return nil
		case reason != "":
			return fmt.Errorf("store: build search index: %s", reason)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type duePartition struct {
	id, parts string
}

// partsSeen is when IndexSearch first saw a partition with its parts.
type partsSeen struct {
	parts string
	since time.Time
}

// searchIndexDue lists the partitions IndexSearch should build.
func (s *Store) searchIndexDue(ctx context.Context, settled time.Duration) ([]duePartition, error) {
	q := "SELECT toString(p.partition_id), p.parts FROM (" +
		"SELECT partition_id, arrayStringConcat(arraySort(groupArray(concat(toString(min_block_number), '_', toString(max_block_number), '_', toString(level)))), ' ') AS parts" +
		" FROM system.parts WHERE database = " + quote(s.l.db) + " AND table = 'events' AND active GROUP BY partition_id) AS p" +
		" LEFT JOIN (SELECT partition_id, argMax(parts, indexed_at) AS done FROM " + s.l.table(searchIndexedTable) + " GROUP BY partition_id) AS d" +
		" ON p.partition_id = d.partition_id WHERE p.parts != d.done ORDER BY p.partition_id" + s.readSettings() + ", join_use_nulls = 0"
	all, err := queryRows(ctx, s.eng, "find partitions for the search index", q, func(r Rows, p *duePartition) error {
		return r.Scan(&p.id, &p.parts)
	})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	seen := make(map[string]partsSeen, len(all))
	var due []duePartition
	for _, p := range all {
		ps, ok := s.searchSeen[p.id]
		if !ok || ps.parts != p.parts {
			ps = partsSeen{parts: p.parts, since: now}
		}
		seen[p.id] = ps
		if now.Sub(ps.since) >= settled {
			due = append(due, p)
		}
	}
	s.searchSeen = seen
	return due, nil
}

// How often a server looks for partitions to index, and how long a
// partition's parts must stay as they are first: a partition is an expiry
// day and takes events for about a day, and each build of a partition that
// then changes is work done again.
const (
	SearchIndexEvery   = time.Minute
	SearchIndexSettled = 15 * time.Minute
)

// RunSearchIndex calls IndexSearch every interval until ctx ends, for the
// partitions unchanged for settled; failures go to onErr and the next
// round tries again.
func (s *Store) RunSearchIndex(ctx context.Context, every, settled time.Duration, onErr func(error)) {
	if !s.deferSearch {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if _, err := s.IndexSearch(ctx, settled); err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
	}
}

// searchIndexConds are conditions that every event matching term meets,
// and that the search index can check a granule for: the term's runs of
// ASCII characters other than letters, at least an n-gram long, are in the
// rewritten search text as they are. They cost the engine the rewritten
// text of each row it reaches them for, so they go after the cheaper
// conditions.
func searchIndexConds(term string) []string {
	var conds []string
	flush := func(run string) {
		if len(run) >= searchNgram {
			conds = append(conds, searchIndexText+" LIKE "+quote("%"+likeEscape(run)+"%"))
		}
	}
	start := -1
	for i := 0; i <= len(term); i++ {
		if i < len(term) && isCaselessASCII(term[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			flush(term[start:i])
			start = -1
		}
	}
	return conds
}

// isCaselessASCII tells whether b is an ASCII character that no case
// folding changes, and that no other character folds to.
func isCaselessASCII(b byte) bool {
	return b < 0x80 && !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z')
}

// likeEscape makes s match itself in a LIKE pattern.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
