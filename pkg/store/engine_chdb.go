package store

import (
	"context"
	"strings"

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
	_, _, err := e.conn.Query(sql, "TSV")
	return clean(err)
}

func (e *chdbEngine) Query(ctx context.Context, sql string) (Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, st, err := e.conn.Query(sql, "JSONCompactEachRow")
	if err != nil {
		return nil, clean(err)
	}
	r := newJSONRows(out)
	r.read = st.RowsRead
	return r, nil
}

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
