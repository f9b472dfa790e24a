package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/auditlog/auditlog/pkg/libchdb"
)

// chdbEngine runs SQL in the process's embedded ClickHouse.
type chdbEngine struct {
	conn *libchdb.Conn
}

// OpenEmbedded opens (or shares) the embedded engine on dataPath. libPath
// may be empty to use CHDB_LIB_PATH or the setup cache.
func OpenEmbedded(libPath, dataPath string) (Engine, error) {
	p, err := libchdb.Find(libPath)
	if err != nil {
		return nil, err
	}
	c, err := libchdb.Open(p, dataPath)
	if err != nil {
		return nil, err
	}
	// Rows staged by an insert that a crash interrupted were never
	// acknowledged; the data path is ours (locked), so they can go.
	if stale, _ := filepath.Glob(filepath.Join(c.DataPath, stagePattern)); len(stale) > 0 {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	return &chdbEngine{conn: c}, nil
}

func (e *chdbEngine) Name() string     { return "embedded" }
func (e *chdbEngine) Location() string { return e.conn.DataPath }

// The C call cannot be interrupted, so a cancelled context only stops us
// from starting; query time limits go into the SQL as max_execution_time.
func (e *chdbEngine) Exec(ctx context.Context, sql string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, _, err := e.conn.QueryBytes(stringBytes(sql), "TSV")
	return clean(err)
}

// stagePattern names the files inserts stage their rows in.
const stagePattern = ".insert-*.rowbinary"

// Insert hands the rows over in a file beside the data: a file is the one
// way into the embedded engine that the statement splitter does not read,
// and the data path is known to be writable. The engine reads the file
// with the file table function, in the insert's own structure, where
// INSERT … FROM INFILE reads it in the table's types: that is how
// LowCardinality columns come in as String, 80k against 105k events/s in
// BenchmarkInsertFormat.
func (e *chdbEngine) Insert(ctx context.Context, in Insertion) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(e.conn.DataPath, stagePattern)
	if err != nil {
		return fmt.Errorf("insert: stage rows: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(in.Rows)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("insert: stage rows: %w", err)
	}
	sql := "INSERT INTO " + in.Table + " (" + in.Columns + ") SELECT * FROM file(" + quote(f.Name()) + ", 'RowBinary', " +
		quote(in.Structure) + ") SETTINGS " + in.Settings
	_, _, err = e.conn.QueryBytes(stringBytes(sql), "TSV")
	return clean(err)
}

func (e *chdbEngine) Query(ctx context.Context, sql string) (Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, st, err := e.conn.QueryBytes(stringBytes(sql), "JSONCompactEachRow")
	if err != nil {
		return nil, clean(err)
	}
	r := newJSONRows(out)
	r.read = st.RowsRead
	return r, nil
}

// stringBytes views a statement's bytes without copying them: an insert
// carries megabytes of events, and the C side only reads them.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func (e *chdbEngine) Version(context.Context) (string, error) { return e.conn.Version, nil }

func (e *chdbEngine) Close() error { return e.conn.Close() }

// clean trims ClickHouse's stack-trace tail so errors stay one readable line.
func clean(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if i := strings.Index(msg, ". Stack trace:"); i > 0 {
		msg = msg[:i]
	}
	return &EngineError{Msg: strings.TrimSpace(msg)}
}

// EngineError is an error reported by ClickHouse itself.
type EngineError struct{ Msg string }

func (e *EngineError) Error() string { return e.Msg }
