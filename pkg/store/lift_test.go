package store_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

// authentikPlaced is an authentik event whose context carries the place
// and network that its columns hold, as ingest lifts them.
func authentikPlaced(user string, t time.Time, geoFirst bool) event.Event {
	e := mkEvent("login", user, t)
	e.ClientIP = "5.4.1.2"
	e.Geo = &event.Geo{CountryCode: "DE", City: "Berlin", Continent: "EU", Lat: 52.52, Lon: 13.405}
	e.ASN = &event.ASN{Number: 6805, Org: "Telefonica Germany", Network: "5.4.0.0/14"}
	geo := `"geo":{"continent":"EU","country":"DE","city":"Berlin","lat":52.52,"long":13.405}`
	asn := `"asn":{"asn":6805,"as_org":"Telefonica Germany","network":"5.4.0.0/14"}`
	if geoFirst {
		e.Context = json.RawMessage(`{` + geo + `,"auth_method":"password",` + asn + `}`)
	} else {
		e.Context = json.RawMessage(`{` + asn + `,"auth_method":"password",` + geo + `,"http_request":{"method":"POST"}}`)
	}
	return e
}

// TestLiftedContextReadsBackWhole: the events table keeps an authentik
// context without the geo and asn members its columns hold, and every
// read (by id, pages, search, from the engine and from the hot tier)
// gives the context back byte for byte.
func TestLiftedContextReadsBackWhole(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *store.Store) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		a := authentikPlaced("alice", now.Add(-time.Minute), true)
		b := authentikPlaced("bob", now.Add(-2*time.Minute), false)
		// Columns from this server's GeoIP, context from the sender's:
		// they differ, and the context is kept whole.
		c := authentikPlaced("carol", now.Add(-3*time.Minute), false)
		c.Geo.City = "Hamburg"
		mustInsert(t, s, a, b, c)

		for _, e := range []event.Event{a, b, c} {
			stored, lifted, err := store.StoredContext(s, e.Tenant, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantGeo := e.User.Username == "carol"
			if strings.Contains(stored, `"geo"`) != wantGeo || strings.Contains(stored, `"asn"`) || lifted == 0 {
				t.Errorf("%s: stored %s (lifted %#x)", e.User.Username, stored, lifted)
			}
		}
		week := store.Filter{Tenant: a.Tenant, From: now.Add(-7 * 24 * time.Hour)}
		check := func(t *testing.T) {
			for _, e := range []event.Event{a, b, c} {
				got, err := s.Get(ctx, e.Tenant, e.ID)
				if err != nil || got == nil {
					t.Fatalf("get %s: %v", e.ID, err)
				}
				if string(got.Context) != string(e.Context) {
					t.Errorf("by id: context %s\nwant %s", got.Context, e.Context)
				}
			}
			for _, term := range []string{"", "telefonica", "6805", "5.4.0.0/14", "berlin"} {
				f := week
				f.Search = term
				evs, err := s.Events(ctx, f, 10)
				if err != nil {
					t.Fatal(err)
				}
				// Carol's columns say Hamburg, but her context, kept
				// whole, says Berlin.
				if len(evs) != 3 {
					t.Fatalf("search %q: %d events, want 3", term, len(evs))
				}
				for _, got := range evs {
					for _, e := range []event.Event{a, b, c} {
						if got.ID == e.ID && string(got.Context) != string(e.Context) {
							t.Errorf("search %q: context %s\nwant %s", term, got.Context, e.Context)
						}
					}
				}
			}
		}
		t.Run("hot tier", check)
		restore := store.HotOff(s)
		defer restore()
		t.Run("engine", check)
	})
}

// TestLiftAcrossMigration: rows written before version 8 keep their
// context whole and read back as they were; rows written after are
// lifted.
func TestLiftAcrossMigration(t *testing.T) {
	eng := storetest.EmbeddedEngine(t)
	opts := store.Options{Database: storetest.DBName(t)}
	v7 := openAt(t, opts, 7)
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := authentikPlaced("alice", now.Add(-time.Minute), true)
	mustInsert(t, v7, old)
	latest, err := store.Open(ctx, eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	fresh := authentikPlaced("bob", now, false)
	mustInsert(t, latest, fresh)
	restore := store.HotOff(latest)
	defer restore()
	for _, e := range []event.Event{old, fresh} {
		stored, lifted, err := store.StoredContext(latest, e.Tenant, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if wantWhole := e.ID == old.ID; (stored == string(e.Context)) != wantWhole || (lifted == 0) != wantWhole {
			t.Errorf("%s: stored %s (lifted %#x)", e.User.Username, stored, lifted)
		}
		got, err := latest.Get(ctx, e.Tenant, e.ID)
		if err != nil || got == nil || string(got.Context) != string(e.Context) {
			t.Fatalf("%s: read back %v (%v), want %s", e.User.Username, got, err, e.Context)
		}
	}
}
