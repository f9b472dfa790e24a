package store

import (
	"context"
	"fmt"
	"time"
)

// TableUsage is what one table of the store holds on disk.
type TableUsage struct {
	Table string
	Rows  uint64
	Bytes uint64 // compressed, on disk, indexes and marks included
	Parts uint64
}

// DiskUsage lists the tables of the store's database with their active
// parts' rows and bytes, largest first. On a cluster it sums every replica.
func (s *Store) DiskUsage(ctx context.Context) ([]TableUsage, error) {
	parts := "system.parts"
	if s.l.cluster != "" {
		parts = "clusterAllReplicas(" + quote(s.l.cluster) + ", system.parts)"
	}
	q := "SELECT toString(table), toUInt64(sum(rows)), toUInt64(sum(bytes_on_disk)), toUInt64(count()) FROM " + parts +
		" WHERE database = " + quote(s.l.db) + " AND active GROUP BY table ORDER BY sum(bytes_on_disk) DESC, table" + s.readSettings()
	return queryRows(ctx, s.eng, "disk usage", q, func(r Rows, u *TableUsage) error {
		return r.Scan(&u.Table, &u.Rows, &u.Bytes, &u.Parts)
	})
}

// WaitForMerges waits until the engine has run no merge or mutation on
// the store's tables for two seconds (merges of fresh parts are scheduled
// one after another), or until timeout, and tells which. Benchmarks use it
// so that a measurement does not race the engine's background work.
func (s *Store) WaitForMerges(ctx context.Context, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	var quietSince time.Time
	q := "SELECT toUInt64((SELECT count() FROM system.merges WHERE database = " + quote(s.l.db) +
		") + (SELECT count() FROM system.mutations WHERE database = " + quote(s.l.db) + " AND NOT is_done))" + s.readSettings()
	for {
		var n uint64
		if err := queryRow(ctx, s.eng, "wait for merges", q, &n); err != nil {
			return false, err
		}
		switch {
		case n > 0:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		case time.Since(quietSince) >= 2*time.Second:
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// DropDatabase removes the store's whole database, every table and row.
// It exists for scratch stores (benchmarks, tests); the store is unusable
// afterwards.
func (s *Store) DropDatabase(ctx context.Context) error {
	q := "DROP DATABASE IF EXISTS " + ident(s.l.db) + s.l.onCluster()
	if s.l.cluster != "" {
		// Replicated tables must leave Keeper before the name is reused.
		// (The embedded engine hangs on SYNC, and frees disk on its own.)
		q += " SYNC"
	}
	if err := s.eng.Exec(ctx, q); err != nil {
		return fmt.Errorf("store: drop database %s: %w", s.l.db, err)
	}
	return nil
}
