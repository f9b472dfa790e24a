package store

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// TestSplitJSONArrayAgreesWithEncodingJSON: the row splitter finds the
// same values encoding/json does, strings with escapes, brackets and
// commas inside included.
func TestSplitJSONArrayAgreesWithEncodingJSON(t *testing.T) {
	for _, line := range []string{
		`[]`, ` [ ] `, `["a"]`, `["a\"b", "c,d]", "[{"]`, `[1, -2.5e3, "18446744073709551615", null, nan]`,
		`["x\\", ["a", "b\"]"], {"k": [1, {"n": "}"}]}, "é\u0000"]`, `[ "sp" , 3 ]`,
	} {
		got, err := splitJSONArray([]byte(line), nil)
		if line == `[1, -2.5e3, "18446744073709551615", null, nan]` {
			// nan is ClickHouse's, not JSON: only the splitter accepts it.
			if err != nil || len(got) != 5 || string(got[4]) != "nan" {
				t.Errorf("%s: %q %v", line, got, err)
			}
			continue
		}
		var want []json.RawMessage
		if err := json.Unmarshal([]byte(line), &want); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s: got %q (%v), want %q", line, got, err, want)
		}
		for i := range got {
			var a, b any
			_ = json.Unmarshal(got[i], &a)
			_ = json.Unmarshal(want[i], &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: value %d is %s, want %s", line, i, got[i], want[i])
			}
		}
		for i := range got {
			var s string
			if json.Unmarshal(want[i], &s) == nil {
				var g string
				if err := scanJSON(got[i], &g); err != nil || g != s {
					t.Errorf("%s: string %d scanned as %q (%v), want %q", line, i, g, err, s)
				}
			}
		}
	}
	for _, bad := range []string{``, `{}`, `["a"`, `["a" "b"]`, `["unterminated]`} {
		if _, err := splitJSONArray([]byte(bad), nil); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// TestScanIntArray: integer arrays read in place give what strconv gives
// for each element, bare or quoted, at the edges of both types, and
// anything else is an error rather than a wrong number.
func TestScanIntArray(t *testing.T) {
	for _, tc := range []struct {
		in     string
		signed []int64 // nil: an error is expected
		plain  []uint64
	}{
		{`[]`, []int64{}, []uint64{}},
		{` [ 1 , "2",3 ] `, []int64{1, 2, 3}, []uint64{1, 2, 3}},
		{`["-9223372036854775808","9223372036854775807"]`, []int64{math.MinInt64, math.MaxInt64}, nil},
		{`["18446744073709551615", 0]`, nil, []uint64{math.MaxUint64, 0}},
		{`[-0]`, []int64{0}, []uint64{0}},
		{`[-1]`, []int64{-1}, nil},
		{`["9223372036854775808"]`, nil, []uint64{1 << 63}},
		{`["18446744073709551616"]`, nil, nil},
		{`[1.5]`, nil, nil},
		{`["1]`, nil, nil},
		{`[1,]`, nil, nil},
		{`[1 2]`, nil, nil},
		{`[1`, nil, nil},
		{`[null]`, nil, nil},
		{`{}`, nil, nil},
	} {
		var s []int64
		if err := scanIntArray([]byte(tc.in), &s); (err == nil) != (tc.signed != nil) || (err == nil && !reflect.DeepEqual(s, tc.signed)) {
			t.Errorf("%s as int64: %v, %v; want %v", tc.in, s, err, tc.signed)
		}
		var u []uint64
		if err := scanIntArray([]byte(tc.in), &u); (err == nil) != (tc.plain != nil) || (err == nil && !reflect.DeepEqual(u, tc.plain)) {
			t.Errorf("%s as uint64: %v, %v; want %v", tc.in, u, err, tc.plain)
		}
	}
}
