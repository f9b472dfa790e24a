package store

import (
	"slices"
	"testing"
)

// TestSearchIndexConds: the conditions the search index checks are the
// term's runs of caseless ASCII at least an n-gram long, as LIKE patterns
// that match them and nothing else.
func TestSearchIndexConds(t *testing.T) {
	for _, tc := range []struct {
		term string
		want []string // the runs, as quoted patterns
	}{
		{"refund", nil},
		{"#12", nil},
		{"ref #4242-77", []string{`'% #4242-77%'`}},
		{"1.2.3.4", []string{`'%1.2.3.4%'`}},
		{"a 100% b", []string{`'% 100\\% %'`}},
		{"x_y_z", nil},
		{"v1.2_3", []string{`'%1.2\\_3%'`}},
		{`50%\ok`, []string{`'%50\\%\\\\%'`}},
		{"zoë 2024 ok 12", []string{`'% 2024 %'`}},
		{"O'Brien 1234'", []string{`'% 1234\'%'`}},
	} {
		var got []string
		for _, c := range searchIndexConds(tc.term) {
			prefix := searchIndexText + " LIKE "
			if len(c) < len(prefix) || c[:len(prefix)] != prefix {
				t.Fatalf("%q: %q is not a LIKE on the search text", tc.term, c)
			}
			got = append(got, c[len(prefix):])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.term, got, tc.want)
		}
	}
}
