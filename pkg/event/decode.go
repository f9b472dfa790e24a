package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Limits on one event. They keep a single hostile event from costing more
// than a page of memory in every later query.
const (
	MaxContextBytes = 256 << 10
	MaxStringBytes  = 4 << 10
	MaxNesting      = 32
	MaxDiffFields   = 512
)

// Error is a validation failure that names the field, so a sender with a
// batch of thousands can find the bad value.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func fieldErr(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Decode parses one event object in either JSON form. It does not fill
// defaults; call Normalize and Validate after it.
//
// Ingest calls it for every event, so the common shapes go through a
// hand-written single-pass reader (decodeFast). Anything that reader is
// not sure about, including every input that fails, goes to the
// encoding/json implementation, so both the accepted events and the error
// messages are exactly those of decodeReference.
func Decode(b []byte) (Event, error) {
	if e, ok := decodeFast(b); ok {
		return e, nil
	}
	return decodeReference(b)
}

// ParseChange reads one field's change in any of the shapes: native
// {old, new}, authentik's {previous_value, new_value}, and its many-to-many
// {add|remove: […]} and {clear: true}.
func ParseChange(v json.RawMessage) (Change, error) {
	var c struct {
		Old      json.RawMessage   `json:"old"`
		New      json.RawMessage   `json:"new"`
		Previous json.RawMessage   `json:"previous_value"`
		NewValue json.RawMessage   `json:"new_value"`
		Add      []json.RawMessage `json:"add"`
		Remove   []json.RawMessage `json:"remove"`
		Clear    bool              `json:"clear"`
	}
	if err := json.Unmarshal(v, &c); err != nil {
		return Change{}, err
	}
	ch := Change{Old: c.Old, New: c.New, Add: c.Add, Remove: c.Remove, Clear: c.Clear}
	if ch.Old == nil {
		ch.Old = c.Previous
	}
	if ch.New == nil {
		ch.New = c.NewValue
	}
	return ch, nil
}

// parseTime accepts RFC 3339 with any fraction, the form both authentik and
// most log shippers send.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fieldErr(field, "%q is not an RFC 3339 time", truncate(s, 64))
	}
	if t.IsZero() {
		// 0001-01-01T00:00:00Z is Go's "no time": left as is, Normalize
		// would silently replace it with now (time) or the retention
		// default (expires) instead of refusing it like any other time
		// before 1970.
		upper := "2200-01-01"
		if field == "expires" {
			upper = "2106-02-07"
		}
		return time.Time{}, fieldErr(field, "%s is outside 1970-01-01 … %s", t.Format(time.RFC3339), upper)
	}
	return t.UTC(), nil
}

// checkNesting bounds the depth of a JSON value without decoding it. It
// runs over every stored context and diff value, so it jumps over string
// contents with IndexByte instead of stepping through them. It is also
// called on values no JSON parser has checked (Validate of an event built
// in Go), where it keeps the meaning of a byte-by-byte scan: a backslash in
// a string hides the next byte, and a string without its closing quote runs
// to the end.
func checkNesting(b []byte) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			start := i + 1
			for i = start; ; i++ {
				j := bytes.IndexByte(b[i:], '"')
				if j < 0 {
					return nil
				}
				i += j
				// The quote ends the string unless an odd run of
				// backslashes escapes it.
				k := i
				for k > start && b[k-1] == '\\' {
					k--
				}
				if (i-k)%2 == 0 {
					break
				}
			}
		case '{', '[':
			depth++
			if depth > MaxNesting {
				return fmt.Errorf("nested deeper than %d levels", MaxNesting)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// quoteField is used by validation messages.
func quoteField(s string) string { return strconv.Quote(truncate(s, 64)) }
