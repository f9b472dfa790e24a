package ingest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/geoip"
	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
	"github.com/auditlog/auditlog/pkg/ingest"
)

// maxmindTestData is MaxMind's test databases, shipped in the shared
// folder beside the repository.
const maxmindTestData = "../../../shared/testdata/geoip"

type geoCase struct {
	ip      string
	ownGeo  string // a geo object the event brings, or ""
	country string // "" = no geo expected
	city    string
	lat     float64
	lon     float64
	asn     uint32 // 0 = no ASN expected
	org     string
}

func checkEnrichment(t *testing.T, r *geoip.Resolver, cases []geoCase) {
	t.Helper()
	e := newEnv(t, envConfig{opts: ingest.Options{Enricher: ingest.GeoIP(r)}})
	ids := make([]string, len(cases))
	var lines []string
	for i, c := range cases {
		ids[i] = event.NewID(time.Now())
		ctx := ""
		if c.ownGeo != "" {
			ctx = `,"context":{"geo":` + c.ownGeo + `}`
		}
		lines = append(lines, fmt.Sprintf(`{"id":%q,"action":"login","clientIp":%q%s}`, ids[i], c.ip, ctx))
	}
	if r := e.post(t, "application/x-ndjson", ndjson(lines...)); r.status != 200 || r.result(t).Accepted != len(cases) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for i, c := range cases {
		got, err := e.st.Get(bg, "", ids[i])
		if err != nil || got == nil {
			t.Fatalf("%s: %v %v", c.ip, got, err)
		}
		switch {
		case c.country == "" && got.Geo != nil:
			t.Errorf("%s: geo %+v, want none", c.ip, *got.Geo)
		case c.country != "" && got.Geo == nil:
			t.Errorf("%s: no geo, want %s", c.ip, c.country)
		case c.country != "":
			g := got.Geo
			if g.CountryCode != c.country || g.City != c.city || g.Lat != c.lat || g.Lon != c.lon {
				t.Errorf("%s: geo %+v, want %s %s %v/%v", c.ip, *g, c.country, c.city, c.lat, c.lon)
			}
		}
		switch {
		case c.asn == 0 && got.ASN != nil:
			t.Errorf("%s: asn %+v, want none", c.ip, *got.ASN)
		case c.asn != 0 && (got.ASN == nil || got.ASN.Number != c.asn || !strings.HasPrefix(got.ASN.Org, c.org)):
			t.Errorf("%s: asn %+v, want AS%d %s", c.ip, got.ASN, c.asn, c.org)
		}
	}
}

func TestGeoIPEnrichment(t *testing.T) {
	city, asn := geoiptest.Standard(t)
	r, err := geoip.Open(geoip.Config{CityPath: city, ASNPath: asn})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkEnrichment(t, r, []geoCase{
		{ip: "81.2.69.142", country: "GB", city: "London", lat: 51.5142, lon: -0.0931},
		{ip: "::ffff:81.2.69.142", country: "GB", city: "London", lat: 51.5142, lon: -0.0931},
		{ip: "1.128.0.1", country: "AU", city: "Sydney", lat: -33.8688, lon: 151.2093, asn: 1221, org: "Telstra"},
		{ip: "5.4.1.2", country: "DE", city: "Berlin", lat: 52.5244, lon: 13.4105, asn: 6805, org: "Telefonica Germany"},
		{ip: "2a02:2e0::1", country: "DE", city: "Frankfurt am Main", lat: 50.1109, lon: 8.6821, asn: 3320, org: "Deutsche Telekom"},
		{ip: "10.0.0.1"},
		{ip: "192.168.1.1"},
		{ip: "127.0.0.1"},
		{ip: "100.64.1.1"},
		{ip: "::1"},
		{ip: "255.255.255.255"},
		{ip: "198.51.100.1"}, // public but not in the database
		// The event's own geo wins; the ASN it lacks still comes from the DB.
		{ip: "1.128.0.1", ownGeo: `{"continent":"EU","country":"FR","city":"Paris","lat":48.85,"long":2.35}`,
			country: "FR", city: "Paris", lat: 48.85, lon: 2.35, asn: 1221, org: "Telstra"},
	})
}

func TestGeoIPMaxMindTestDatabases(t *testing.T) {
	city := filepath.Join(maxmindTestData, "GeoLite2-City-Test.mmdb")
	asn := filepath.Join(maxmindTestData, "GeoLite2-ASN-Test.mmdb")
	if _, err := os.Stat(city); err != nil {
		t.Skipf("SKIP MaxMind test databases: %s is not there (%v)", maxmindTestData, err)
	}
	r, err := geoip.Open(geoip.Config{CityPath: city, ASNPath: asn})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkEnrichment(t, r, []geoCase{
		{ip: "81.2.69.142", country: "GB", city: "London", lat: 51.5142, lon: -0.0931},
		{ip: "1.128.0.1", asn: 1221, org: "Telstra Pty Ltd"},
		{ip: "10.0.0.1"},
	})
}
