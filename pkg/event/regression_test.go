package event

import (
	"strings"
	"testing"
	"time"
)

// TestDecodeRegressions holds inputs the fuzzers and hostile-input tables
// found mishandled; each must be refused with a message naming the problem.
func TestDecodeRegressions(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, in, want string
	}{
		// json.Decoder.More reports false for a stray closing bracket, so
		// `{…}}` used to be accepted as one event.
		{"stray closing brace", `{"action":"login"}}`, "trailing data after the event object"},
		{"stray closing bracket", `{"action":"login"}]`, "trailing data after the event object"},
		{"second object", `{"action":"login"} {"action":"logout"}`, "trailing data after the event object"},
		// Go's zero time used to read as "no time" and become now.
		{"year 1 time", `{"action":"login","time":"0001-01-01T00:00:00Z"}`, "time: 0001-01-01T00:00:00Z is outside 1970-01-01"},
		{"year 1 created", `{"action":"login","created":"0001-01-01T00:00:00Z"}`, "created: 0001-01-01T00:00:00Z is outside"},
		{"year 1 expires", `{"action":"login","expires":"0001-01-01T00:00:00Z"}`, "expires: 0001-01-01T00:00:00Z is outside 1970-01-01 … 2106-02-07"},
		// A diff had no size, depth or NUL limit, unlike the context.
		{"deep diff value", `{"action":"model_updated","diff":{"f":{"old":` + deep(40) + `,"new":1}}}`, "diff.f: nested deeper than 32 levels"},
		{"deep diff add", `{"action":"model_updated","diff":{"g":{"add":[` + deep(40) + `]}}}`, "diff.g: nested deeper than 32 levels"},
		{"huge diff", `{"action":"model_updated","diff":{"f":{"old":"` + strings.Repeat("x", MaxContextBytes) + `"}}}`, "diff: larger than 262144 bytes"},
		{"NUL in diff value", `{"action":"model_updated","diff":{"f":{"old":"a\u0000b"}}}`, "diff.f: contains a NUL character"},
		{"NUL in diff name", `{"action":"model_updated","diff":{"a\u0000b":{"old":1}}}`, "diff: field name"},
		// Brand and impersonation facts join the context after its depth
		// check in Decode.
		{"deep brand", `{"action":"login","brand":{"a":` + deep(40) + `}}`, "context: nested deeper than 32 levels"},
		{"deep impersonation", `{"action":"login","user":{"username":"a","on_behalf_of":{"x":` + deep(40) + `}}}`, "context: nested deeper than 32 levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Decode([]byte(tc.in))
			if err == nil {
				Normalize(&e, now)
				err = Validate(&e)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q (event %+v)", err, tc.want, e)
			}
			if _, ok := err.(*Error); !ok {
				t.Errorf("error is %T, want *Error", err)
			}
		})
	}
}

func deep(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }
