package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// engines is the conformance matrix: every test runs on each engine.
var engines = []struct {
	name string
	open func(testing.TB, store.Options) *store.Store
}{
	{"embedded", storetest.Embedded},
	{"server", storetest.Server},
}

func forEachEngine(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	forEachEngineWith(t, store.Options{}, fn)
}

func forEachEngineWith(t *testing.T, opts store.Options, fn func(t *testing.T, s *store.Store)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { fn(t, e.open(t, opts)) })
	}
}

var ctx = context.Background()

func mkEvent(action, user string, t time.Time) event.Event {
	e := event.Event{Action: action, User: event.User{ID: "1", Username: user, Email: user + "@example.com"}, Time: t}
	event.Normalize(&e, t)
	event.Retention{}.Apply(&e)
	e.ReceivedAt = t
	return e
}

// openAt opens a store at schema version on the embedded engine, in
// opts.Database, which is dropped when the test ends. Migration tests then
// open it at the latest version with store.Open and the same options.
func openAt(t *testing.T, opts store.Options, version int) *store.Store {
	t.Helper()
	eng := storetest.EmbeddedEngine(t)
	t.Cleanup(func() { _ = eng.Exec(ctx, "DROP DATABASE IF EXISTS `"+opts.Database+"`") })
	s, err := store.OpenAt(ctx, eng, opts, version)
	if err != nil {
		t.Fatalf("open at version %d: %v", version, err)
	}
	return s
}

func mustInsert(t *testing.T, s *store.Store, evs ...event.Event) store.InsertResult {
	t.Helper()
	res, err := s.Insert(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestInsertAndGetRoundTrip(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		full := mkEvent("model_updated", "alice", now)
		full.App = "authentik.events.signals"
		full.ClientIP = "81.2.69.142"
		full.Tenant = "acme"
		full.Severity = "notice"
		full.Object = event.Object{App: "authentik_core", Model: "user", PK: "42", Name: "alice"}
		full.Context = json.RawMessage(`{"http_request":{"method":"PATCH","path":"/api/v3/core/users/42/"},"n":12345678901234567890}`)
		full.Diff = map[string]event.Change{"email": {Old: json.RawMessage(`"a@old.example"`), New: json.RawMessage(`"a@new.example"`)}}
		full.Geo = &event.Geo{Country: "United Kingdom", CountryCode: "GB", City: "London", Continent: "EU", Lat: 51.5142, Lon: -0.0931}
		full.ASN = &event.ASN{Number: 1221, Org: "Telstra Pty Ltd", Network: "1.128.0.0/11"}
		v6 := mkEvent("login", "bob", now.Add(-time.Second))
		v6.ClientIP = "2001:db8::1"
		noIP := mkEvent("logout", "carol", now.Add(-2*time.Second))
		mustInsert(t, s, full, v6, noIP)

		for _, want := range []event.Event{full, v6, noIP} {
			got, err := s.Get(ctx, want.Tenant, want.ID)
			if err != nil || got == nil {
				t.Fatalf("get %s: %v %v", want.ID, got, err)
			}
			wj, _ := json.Marshal(want)
			gj, _ := json.Marshal(got)
			if string(wj) != string(gj) {
				t.Errorf("round trip changed the event:\nwant %s\n got %s", wj, gj)
			}
		}
		if got, err := s.Get(ctx, "other-tenant", full.ID); err != nil || got != nil {
			t.Errorf("another tenant's event was returned: %v %v", got, err)
		}
	})
}

// TestInsertBinaryRowsAsTheyAre checks values that a text or binary
// transport could mangle: NUL, tab, newline, backslash and semicolons,
// invalid UTF-8 (stored as U+FFFD, as JSON would carry it), an IPv4
// address, an expiry past DateTime's range; and a batch of demo events
// that the embedded engine's statement splitter cut short (at a row
// starting with ';', 3,283 rows in) when its RowBinary rode inline in the
// statement.
func TestInsertBinaryRowsAsTheyAre(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		to := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
		batch := demo.Generate(1, 4000, to.Add(-time.Hour), to)
		for i := range batch {
			event.Normalize(&batch[i], to)
			batch[i].Expires = now.Add(24 * time.Hour).Truncate(time.Second)
			batch[i].ReceivedAt = to
		}
		if res := mustInsert(t, s, batch...); res.Inserted != len(batch) {
			t.Fatalf("inserted %d of %d demo events", res.Inserted, len(batch))
		}
		if st, err := s.Stats(ctx); err != nil || st.Events != uint64(len(batch)) {
			t.Fatalf("the store holds %d events (%v), want %d", st.Events, err, len(batch))
		}
		var evs []event.Event
		for i := range 50 {
			e := mkEvent("login", fmt.Sprintf("user;%d", i), now.Add(-time.Duration(i)*time.Second))
			// Byte 7 of the id is the first byte ClickHouse's RowBinary
			// writes for a UUID.
			e.ID = fmt.Sprintf("%s-7e3b-8000-%012x", event.NewID(e.Time)[:13], i)
			e.Object.Name = "a;b\x00c\td\ne\\f;"
			e.ClientIP = "192.0.2.7"
			evs = append(evs, e)
		}
		evs[1].Object.Name = "bad \xff utf-8"
		evs[2].Expires = time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC)
		if res := mustInsert(t, s, evs...); res.Inserted != len(evs) {
			t.Fatalf("inserted %d of %d", res.Inserted, len(evs))
		}
		for i, want := range evs {
			got, err := s.Get(ctx, want.Tenant, want.ID)
			if err != nil || got == nil {
				t.Fatalf("get %d %s: %v %v", i, want.ID, got, err)
			}
			wantName := want.Object.Name
			if i == 1 {
				wantName = "bad \uFFFD utf-8"
			}
			if got.Object.Name != wantName || got.User.Username != want.User.Username || got.ClientIP != "192.0.2.7" || !got.Time.Equal(want.Time) {
				t.Errorf("event %d came back as name %q user %q ip %q time %v", i, got.Object.Name, got.User.Username, got.ClientIP, got.Time)
			}
		}
	})
}

// TestInsertSpansManyExpiryDays: one insert that touches more partitions
// (expiry days) than the engine allows by default (100), as a historical
// import does; the insert's settings must reach the engine's insert.
func TestInsertSpansManyExpiryDays(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		now := time.Now().UTC()
		evs := make([]event.Event, 150)
		for i := range evs {
			evs[i] = mkEvent("login", "u", now.Add(-time.Duration(i)*time.Minute))
			evs[i].Expires = now.AddDate(0, 0, 1+i).Truncate(time.Second)
		}
		if res := mustInsert(t, s, evs...); res.Inserted != len(evs) {
			t.Fatalf("inserted %d of %d", res.Inserted, len(evs))
		}
		if st, err := s.Stats(ctx); err != nil || st.Events != uint64(len(evs)) {
			t.Fatalf("the store holds %d events (%v), want %d", st.Events, err, len(evs))
		}
	})
}

func TestDuplicateIDsCollapse(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		now := time.Now().UTC()
		a := mkEvent("login", "alice", now)
		res := mustInsert(t, s, a, a)
		if res.Inserted != 1 || res.Duplicates() != 1 {
			t.Fatalf("same id twice in one batch: inserted %d dup %d", res.Inserted, res.Duplicates())
		}
		res = mustInsert(t, s, a)
		if res.Inserted != 0 || !res.Duplicate[0] {
			t.Fatalf("re-sent id was inserted again: %+v", res)
		}
		// Concurrent senders of one id.
		b := mkEvent("login", "bob", now)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Insert(ctx, []event.Event{b}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		evs, err := s.Events(ctx, store.Filter{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 {
			t.Fatalf("want 2 events after duplicates, got %d", len(evs))
		}
		// The same id in another tenant is another event.
		c := a
		c.Tenant = "other"
		if res := mustInsert(t, s, c); res.Inserted != 1 {
			t.Fatalf("same id in another tenant was taken for a duplicate")
		}
	})
}

func TestFilters(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		var evs []event.Event
		add := func(action, user, ip, cc string, at time.Duration, ctxJSON string) {
			e := mkEvent(action, user, base.Add(at))
			e.ClientIP = ip
			e.App = "app-" + user
			if cc != "" {
				e.Geo = &event.Geo{CountryCode: cc, Country: cc}
			}
			if ctxJSON != "" {
				e.Context = json.RawMessage(ctxJSON)
			}
			evs = append(evs, e)
		}
		add("login", "alice", "81.2.69.142", "GB", 0, `{"note":"first"}`)
		add("login_failed", "alice", "81.2.69.143", "GB", time.Minute, `{"username":"alice"}`)
		add("login", "bob", "10.1.2.3", "", 2*time.Minute, "")
		add("model_deleted", "bob", "2001:db8::5", "DE", 3*time.Minute, `{"message":"Needle in a haystack"}`)
		add("logout", "o'brien; DROP TABLE events; --", "1.128.0.1", "AU", 4*time.Minute, `{"q":"'\\\\--"}`)
		mustInsert(t, s, evs...)

		pfx := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
		cases := []struct {
			name string
			f    store.Filter
			want []string // actions, newest first
		}{
			{"all", store.Filter{}, []string{"logout", "model_deleted", "login", "login_failed", "login"}},
			{"actions", store.Filter{Actions: []string{"login"}}, []string{"login", "login"}},
			{"user", store.Filter{Users: []string{"alice"}}, []string{"login_failed", "login"}},
			{"user by email", store.Filter{Users: []string{"bob@example.com"}}, []string{"model_deleted", "login"}},
			{"injection user is data", store.Filter{Users: []string{"o'brien; DROP TABLE events; --"}}, []string{"logout"}},
			{"app", store.Filter{Apps: []string{"app-bob"}}, []string{"model_deleted", "login"}},
			{"country lower-case", store.Filter{Countries: []string{"gb"}}, []string{"login_failed", "login"}},
			{"cidr v4", store.Filter{ClientIPs: []netip.Prefix{pfx("81.2.69.0/24")}}, []string{"login_failed", "login"}},
			{"single ip", store.Filter{ClientIPs: []netip.Prefix{pfx("10.1.2.3/32")}}, []string{"login"}},
			{"cidr v6", store.Filter{ClientIPs: []netip.Prefix{pfx("2001:db8::/32")}}, []string{"model_deleted"}},
			{"search context", store.Filter{Search: "needle IN A"}, []string{"model_deleted"}},
			{"search quote", store.Filter{Search: "o'brien; DROP"}, []string{"logout"}},
			// Context is searched as stored JSON text, where \\ stands for one backslash.
			{"search backslash", store.Filter{Search: `'\\\\--`}, []string{"logout"}},
			{"search user", store.Filter{Search: "brien"}, []string{"logout"}},
			{"time range", store.Filter{From: base.Add(time.Minute), To: base.Add(3 * time.Minute)}, []string{"login", "login_failed"}},
			{"combined", store.Filter{Actions: []string{"login", "login_failed"}, Users: []string{"alice"}, Countries: []string{"GB"}}, []string{"login_failed", "login"}},
			{"tenant", store.Filter{Tenant: "nobody"}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Events(ctx, tc.f, 100)
				if err != nil {
					t.Fatal(err)
				}
				var acts []string
				for _, e := range got {
					acts = append(acts, e.Action)
				}
				if fmt.Sprint(acts) != fmt.Sprint(tc.want) {
					t.Errorf("got %v, want %v", acts, tc.want)
				}
			})
		}
		if got, _ := s.Events(ctx, store.Filter{}, 2); len(got) != 2 {
			t.Errorf("limit 2 returned %d", len(got))
		}
		if _, err := s.Events(ctx, store.Filter{IDs: []string{"x' OR 1=1"}}, 10); err == nil {
			t.Errorf("a malformed id was accepted")
		}
		st, err := s.Stats(ctx)
		if err != nil || st.Events != 5 {
			t.Fatalf("the table changed or stats failed: %+v %v", st, err)
		}
	})
}

// TestRetentionTTL proves that rows past expires are deleted by the
// engine's TTL, per action, not hidden by a WHERE clause.
func TestRetentionTTL(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		r := event.Retention{Default: 365 * 24 * time.Hour, Rules: map[string]time.Duration{
			"login_failed":  30 * 24 * time.Hour,
			"model_deleted": 5 * 365 * 24 * time.Hour,
		}}
		now := time.Now().UTC()
		old := now.Add(-40 * 24 * time.Hour)
		veryOld := now.Add(-400 * 24 * time.Hour)
		var evs []event.Event
		for _, c := range []struct {
			action string
			at     time.Time
		}{{"login_failed", old}, {"login", old}, {"model_deleted", veryOld}, {"login", veryOld}} {
			e := mkEvent(c.action, "alice", c.at)
			e.Expires = time.Time{}
			r.Apply(&e)
			evs = append(evs, e)
		}
		own := mkEvent("login", "alice", now)
		own.Expires = now.Add(-time.Hour).Truncate(time.Second) // brings its own expiry
		evs = append(evs, own)
		mustInsert(t, s, evs...)

		if err := s.ApplyRetention(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := s.Events(ctx, store.Filter{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		kept := map[string]bool{}
		for _, e := range got {
			kept[e.ID] = true
		}
		want := map[int]bool{0: false, 1: true, 2: true, 3: false, 4: false}
		for i, keep := range want {
			if kept[evs[i].ID] != keep {
				t.Errorf("event %d (%s at %s, expires %s): kept=%v, want %v", i, evs[i].Action, evs[i].Time.Format(time.DateOnly), evs[i].Expires.Format(time.DateOnly), kept[evs[i].ID], keep)
			}
		}
		st, err := s.Stats(ctx)
		if err != nil || st.Events != 2 {
			t.Errorf("TTL did not physically remove rows: count()=%d err=%v", st.Events, err)
		}
	})
}

func TestSchemaMigrationKeepsData(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			var eng store.Engine
			opts := store.Options{Database: storetest.DBName(t)}
			if e.name == "embedded" {
				eng = storetest.EmbeddedEngine(t)
			} else {
				cfg := storetest.ServerConfig(t)
				cfg.Database = opts.Database
				opts.Cluster = cfg.Cluster
				var err error
				if eng, err = store.OpenServer(ctx, cfg); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() { _ = eng.Exec(ctx, "DROP DATABASE IF EXISTS `"+opts.Database+"`") })
			v1, err := store.OpenAt(ctx, eng, opts, 1)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := v1.SchemaVersion(ctx); v != 1 {
				t.Fatalf("schema version %d, want 1", v)
			}
			a := mkEvent("login", "alice", time.Now().UTC())
			mustInsert(t, v1, a)

			latest, err := store.Open(ctx, eng, opts)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := latest.SchemaVersion(ctx); v != store.LatestVersion() {
				t.Fatalf("schema version %d after migration, want %d", v, store.LatestVersion())
			}
			got, err := latest.Get(ctx, a.Tenant, a.ID)
			if err != nil || got == nil {
				t.Fatalf("event written before the migration is gone: %v", err)
			}
			// Opening again is a no-op.
			if _, err := store.Open(ctx, eng, opts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSmallLimitsWithoutTimeRange: newest-first reads with small limits and
// no time range (which ClickHouse's top-k optimisation handles) work.
func TestSmallLimitsWithoutTimeRange(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		now := time.Now().UTC()
		mustInsert(t, s, mkEvent("login", "a", now), mkEvent("login", "b", now), mkEvent("logout", "c", now.Add(-time.Second)))
		for _, lim := range []int{1, 2, 10, 1000} {
			evs, err := s.Events(ctx, store.Filter{Actions: []string{"login", "logout"}}, lim)
			if err != nil {
				t.Fatalf("limit %d: %v", lim, err)
			}
			if want := min(lim, 3); len(evs) != want {
				t.Errorf("limit %d: %d events, want %d", lim, len(evs), want)
			}
		}
	})
}

// TestTableSettings: every table of a new store skips column statistics
// at merges, and the events table merges with the wider base that spares
// its contexts repeated compression, prewarms the mark cache, and leaves
// the search index out.
func TestTableSettings(t *testing.T) {
	db := storetest.DBName(t)
	storetest.Embedded(t, store.Options{Database: db})
	eng := storetest.EmbeddedEngine(t)
	rows, err := eng.Query(ctx, "SELECT toString(name), toString(create_table_query) FROM system.tables WHERE database = '"+db+"' AND engine LIKE '%MergeTree'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name, ddl string
		if err := rows.Scan(&name, &ddl); err != nil {
			t.Fatal(err)
		}
		if name == "schema_version" || name == "search_indexed" { // bookkeeping, a row a day at most
			continue
		}
		n++
		if !strings.Contains(ddl, "auto_statistics_types = ''") {
			t.Errorf("%s still builds statistics at merges: %s", name, ddl)
		}
		if want := name == "events"; strings.Contains(ddl, "merge_selector_base = 10") != want {
			t.Errorf("%s: merge_selector_base = 10 is there: %v, want %v: %s", name, !want, want, ddl)
		}
		if want := name == "events"; strings.Contains(ddl, "prewarm_mark_cache = 1") != want {
			t.Errorf("%s: inserts and merges load their marks: %v, want %v: %s", name, !want, want, ddl)
		}
		if want := name == "events"; strings.Contains(ddl, "exclude_materialize_skip_indexes_on_merge = 'idx_search'") != want {
			t.Errorf("%s: merges leave out the search index: %v, want %v: %s", name, !want, want, ddl)
		}
	}
	if n < 6 {
		t.Fatalf("checked %d tables, want events and its rollups", n)
	}
}

// TestSearchPieces: text search is a case-insensitive substring of the
// event's joined text, whether a term has letters or not (terms without
// any are looked for as they are), whether it spans columns, and however
// old the matches: a search that finds nothing in the newest hour reads
// the rest of the range at once. The hot tier is off so that the engine
// answers every search. Every case runs again once the search index is
// built, which must change no answer.
func TestSearchPieces(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		defer store.HotOff(s)()
		now := time.Now().UTC().Truncate(time.Millisecond)
		a := mkEvent("impersonation_started", "alice", now.Add(-20*24*time.Hour))
		a.Context = json.RawMessage(`{"note":"Support Ticket #1234"}`)
		b := mkEvent("impersonation_started", "bob", now.Add(-3*time.Hour))
		b.Context = json.RawMessage(`{"note":"ticket #12345 by Bob"}`)
		c := mkEvent("login", "carol", now.Add(-time.Minute))
		c.Object.Name = "TICKET#1234"
		c.ClientIP = "2001:db8::af:1234"
		b.ClientIP = "203.0.113.9"
		d := mkEvent("model_updated", "dave", now.Add(-2*24*time.Hour))
		d.Context = json.RawMessage(`{"quota":"100% of C:\\tmp_1 [2024]","path":"/a/b_c"}`)
		mustInsert(t, s, a, b, c, d)
		month := store.Filter{From: now.Add(-30 * 24 * time.Hour), To: now.Add(time.Second)}
		cases := []struct {
			term string
			want []string // users, newest first
		}{
			{"#1234", []string{"carol", "bob", "alice"}},
			{"1234 ", []string{"carol"}}, // the object name ends there
			{"ticket #1234", []string{"bob", "alice"}},
			{"TICKET #12345", []string{"bob"}},
			{"support ticket", []string{"alice"}},
			{"bob bob@", []string{"bob"}}, // user name, then email
			{"#12345 by", []string{"bob"}},
			{"#1234 by", nil},
			{"#99", nil},
			// Only the addresses hold these.
			{"DB8::AF", []string{"carol"}},
			{"113.9", []string{"bob"}},
			{":af:1234", []string{"carol"}},
			{"bob@example.com ::ffff:203.0", []string{"bob"}}, // email, then address
			{"::ffff:203.0.113.9 ", []string{"bob"}},          // address, then the next column
			// LIKE's own characters are text like any other.
			{"100% of", []string{"dave"}},
			{`C:\\tmp_1 [2024]`, []string{"dave"}},
			{"/b_c", []string{"dave"}},
			{"100%%", nil},
			{"tmp-1", nil},
			{"[2025]", nil},
		}
		for _, indexed := range []bool{false, true} {
			if indexed {
				if _, err := s.IndexSearch(ctx, 0); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range cases {
				f := month
				f.Search = tc.term
				evs, err := s.Events(ctx, f, 100)
				if err != nil {
					t.Fatalf("%q: %v", tc.term, err)
				}
				var got []string
				for _, e := range evs {
					got = append(got, e.User.Username)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("search %q (index built: %v): %v, want %v", tc.term, indexed, got, tc.want)
				}
			}
		}
	})
}
