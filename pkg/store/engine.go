package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// Engine runs finished SQL text. The two engines (embedded chDB and a
// ClickHouse server) implement it; everything above it is shared, which is
// how both run the very same statements.
type Engine interface {
	// Name is "embedded" or "clickhouse".
	Name() string
	Exec(ctx context.Context, sql string) error
	Query(ctx context.Context, sql string) (Rows, error)
	Version(ctx context.Context) (string, error)
	// Location is the data path or server address, for health output.
	Location() string
	Close() error
}

// Rows is the subset of a row cursor the store needs. Queries select only
// String, Int64, UInt64, Float64, UInt32 and Array(String) columns, cast in
// SQL, so both engines scan into the same Go types.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// jsonRows reads ClickHouse's JSONCompactEachRow output: one JSON array a
// line. The embedded engine returns text, and this is its cheapest exact form.
type jsonRows struct {
	data []byte
	cur  []json.RawMessage
	err  error
	read uint64 // rows the engine read for the statement
}

// RowsRead is how many rows the engine read to answer.
func (r *jsonRows) RowsRead() uint64 { return r.read }

func newJSONRows(data []byte) *jsonRows { return &jsonRows{data: data} }

func (r *jsonRows) Next() bool {
	for len(r.data) > 0 {
		line := r.data
		if i := bytes.IndexByte(r.data, '\n'); i >= 0 {
			line, r.data = r.data[:i], r.data[i+1:]
		} else {
			r.data = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r.cur = r.cur[:0]
		if err := json.Unmarshal(line, &r.cur); err != nil {
			r.err = fmt.Errorf("store: decode row: %w", err)
			return false
		}
		return true
	}
	return false
}

func (r *jsonRows) Scan(dest ...any) error {
	if len(dest) != len(r.cur) {
		return fmt.Errorf("store: scan %d values into %d destinations", len(r.cur), len(dest))
	}
	for i, d := range dest {
		if err := scanJSON(r.cur[i], d); err != nil {
			return fmt.Errorf("store: scan column %d: %w", i, err)
		}
	}
	return nil
}

func (r *jsonRows) Err() error   { return r.err }
func (r *jsonRows) Close() error { return nil }

// scanJSON converts one JSON value. 64-bit integers may arrive quoted
// (output_format_json_quote_64bit_integers), so numbers accept both forms.
func scanJSON(raw json.RawMessage, dest any) error {
	unq := func() string {
		if len(raw) > 0 && raw[0] == '"' {
			var s string
			_ = json.Unmarshal(raw, &s)
			return s
		}
		return string(raw)
	}
	var err error
	switch d := dest.(type) {
	case *string:
		return json.Unmarshal(raw, d)
	case *int64:
		*d, err = strconv.ParseInt(unq(), 10, 64)
	case *uint64:
		*d, err = strconv.ParseUint(unq(), 10, 64)
	case *uint32:
		var v uint64
		v, err = strconv.ParseUint(unq(), 10, 32)
		*d = uint32(v)
	case *uint8:
		var v uint64
		v, err = strconv.ParseUint(unq(), 10, 8)
		*d = uint8(v)
	case *float64:
		s := unq()
		switch s {
		case "nan", "inf", "-inf", "null":
			*d = 0
		default:
			*d, err = strconv.ParseFloat(s, 64)
		}
	case *[]string:
		return json.Unmarshal(raw, d)
	default:
		return fmt.Errorf("unsupported destination %T", dest)
	}
	return err
}
