package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Engine runs finished SQL text. The two engines (embedded chDB and a
// ClickHouse server) implement it; everything above it is shared, which is
// how both run the very same statements.
type Engine interface {
	// Name is "embedded" or "clickhouse".
	Name() string
	Exec(ctx context.Context, sql string) error
	// Insert stores rows given in RowBinary. The rows travel beside the
	// statement's text, not inside it: the embedded engine splits its
	// input into statements at semicolons, which binary data holds. The
	// rows' memory is reused once Insert returns: do not keep it.
	Insert(ctx context.Context, in Insertion) error
	Query(ctx context.Context, sql string) (Rows, error)
	Version(ctx context.Context) (string, error)
	// Location is the data path or server address, for health output.
	Location() string
	Close() error
}

// Insertion is one insert: rows in RowBinary, with the columns they fill
// in the order they are written, and the insert's settings.
type Insertion struct {
	Table     string // quoted, as layout.table gives it
	Columns   string // "id, time, …"
	Structure string // the same with types: "id UUID, time DateTime64(3, 'UTC'), …"
	Settings  string // "name = value, …"
	Rows      []byte
}

// statement is the INSERT as a ClickHouse server takes it, rows to
// follow, and as trace logs show it.
func (in Insertion) statement() string {
	return "INSERT INTO " + in.Table + " (" + in.Columns + ") SETTINGS " + in.Settings + " FORMAT RowBinary"
}

// Rows is the subset of a row cursor the store needs. Queries select only
// String, Int64, UInt64, Float64, UInt32, Array(String), Array(Int64) and
// Array(UInt64) columns, cast in SQL, so both engines scan into the same
// Go types.
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
		var err error
		if r.cur, err = splitJSONArray(line, r.cur[:0]); err != nil {
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
		// Most strings need no unescaping; they are copied as they are.
		if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw[1:n-1], '\\') < 0 {
			*d = string(raw[1 : n-1])
			return nil
		}
		return json.Unmarshal(raw, d)
	case *int64:
		*d, err = strconv.ParseInt(unq(), 10, 64)
	case *uint64:
		*d, err = strconv.ParseUint(unq(), 10, 64)
	case *uint32:
		var v uint64
		v, err = strconv.ParseUint(unq(), 10, 32)
		*d = uint32(v)
	case *uint16:
		var v uint64
		v, err = strconv.ParseUint(unq(), 10, 16)
		*d = uint16(v)
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
	case *[]int64:
		return scanIntArray(raw, d)
	case *[]uint64:
		return scanIntArray(raw, d)
	default:
		return fmt.Errorf("unsupported destination %T", dest)
	}
	return err
}

// scanIntArray reads a JSON array of integers, each bare or quoted (as
// output_format_json_quote_64bit_integers writes them), parsing in place:
// a minute series over a day is tens of thousands of numbers, and
// splitting them into strings first was a sixth of the query's time.
func scanIntArray[T int64 | uint64](raw []byte, dest *[]T) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return fmt.Errorf("not a JSON array")
	}
	out := make([]T, 0, bytes.Count(raw, []byte{','})+1)
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		*dest = out
		return nil
	}
	var zero T
	signed := ^zero < 0
	for {
		quoted := i < len(raw) && raw[i] == '"'
		if quoted {
			i++
		}
		neg := i < len(raw) && raw[i] == '-'
		if neg {
			i++
		}
		start := i
		var v uint64
		for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
			d := uint64(raw[i] - '0')
			if v > (math.MaxUint64-d)/10 {
				return fmt.Errorf("integer out of range")
			}
			v = v*10 + d
		}
		if i == start {
			return fmt.Errorf("array element is not an integer")
		}
		if quoted {
			if i >= len(raw) || raw[i] != '"' {
				return fmt.Errorf("unterminated quoted integer")
			}
			i++
		}
		switch {
		case !signed && neg && v != 0, signed && !neg && v > math.MaxInt64, signed && neg && v > 1<<63:
			return fmt.Errorf("integer out of range")
		case neg:
			out = append(out, T(-v)) // two's complement: -(1<<63) lands on MinInt64
		default:
			out = append(out, T(v))
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return fmt.Errorf("array ends early")
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			*dest = out
			return nil
		default:
			return fmt.Errorf("unexpected %q in an integer array", raw[i])
		}
	}
}

// splitJSONArray splits one JSONCompactEachRow line, a JSON array, into
// its top-level values, appended to out. It only finds where each value
// ends (scanJSON decodes them): decoding whole rows with encoding/json
// cost more than the engine's query for reads of thousands of rows.
func splitJSONArray(line []byte, out []json.RawMessage) ([]json.RawMessage, error) {
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '[' {
		return out, fmt.Errorf("row is not a JSON array")
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == ']' {
		return out, nil
	}
	for {
		end, err := valueEnd(line, i)
		if err != nil {
			return out, err
		}
		out = append(out, json.RawMessage(line[i:end]))
		i = skipSpace(line, end)
		if i >= len(line) {
			return out, fmt.Errorf("row ends inside the array")
		}
		switch line[i] {
		case ',':
			i = skipSpace(line, i+1)
		case ']':
			return out, nil
		default:
			return out, fmt.Errorf("unexpected %q after a value", line[i])
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// valueEnd returns the index just past the JSON value starting at i, in
// an array or an object.
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("missing value")
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '[', '{':
		depth := 0
		for j := i; j < len(b); j++ {
			if !jsonStructural[b[j]] {
				continue
			}
			switch b[j] {
			case '"':
				// Inline: nested strings are mostly short keys and
				// values, for which a call costs more than the scan.
				for j++; j < len(b) && b[j] != '"'; j++ {
					if b[j] == '\\' {
						j++
					}
				}
			case '[', '{':
				depth++
			case ']', '}':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unterminated array or object")
	}
	j := i
	for j < len(b) && !endsScalar(b[j]) {
		j++
	}
	if j == i {
		return 0, fmt.Errorf("empty value")
	}
	return j, nil
}

// jsonStructural marks the bytes valueEnd must look at inside an array
// or object; a table look-up passes over the others faster than a switch.
var jsonStructural = [256]bool{'"': true, '[': true, '{': true, ']': true, '}': true}

// endsScalar tells whether c ends a number or literal.
func endsScalar(c byte) bool {
	switch c {
	case ',', ']', '}', ':', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// stringEnd returns the index just past the JSON string starting at i.
func stringEnd(b []byte, i int) (int, error) {
	// Most strings are short (keys, names): a byte at a time for those,
	// then IndexByte's wide compares for the long ones (user agents,
	// messages), which read a stored context's members (see lift.go)
	// three times faster than a byte at a time.
	j := i + 1
	for end := min(j+24, len(b)); j < end; j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	for ; j < len(b); j++ {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			break
		}
		j += k
		escaped := false
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			escaped = !escaped
		}
		if !escaped {
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string")
}

// queryRows runs q and returns its rows, each read by scan. Errors say
// what the read was for ("store: what: …").
func queryRows[T any](ctx context.Context, eng Engine, what, q string, scan func(Rows, *T) error) ([]T, error) {
	rows, err := eng.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := scan(rows, &v); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// queryRow runs q and scans its first row into dest; a result without
// rows leaves dest as it is.
func queryRow(ctx context.Context, eng Engine, what, q string, dest ...any) error {
	rows, err := eng.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}
