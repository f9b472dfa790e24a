package store

import (
	"context"
	"log/slog"
	"time"
)

// LevelTrace is the log level below debug at which every SQL statement is
// logged with its duration and the rows it read.
const LevelTrace = slog.Level(-8)

// Traced wraps an engine so that, when log is enabled at LevelTrace, each
// statement is logged. Statements are logged whole except insert data,
// which is cut: it is the events themselves, not the SQL.
func Traced(eng Engine, log *slog.Logger) Engine {
	if log == nil {
		return eng
	}
	return &tracedEngine{Engine: eng, log: log}
}

type tracedEngine struct {
	Engine
	log *slog.Logger
}

// rowsReader is implemented by rows that know how many rows the engine
// read to produce them (the embedded engine reports it per statement).
type rowsReader interface{ RowsRead() uint64 }

func (t *tracedEngine) enabled(ctx context.Context) bool { return t.log.Enabled(ctx, LevelTrace) }

func (t *tracedEngine) Exec(ctx context.Context, sql string) error {
	if !t.enabled(ctx) {
		return t.Engine.Exec(ctx, sql)
	}
	start := time.Now()
	err := t.Engine.Exec(ctx, sql)
	t.log.Log(ctx, LevelTrace, "sql exec", "sql", statementText(sql), "duration", time.Since(start), "error", err)
	return err
}

func (t *tracedEngine) Insert(ctx context.Context, in Insertion) error {
	if !t.enabled(ctx) {
		return t.Engine.Insert(ctx, in)
	}
	start := time.Now()
	err := t.Engine.Insert(ctx, in)
	t.log.Log(ctx, LevelTrace, "sql insert", "sql", in.statement(),
		"bytes", len(in.Rows), "duration", time.Since(start), "error", err)
	return err
}

func (t *tracedEngine) Query(ctx context.Context, sql string) (Rows, error) {
	if !t.enabled(ctx) {
		return t.Engine.Query(ctx, sql)
	}
	start := time.Now()
	rows, err := t.Engine.Query(ctx, sql)
	attrs := []any{"sql", statementText(sql), "duration", time.Since(start)}
	if rr, ok := rows.(rowsReader); ok && err == nil {
		attrs = append(attrs, "rows_read", rr.RowsRead())
	}
	if err != nil {
		attrs = append(attrs, "error", err)
	}
	t.log.Log(ctx, LevelTrace, "sql query", attrs...)
	return rows, err
}

// statementText cuts inline insert data, which can be megabytes of events.
func statementText(sql string) string {
	const max = 2000
	if len(sql) <= max {
		return sql
	}
	return sql[:max] + "… (" + itoa(len(sql)) + " bytes)"
}

func itoa(n int) string { return intLit(int64(n)) }
