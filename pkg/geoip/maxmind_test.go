package geoip_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/geoip"
)

// MaxMind's official test databases live beside the repository, not in it
// (see ../shared/testdata/geoip/README.md); a clone without them skips these
// tests and relies on the self-contained ones.
const maxmindDir = "../../../shared/testdata/geoip"

func maxmindFile(t *testing.T, name string) string {
	t.Helper()
	if _, err := os.Stat(maxmindDir); err != nil {
		t.Skipf("MaxMind test databases not available (%s: %v); self-contained tests still cover the package", maxmindDir, err)
	}
	path := filepath.Join(maxmindDir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("MaxMind test database missing from %s: %v", maxmindDir, err)
	}
	return path
}

func TestMaxMindCity(t *testing.T) {
	tests := []struct {
		ip  string
		geo *event.Geo
	}{
		{"81.2.69.142", &event.Geo{Country: "United Kingdom", CountryCode: "GB", City: "London", Continent: "EU", Lat: 51.5142, Lon: -0.0931}},
		{"2.125.160.216", &event.Geo{Country: "United Kingdom", CountryCode: "GB", City: "Boxford", Continent: "EU", Lat: 51.75, Lon: -1.25}},
		{"89.160.20.112", &event.Geo{Country: "Sweden", CountryCode: "SE", City: "Linköping", Continent: "EU", Lat: 58.4167, Lon: 15.6167}},
		{"216.160.83.56", &event.Geo{Country: "United States", CountryCode: "US", City: "Milton", Continent: "NA", Lat: 47.2513, Lon: -122.3149}},
		{"2001:218::1", &event.Geo{Country: "Japan", CountryCode: "JP", Continent: "AS", Lat: 35.68536, Lon: 139.75309}},
		{"175.16.199.1", &event.Geo{Country: "China", CountryCode: "CN", City: "Changchun", Continent: "AS", Lat: 43.88, Lon: 125.3228}},
		{"8.8.8.8", nil},
		{"10.0.0.1", nil},
		{"127.0.0.1", nil},
		{"::1", nil},
		{"192.168.1.1", nil},
	}
	for _, db := range []string{"GeoIP2-City-Test.mmdb", "GeoLite2-City-Test.mmdb"} {
		t.Run(db, func(t *testing.T) {
			r, err := geoip.Open(geoip.Config{CityPath: maxmindFile(t, db)})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()
			for _, tc := range tests {
				res := r.Lookup(netip.MustParseAddr(tc.ip))
				if !geoEqual(res.Geo, tc.geo) {
					t.Errorf("%s: Geo = %+v, want %+v", tc.ip, res.Geo, tc.geo)
				}
				if res.ASN != nil {
					t.Errorf("%s: ASN = %+v from a City database", tc.ip, res.ASN)
				}
			}
		})
	}
}

func TestMaxMindASN(t *testing.T) {
	r, err := geoip.Open(geoip.Config{ASNPath: maxmindFile(t, "GeoLite2-ASN-Test.mmdb")})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	tests := []struct {
		ip  string
		asn *event.ASN
	}{
		{"1.128.0.1", &event.ASN{Number: 1221, Org: "Telstra Pty Ltd", Network: "1.128.0.0/11"}},
		{"12.81.92.1", &event.ASN{Number: 7018, Org: "AT&T Services", Network: "12.81.92.0/22"}},
		// Number without organisation.
		{"12.81.96.1", &event.ASN{Number: 7018, Network: "12.81.96.0/19"}},
		{"81.2.69.142", nil},
		{"10.0.0.1", nil},
		{"127.0.0.1", nil},
		{"::1", nil},
		{"192.168.1.1", nil},
	}
	for _, tc := range tests {
		res := r.Lookup(netip.MustParseAddr(tc.ip))
		if !asnEqual(res.ASN, tc.asn) {
			t.Errorf("%s: ASN = %+v, want %+v", tc.ip, res.ASN, tc.asn)
		}
		if res.Geo != nil {
			t.Errorf("%s: Geo = %+v from an ASN database", tc.ip, res.Geo)
		}
	}
}

func TestMaxMindAnonymous(t *testing.T) {
	r, err := geoip.Open(geoip.Config{AnonymousPath: maxmindFile(t, "GeoIP2-Anonymous-IP-Test.mmdb")})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	tests := []struct {
		ip   string
		want geoip.Result
	}{
		{"1.2.0.1", geoip.Result{Anonymous: true, AnonymousVPN: true}},
		{"1.124.213.1", geoip.Result{Anonymous: true, AnonymousVPN: true, TorExitNode: true}},
		{"81.2.69.1", geoip.Result{Anonymous: true, AnonymousVPN: true, HostingProvider: true, PublicProxy: true, ResidentialProxy: true, TorExitNode: true}},
		{"186.30.236.1", geoip.Result{Anonymous: true, PublicProxy: true}},
		{"8.8.8.8", geoip.Result{}},
		{"10.0.0.1", geoip.Result{}},
	}
	for _, tc := range tests {
		if got := r.Lookup(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.ip, got, tc.want)
		}
	}
}

func TestMaxMindAllRoles(t *testing.T) {
	r, err := geoip.Open(geoip.Config{
		CityPath:      maxmindFile(t, "GeoIP2-City-Test.mmdb"),
		ASNPath:       maxmindFile(t, "GeoLite2-ASN-Test.mmdb"),
		AnonymousPath: maxmindFile(t, "GeoIP2-Anonymous-IP-Test.mmdb"),
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	res := r.Lookup(netip.MustParseAddr("89.160.20.112"))
	if res.Geo == nil || res.Geo.City != "Linköping" {
		t.Errorf("Geo = %s", geoString(res.Geo))
	}
	if res.ASN == nil || res.ASN.Number != 29518 {
		t.Errorf("ASN = %+v, want 29518", res.ASN)
	}
	st := r.Status()
	if len(st.Databases) != 3 {
		t.Fatalf("Status databases = %+v", st.Databases)
	}
	wantTypes := []string{"GeoIP2-City", "GeoLite2-ASN", "GeoIP2-Anonymous-IP"}
	for i, d := range st.Databases {
		if !d.Loaded || d.Type != wantTypes[i] || d.BuildTime.IsZero() || d.NodeCount == 0 {
			t.Errorf("Status database %d = %+v, want loaded %s", i, d, wantTypes[i])
		}
	}
}

// A Country database may stand in for City; City, ASN and Anonymous-IP
// files in the wrong role must be refused.
func TestMaxMindRoles(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(string) geoip.Config
		file string
		ok   bool
	}{
		{"country as city", func(p string) geoip.Config { return geoip.Config{CityPath: p} }, "GeoLite2-Country-Test.mmdb", true},
		{"asn as city", func(p string) geoip.Config { return geoip.Config{CityPath: p} }, "GeoLite2-ASN-Test.mmdb", false},
		{"anonymous as city", func(p string) geoip.Config { return geoip.Config{CityPath: p} }, "GeoIP2-Anonymous-IP-Test.mmdb", false},
		{"city as asn", func(p string) geoip.Config { return geoip.Config{ASNPath: p} }, "GeoIP2-City-Test.mmdb", false},
		{"country as asn", func(p string) geoip.Config { return geoip.Config{ASNPath: p} }, "GeoLite2-Country-Test.mmdb", false},
		{"city as anonymous", func(p string) geoip.Config { return geoip.Config{AnonymousPath: p} }, "GeoLite2-City-Test.mmdb", false},
		{"asn as anonymous", func(p string) geoip.Config { return geoip.Config{AnonymousPath: p} }, "GeoLite2-ASN-Test.mmdb", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := maxmindFile(t, tc.file)
			r, err := geoip.Open(tc.cfg(path))
			if tc.ok {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer r.Close()
				if g := r.Lookup(netip.MustParseAddr("81.2.69.142")).Geo; g == nil || g.CountryCode != "GB" || g.City != "" {
					t.Errorf("Geo = %s, want GB without city", geoString(g))
				}
				return
			}
			if err == nil {
				_ = r.Close()
				t.Fatal("Open succeeded, want wrong-type error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "cannot serve") {
				t.Errorf("error %q should name %s and the type mismatch", err, path)
			}
		})
	}
}

func corruptFiles(t *testing.T) []string {
	t.Helper()
	files := []string{
		maxmindFile(t, "GeoIP2-City-Test-Broken-Double-Format.mmdb"),
		maxmindFile(t, "GeoIP2-City-Test-Invalid-Node-Count.mmdb"),
	}
	bad, err := filepath.Glob(filepath.Join(maxmindDir, "bad-data", "*.mmdb"))
	if err != nil || len(bad) == 0 {
		t.Fatalf("no bad-data/*.mmdb in %s (%v)", maxmindDir, err)
	}
	return append(files, bad...)
}

// Every corrupt file must fail Open in every role, with the path in the
// error, and must not panic.
func TestMaxMindCorrupt(t *testing.T) {
	for _, path := range corruptFiles(t) {
		for _, role := range []string{"city", "asn", "anonymous"} {
			t.Run(filepath.Base(path)+"/"+role, func(t *testing.T) {
				cfg := geoip.Config{}
				switch role {
				case "city":
					cfg.CityPath = path
				case "asn":
					cfg.ASNPath = path
				case "anonymous":
					cfg.AnonymousPath = path
				}
				r, err := geoip.Open(cfg)
				if err == nil {
					_ = r.Close()
					t.Fatal("Open succeeded on a corrupt database")
				}
				want := `geoip: open ` + role + ` database "` + path + `": `
				if !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %q does not start with %q", err, want)
				}
			})
		}
	}
}

// Without the integrity check a corrupt file may open; then lookups that hit
// a broken record must report an error outcome and return nothing, and the
// rest must keep working.
func TestMaxMindCorruptWithoutVerify(t *testing.T) {
	ips := []string{"81.2.69.142", "2001:218::1", "89.160.20.112", "216.160.83.56", "175.16.199.1", "1.1.1.1", "::1.2.3.4"}
	for _, path := range corruptFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			outcomes := map[string]int{}
			r, err := geoip.Open(geoip.Config{CityPath: path}, geoip.WithoutVerify(),
				geoip.OnLookup(func(_, res string) { outcomes[res]++ }))
			if err != nil {
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the path", err)
				}
				return
			}
			defer r.Close()
			for _, ip := range ips {
				r.Lookup(netip.MustParseAddr(ip))
			}
			t.Logf("opened without verify; outcomes %v", outcomes)
			if filepath.Base(path) == "GeoIP2-City-Test-Broken-Double-Format.mmdb" {
				// The London and Japan records carry malformed doubles.
				if g := r.Lookup(netip.MustParseAddr("81.2.69.142")).Geo; g != nil {
					t.Errorf("Geo from broken record = %+v, want nil", g)
				}
				if outcomes["error"] == 0 {
					t.Errorf("no error outcome for broken records: %v", outcomes)
				}
			}
		})
	}
}
