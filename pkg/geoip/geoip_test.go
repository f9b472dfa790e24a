package geoip_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/geoip"
	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
)

func openStandard(t testing.TB, opts ...geoip.Option) *geoip.Resolver {
	t.Helper()
	city, asn := geoiptest.Standard(t)
	r, err := geoip.Open(geoip.Config{CityPath: city, ASNPath: asn, AnonymousPath: geoiptest.StandardAnonymous(t)}, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func geoString(g *event.Geo) string {
	if g == nil {
		return "<nil>"
	}
	return g.CountryCode + "/" + g.Country + "/" + g.City + "/" + g.Continent
}

func TestLookupStandard(t *testing.T) {
	r := openStandard(t)
	tests := []struct {
		ip       string
		geo      *event.Geo
		asn      *event.ASN
		anon     bool
		vpn, tor bool
	}{
		{ip: "81.2.69.142", geo: &event.Geo{Country: "United Kingdom", CountryCode: "GB", City: "London", Continent: "EU", Lat: 51.5142, Lon: -0.0931}},
		{ip: "5.5.5.5",
			geo: &event.Geo{Country: "Germany", CountryCode: "DE", City: "Berlin", Continent: "EU", Lat: 52.5244, Lon: 13.4105},
			asn: &event.ASN{Number: 6805, Org: "Telefonica Germany", Network: "5.4.0.0/14"}},
		{ip: "1.128.0.1",
			geo: &event.Geo{Country: "Australia", CountryCode: "AU", City: "Sydney", Continent: "OC", Lat: -33.8688, Lon: 151.2093},
			asn: &event.ASN{Number: 1221, Org: "Telstra Pty Ltd", Network: "1.128.0.0/11"}},
		{ip: "89.160.20.112",
			geo: &event.Geo{Country: "Sweden", CountryCode: "SE", City: "Linköping", Continent: "EU", Lat: 58.4167, Lon: 15.6167},
			asn: &event.ASN{Number: 29518, Org: "Bredband2 AB", Network: "89.160.20.0/24"}},
		{ip: "2a02:2e0::1",
			geo: &event.Geo{Country: "Germany", CountryCode: "DE", City: "Frankfurt am Main", Continent: "EU", Lat: 50.1109, Lon: 8.6821},
			asn: &event.ASN{Number: 3320, Org: "Deutsche Telekom AG", Network: "2a02:2e0::/32"}},
		// IPv4-mapped IPv6 is looked up as IPv4.
		{ip: "::ffff:1.128.0.1",
			geo: &event.Geo{Country: "Australia", CountryCode: "AU", City: "Sydney", Continent: "OC", Lat: -33.8688, Lon: 151.2093},
			asn: &event.ASN{Number: 1221, Org: "Telstra Pty Ltd", Network: "1.128.0.0/11"}},
		// Country-level record with location but no city.
		{ip: "2001:218::1", geo: &event.Geo{Country: "Japan", CountryCode: "JP", Continent: "AS", Lat: 35.68536, Lon: 139.75309}},
		// Country without location: still a Geo, coordinates zero.
		{ip: "185.60.1.1", geo: &event.Geo{Country: "Switzerland", CountryCode: "CH", Continent: "EU"}},
		{ip: "1.2.0.1", anon: true, vpn: true},
		{ip: "185.220.101.1", anon: true, tor: true},
		{ip: "8.8.8.8"},
		{ip: "2001:4860:4860::8888"},
		// Not looked up at all.
		{ip: "10.0.0.1"},
		{ip: "127.0.0.1"},
		{ip: "::1"},
		{ip: "192.168.1.1"},
		{ip: "172.16.5.4"},
		{ip: "169.254.1.1"},
		{ip: "fe80::1"},
		{ip: "fe80::1%eth0"},
		{ip: "fd00::1"},
		{ip: "0.0.0.0"},
		{ip: "::"},
		{ip: "224.0.0.1"},
		{ip: "ff02::1"},
		{ip: "100.100.1.1"},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			res := r.Lookup(netip.MustParseAddr(tc.ip))
			if !geoEqual(res.Geo, tc.geo) {
				t.Errorf("Geo = %+v, want %+v", res.Geo, tc.geo)
			}
			if !asnEqual(res.ASN, tc.asn) {
				t.Errorf("ASN = %+v, want %+v", res.ASN, tc.asn)
			}
			if res.Anonymous != tc.anon || res.AnonymousVPN != tc.vpn || res.TorExitNode != tc.tor {
				t.Errorf("anonymous flags = %+v, want anon=%v vpn=%v tor=%v", res, tc.anon, tc.vpn, tc.tor)
			}
		})
	}
}

func TestLookupZeroAddr(t *testing.T) {
	r := openStandard(t)
	if res := r.Lookup(netip.Addr{}); res != (geoip.Result{}) {
		t.Errorf("Lookup(zero) = %+v, want empty", res)
	}
}

func geoEqual(a, b *event.Geo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func asnEqual(a, b *event.ASN) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestEmptyConfig(t *testing.T) {
	var calls int
	r, err := geoip.Open(geoip.Config{}, geoip.OnLookup(func(string, string) { calls++ }))
	if err != nil {
		t.Fatalf("Open(empty): %v", err)
	}
	defer r.Close()
	for _, ip := range []string{"81.2.69.142", "10.0.0.1"} {
		if res := r.Lookup(netip.MustParseAddr(ip)); res != (geoip.Result{}) {
			t.Errorf("Lookup(%s) = %+v, want empty", ip, res)
		}
	}
	if calls != 0 {
		t.Errorf("OnLookup called %d times without databases", calls)
	}
	if err := r.Reload(); err != nil {
		t.Errorf("Reload(empty): %v", err)
	}
	if st := r.Status(); len(st.Databases) != 0 || st.LastError != "" {
		t.Errorf("Status = %+v", st)
	}
}

func TestOnLookupHook(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	r := openStandard(t, geoip.OnLookup(func(db, result string) {
		mu.Lock()
		got[db+":"+result]++
		mu.Unlock()
	}))
	r.Lookup(netip.MustParseAddr("1.128.0.1"))   // city hit, asn hit, anonymous miss
	r.Lookup(netip.MustParseAddr("81.2.69.142")) // city hit, asn miss, anonymous miss
	r.Lookup(netip.MustParseAddr("1.2.0.1"))     // city miss, asn miss, anonymous hit
	r.Lookup(netip.MustParseAddr("10.1.2.3"))    // skip everywhere
	want := map[string]int{
		"city:hit": 2, "city:miss": 1, "city:skip": 1,
		"asn:hit": 1, "asn:miss": 2, "asn:skip": 1,
		"anonymous:hit": 1, "anonymous:miss": 2, "anonymous:skip": 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected outcomes: %v", got)
	}
}

// GeoIP2-City (the commercial type string) and a Country database both serve
// the city role; the reader treats them alike.
func TestOtherCityTypes(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range []string{"GeoIP2-City", "GeoLite2-Country", "GeoIP2-Country"} {
		t.Run(typ, func(t *testing.T) {
			path := filepath.Join(dir, typ+".mmdb")
			geoiptest.WriteDB(t, path, typ, geoiptest.CityEntries(geoiptest.StandardCity()))
			r, err := geoip.Open(geoip.Config{CityPath: path})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()
			if g := r.Lookup(netip.MustParseAddr("216.160.83.56")).Geo; g == nil || g.City != "Milton" || g.CountryCode != "US" {
				t.Errorf("Geo = %s", geoString(g))
			}
		})
	}
}

// An IPv4-only database must answer IPv6 lookups with a miss, not an error.
func TestIPv4OnlyDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v4.mmdb")
	writeIPv4City(t, path)
	var outcomes []string
	r, err := geoip.Open(geoip.Config{CityPath: path}, geoip.OnLookup(func(_, res string) { outcomes = append(outcomes, res) }))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if g := r.Lookup(netip.MustParseAddr("81.2.69.1")).Geo; g == nil || g.City != "London" {
		t.Errorf("v4 Geo = %s", geoString(g))
	}
	if g := r.Lookup(netip.MustParseAddr("2a02:2e0::1")).Geo; g != nil {
		t.Errorf("v6 Geo = %s, want nil", geoString(g))
	}
	if strings.Join(outcomes, ",") != "hit,miss" {
		t.Errorf("outcomes = %v, want hit,miss", outcomes)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	city, asn := geoiptest.Standard(t)
	anon := geoiptest.StandardAnonymous(t)
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.mmdb")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unknownType := filepath.Join(dir, "unknown.mmdb")
	geoiptest.WriteDB(t, unknownType, "Acme-City", geoiptest.CityEntries(geoiptest.StandardCity()))
	missing := filepath.Join(dir, "missing.mmdb")

	tests := []struct {
		name    string
		cfg     geoip.Config
		role    string
		path    string
		errPart string
	}{
		{"missing city", geoip.Config{CityPath: missing}, "city", missing, "no such file"},
		{"missing asn", geoip.Config{CityPath: city, ASNPath: missing}, "asn", missing, "no such file"},
		{"missing anonymous", geoip.Config{AnonymousPath: missing}, "anonymous", missing, "no such file"},
		{"garbage", geoip.Config{CityPath: garbage}, "city", garbage, "invalid MaxMind DB"},
		{"empty", geoip.Config{ASNPath: empty}, "asn", empty, "empty"},
		{"unknown type", geoip.Config{CityPath: unknownType}, "city", unknownType, "Acme-City"},
		{"asn as city", geoip.Config{CityPath: asn}, "city", asn, `"GeoLite2-ASN" cannot serve city lookups`},
		{"city as asn", geoip.Config{ASNPath: city}, "asn", city, `"GeoLite2-City" cannot serve asn lookups`},
		{"city as anonymous", geoip.Config{AnonymousPath: city}, "anonymous", city, "cannot serve anonymous lookups"},
		{"anonymous as city", geoip.Config{CityPath: anon}, "city", anon, "cannot serve city lookups"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := geoip.Open(tc.cfg)
			if err == nil {
				_ = r.Close()
				t.Fatal("Open succeeded, want error")
			}
			want := `geoip: open ` + tc.role + ` database "` + tc.path + `": `
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			if !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("error %q does not mention %q", err, tc.errPart)
			}
		})
	}
}

func TestCloseIdempotentAndEmptiesLookups(t *testing.T) {
	city, asn := geoiptest.Standard(t)
	r, err := geoip.Open(geoip.Config{CityPath: city, ASNPath: asn})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("1.128.0.1")
	if r.Lookup(ip).Geo == nil {
		t.Fatal("no Geo before Close")
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if res := r.Lookup(ip); res != (geoip.Result{}) {
		t.Errorf("Lookup after Close = %+v", res)
	}
	if err := r.Reload(); err != geoip.ErrClosed {
		t.Errorf("Reload after Close = %v, want ErrClosed", err)
	}
	st := r.Status()
	if !st.Closed || len(st.Databases) != 2 || st.Databases[0].Loaded {
		t.Errorf("Status after Close = %+v", st)
	}
}

func writeIPv4City(t *testing.T, path string) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "GeoLite2-City",
		Description:  map[string]string{"en": "IPv4-only test database"},
		IPVersion:    4,
		RecordSize:   24,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range geoiptest.CityEntries(geoiptest.StandardCity()) {
		_, n, err := net.ParseCIDR(e.Network)
		if err != nil {
			t.Fatal(err)
		}
		if n.IP.To4() == nil {
			continue
		}
		if err := tree.Insert(n, e.Data); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
}
