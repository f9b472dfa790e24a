package store

import (
	"encoding/json"
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
