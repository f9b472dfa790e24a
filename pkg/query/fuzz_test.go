package query

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/auditlog/auditlog/pkg/event"
)

// FuzzParseQuery feeds arbitrary query JSON (and a queryType from outside
// the JSON, as Grafana passes it) through ParseQuery and Compile, the path
// of every panel, alert rule and /api/v1/query. Properties:
//   - no panic, and every error is the package's *BadRequestError, which
//     becomes a 400 for that query alone;
//   - a parsed query has a known type and a limit within its type's bounds;
//   - compiled filters hold only valid values: no blank or "*" values, no
//     value longer than a stored field can be, two-letter upper-case
//     countries, masked prefixes, a canonical UUID, a bounded search, no
//     NUL or invalid UTF-8, and in all no more SQL than MaxFilterBytes.
func FuzzParseQuery(f *testing.F) {
	f.Add([]byte(`{"refId":"A","queryType":"logs","filters":{"actions":["login"],"clientIps":["10.0.0.0/8"]},"limit":10}`), "")
	f.Add([]byte(`{"filters":{"countries":"gb","eventId":"0195A000-0000-7000-8000-000000000001"}}`), "details")
	f.Add([]byte(`{"limit":"99999999999999999999999","groupBy":"user"}`), "stats")
	f.Fuzz(func(t *testing.T, raw []byte, queryType string) {
		q, err := ParseQuery(raw, queryType)
		if err != nil {
			wantBadRequest(t, "ParseQuery", err)
			return
		}
		switch q.QueryType {
		case TypeLogs, TypeDetails, TypeDiff, TypeGeomap, TypeTimeSeries, TypeStats:
		default:
			t.Fatalf("ParseQuery accepted queryType %q", q.QueryType)
		}
		if q.Limit < 0 {
			t.Fatalf("negative limit %d", q.Limit)
		}
		if l, ok := limits[q.QueryType]; ok {
			if n, _ := limit(q); n < 1 || n > l.max {
				t.Fatalf("limit %d for %s, want 1…%d", n, q.QueryType, l.max)
			}
		}
		c, err := q.Filters.Compile()
		if err != nil {
			wantBadRequest(t, "Compile", err)
			return
		}
		checkCompiled(t, c)
	})
}

func wantBadRequest(t *testing.T, what string, err error) {
	t.Helper()
	var bad *BadRequestError
	if !errors.As(err, &bad) {
		t.Fatalf("%s error is %T, want *BadRequestError: %v", what, err, err)
	}
	if strings.TrimSpace(bad.Msg) == "" {
		t.Fatalf("%s error without a message", what)
	}
}

// checkCompiled asserts that compiled filters hold only valid values, and
// that the in-memory matcher takes them without trouble.
func checkCompiled(t *testing.T, c Compiled) {
	t.Helper()
	sf := c.Store("acme", time.Time{}, time.Time{})
	cost := len(sf.Search)
	for name, vals := range map[string][]string{"actions": sf.Actions, "users": sf.Users, "apps": sf.Apps, "countries": sf.Countries} {
		for _, v := range vals {
			if strings.TrimSpace(v) == "" || v == AllValue || len(v) > event.MaxStringBytes || textValue(v) != nil {
				t.Fatalf("compiled %s holds %q", name, v)
			}
			cost += len(v) + 4
		}
	}
	cost += 2 * 4 * len(sf.Users) // users are matched against three columns
	for _, cc := range sf.Countries {
		if len(cc) != 2 || cc != strings.ToUpper(cc) || !isLetter(cc[0]) || !isLetter(cc[1]) {
			t.Fatalf("compiled country %q", cc)
		}
	}
	for _, u := range sf.Users {
		cost += 2 * len(u)
	}
	for _, p := range sf.ClientIPs {
		if !p.IsValid() || p.Masked() != p || p.Addr().Zone() != "" {
			t.Fatalf("compiled prefix %v", p)
		}
		cost += 100
	}
	if len(sf.Search) > MaxSearchBytes || textValue(sf.Search) != nil {
		t.Fatalf("compiled search %q", sf.Search)
	}
	if cost > MaxFilterBytes {
		t.Fatalf("compiled filters cost %d bytes of SQL, over %d", cost, MaxFilterBytes)
	}
	switch len(sf.IDs) {
	case 0:
	case 1:
		if u, err := uuid.Parse(sf.IDs[0]); err != nil || u.String() != sf.IDs[0] {
			t.Fatalf("compiled event id %q is not a canonical UUID", sf.IDs[0])
		}
	default:
		t.Fatalf("compiled %d event ids", len(sf.IDs))
	}
	e := event.Event{ID: event.NewID(time.Unix(0, 0)), Tenant: "acme", Action: "login", ClientIP: "81.2.69.142",
		User: event.User{Username: "alice"}, Geo: &event.Geo{CountryCode: "GB"}}
	_ = c.Matcher("acme").Match(&e)
}

// FuzzTailPath: a live-tail channel path either fails with a
// *BadRequestError or parses into filters that TailPath writes back into
// a path meaning the same filters. The other way round, any filters
// TailPath accepts come back from ParseTailPath unchanged, and the path
// stays within what Grafana Live and ParseTailPath accept.
func FuzzTailPath(f *testing.F) {
	f.Add("tail", "login", "10.0.0.0/8", "gb")
	f.Add("tail/eyJhY3Rpb25zIjpbImxvZ2luIl19", "o'brien", "::1", "")
	f.Add("tail/bnVsbA==", "", "", "*")
	f.Fuzz(func(t *testing.T, path, value, ip, country string) {
		if fl, err := ParseTailPath(path); err != nil {
			wantBadRequest(t, "ParseTailPath", err)
		} else {
			roundTrip(t, fl)
		}

		fl := Filters{Actions: StringList{value}, Users: StringList{value, country}, Apps: StringList{value},
			ClientIPs: StringList{ip}, Countries: StringList{country}, Search: value}
		for _, fl := range []Filters{fl, {Search: value}, {ClientIPs: StringList{ip}}, {Countries: StringList{country}}, {Users: StringList{value}}} {
			if _, err := fl.Compile(); err != nil {
				if _, err := TailPath(fl); err == nil {
					t.Fatalf("TailPath accepted filters that do not compile: %+v", fl)
				}
				continue
			}
			roundTrip(t, fl)
		}
	})
}

// roundTrip writes filters as a path and reads them back. The filters'
// JSON is what must survive: it is what the path carries (JSON replaces
// invalid UTF-8, and an empty list means no filter, as an absent one does).
func roundTrip(t *testing.T, fl Filters) {
	t.Helper()
	p, err := TailPath(fl)
	if err != nil {
		wantBadRequest(t, "TailPath", err)
		return
	}
	back, err := ParseTailPath(p)
	if err != nil {
		t.Fatalf("ParseTailPath(TailPath(%+v)) = %v", fl, err)
	}
	var want Filters
	if err := json.Unmarshal([]byte(jsonOf(t, fl)), &want); err != nil {
		t.Fatal(err)
	}
	if got, want := jsonOf(t, back), jsonOf(t, want); got != want {
		t.Fatalf("tail path round trip:\n got %s\nwant %s\npath %s", got, want, p)
	}
}

func jsonOf(t *testing.T, fl Filters) string {
	t.Helper()
	b, err := json.Marshal(fl)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
