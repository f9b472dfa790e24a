// Package geoiptest writes small MaxMind DB files for tests and demos, with
// the field layout of MaxMind's own City, ASN and Anonymous-IP databases, so
// that code using pkg/geoip can be tested without shipping or downloading
// real databases.
//
// It deliberately does not import pkg/geoip, so that package's own tests can
// use it.
package geoiptest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Database types written by WriteCity, WriteASN and WriteAnonymous. They are
// the type strings of MaxMind's own files, which the geoip2 reader keys on.
const (
	CityType      = "GeoLite2-City"
	ASNType       = "GeoLite2-ASN"
	AnonymousType = "GeoIP2-Anonymous-IP"
)

// CityRecord is one network of a City database.
type CityRecord struct {
	Network     string // CIDR, IPv4 or IPv6
	City        string // English name; "" for a country-level record
	Country     string // English name
	CountryCode string // ISO 3166-1 alpha-2
	Continent   string // continent code: AF, AN, AS, EU, NA, OC, SA
	// Lat and Lon both zero mean the record has no location.
	Lat, Lon float64
}

// ASNRecord is one network of an ASN database.
type ASNRecord struct {
	Network string
	Number  uint32
	Org     string
}

// AnonymousRecord is one network of an Anonymous-IP database.
type AnonymousRecord struct {
	Network          string
	VPN              bool
	HostingProvider  bool
	PublicProxy      bool
	ResidentialProxy bool
	TorExitNode      bool
}

// Entry is one network with its raw record, for databases of any layout.
type Entry struct {
	Network string
	Data    mmdbtype.Map
}

var continentNames = map[string]string{
	"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe",
	"NA": "North America", "OC": "Oceania", "SA": "South America",
}

// CityEntries converts records to MaxMind's City layout (continent,
// country, registered_country, city, location), for WriteDB with another
// database type such as "GeoIP2-City".
func CityEntries(records []CityRecord) []Entry {
	out := make([]Entry, 0, len(records))
	for _, r := range records {
		m := mmdbtype.Map{}
		if r.Continent != "" {
			cont := mmdbtype.Map{"code": mmdbtype.String(r.Continent)}
			if name := continentNames[r.Continent]; name != "" {
				cont["names"] = names(name)
			}
			m["continent"] = cont
		}
		if r.CountryCode != "" || r.Country != "" {
			c := mmdbtype.Map{}
			if r.CountryCode != "" {
				c["iso_code"] = mmdbtype.String(r.CountryCode)
			}
			if r.Country != "" {
				c["names"] = names(r.Country)
			}
			m["country"] = c
			m["registered_country"] = c
		}
		if r.City != "" {
			m["city"] = mmdbtype.Map{"names": names(r.City)}
		}
		if r.Lat != 0 || r.Lon != 0 {
			m["location"] = mmdbtype.Map{
				"latitude":        mmdbtype.Float64(r.Lat),
				"longitude":       mmdbtype.Float64(r.Lon),
				"accuracy_radius": mmdbtype.Uint16(50),
			}
		}
		out = append(out, Entry{Network: r.Network, Data: m})
	}
	return out
}

// ASNEntries converts records to MaxMind's ASN layout.
func ASNEntries(records []ASNRecord) []Entry {
	out := make([]Entry, 0, len(records))
	for _, r := range records {
		m := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(r.Number)}
		if r.Org != "" {
			m["autonomous_system_organization"] = mmdbtype.String(r.Org)
		}
		out = append(out, Entry{Network: r.Network, Data: m})
	}
	return out
}

// AnonymousEntries converts records to MaxMind's Anonymous-IP layout. Like
// MaxMind's data, is_anonymous is always set and only true flags are
// written.
func AnonymousEntries(records []AnonymousRecord) []Entry {
	out := make([]Entry, 0, len(records))
	for _, r := range records {
		m := mmdbtype.Map{"is_anonymous": mmdbtype.Bool(true)}
		for key, on := range map[mmdbtype.String]bool{
			"is_anonymous_vpn":     r.VPN,
			"is_hosting_provider":  r.HostingProvider,
			"is_public_proxy":      r.PublicProxy,
			"is_residential_proxy": r.ResidentialProxy,
			"is_tor_exit_node":     r.TorExitNode,
		} {
			if on {
				m[key] = mmdbtype.Bool(true)
			}
		}
		out = append(out, Entry{Network: r.Network, Data: m})
	}
	return out
}

func names(en string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en)}
}

// WriteCity writes a GeoLite2-City database to path.
func WriteCity(t testing.TB, path string, records []CityRecord) {
	t.Helper()
	WriteDB(t, path, CityType, CityEntries(records))
}

// WriteASN writes a GeoLite2-ASN database to path.
func WriteASN(t testing.TB, path string, records []ASNRecord) {
	t.Helper()
	WriteDB(t, path, ASNType, ASNEntries(records))
}

// WriteAnonymous writes a GeoIP2-Anonymous-IP database to path.
func WriteAnonymous(t testing.TB, path string, records []AnonymousRecord) {
	t.Helper()
	WriteDB(t, path, AnonymousType, AnonymousEntries(records))
}

// WriteDB writes an IPv6 database (IPv4 networks are reachable as IPv4)
// of the given type to path. Later entries win where networks overlap.
//
// The file is written beside path and renamed over it, so a reader that has
// the old file mapped keeps seeing the old file: that is how database
// updates must be done, and hot-reload tests rely on it.
func WriteDB(t testing.TB, path, databaseType string, entries []Entry) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: databaseType,
		Description:  map[string]string{"en": "Auditlog test database"},
		Languages:    []string{"en"},
		IPVersion:    6,
		RecordSize:   28,
	})
	if err != nil {
		t.Fatalf("geoiptest: new %s tree: %v", databaseType, err)
	}
	for _, e := range entries {
		_, network, err := net.ParseCIDR(e.Network)
		if err != nil {
			t.Fatalf("geoiptest: network %q: %v", e.Network, err)
		}
		if err := tree.Insert(network, e.Data); err != nil {
			t.Fatalf("geoiptest: insert %s: %v", e.Network, err)
		}
	}

	f, err := os.CreateTemp(filepath.Dir(path), ".geoiptest-*.mmdb")
	if err != nil {
		t.Fatalf("geoiptest: %v", err)
	}
	tmp := f.Name()
	_, werr := tree.WriteTo(f)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		t.Fatalf("geoiptest: write %s: %v", path, werr)
	}
}

// StandardCity returns the records Standard writes to its City database:
// MaxMind's test-data networks plus one or more cities per continent, so
// that demo maps have something to show. Coordinates are the cities'.
func StandardCity() []CityRecord {
	return []CityRecord{
		// Europe
		{Network: "81.2.69.0/24", City: "London", Country: "United Kingdom", CountryCode: "GB", Continent: "EU", Lat: 51.5142, Lon: -0.0931},
		{Network: "2.125.160.0/24", City: "Boxford", Country: "United Kingdom", CountryCode: "GB", Continent: "EU", Lat: 51.75, Lon: -1.25},
		{Network: "89.160.20.0/24", City: "Linköping", Country: "Sweden", CountryCode: "SE", Continent: "EU", Lat: 58.4167, Lon: 15.6167},
		{Network: "5.4.0.0/14", City: "Berlin", Country: "Germany", CountryCode: "DE", Continent: "EU", Lat: 52.5244, Lon: 13.4105},
		{Network: "2a02:2e0::/32", City: "Frankfurt am Main", Country: "Germany", CountryCode: "DE", Continent: "EU", Lat: 50.1109, Lon: 8.6821},
		{Network: "37.120.0.0/16", City: "Paris", Country: "France", CountryCode: "FR", Continent: "EU", Lat: 48.8566, Lon: 2.3522},
		{Network: "31.13.64.0/18", City: "Dublin", Country: "Ireland", CountryCode: "IE", Continent: "EU", Lat: 53.3498, Lon: -6.2603},
		{Network: "95.173.0.0/16", City: "Moscow", Country: "Russia", CountryCode: "RU", Continent: "EU", Lat: 55.7558, Lon: 37.6173},
		// North America
		{Network: "216.160.83.0/24", City: "Milton", Country: "United States", CountryCode: "US", Continent: "NA", Lat: 47.2513, Lon: -122.3149},
		{Network: "12.81.92.0/22", City: "Dallas", Country: "United States", CountryCode: "US", Continent: "NA", Lat: 32.7767, Lon: -96.797},
		{Network: "2600:1700::/28", City: "Chicago", Country: "United States", CountryCode: "US", Continent: "NA", Lat: 41.8781, Lon: -87.6298},
		{Network: "200.68.0.0/16", City: "Mexico City", Country: "Mexico", CountryCode: "MX", Continent: "NA", Lat: 19.4326, Lon: -99.1332},
		{Network: "24.114.0.0/16", City: "Toronto", Country: "Canada", CountryCode: "CA", Continent: "NA", Lat: 43.6532, Lon: -79.3832},
		// South America
		{Network: "187.0.0.0/16", City: "São Paulo", Country: "Brazil", CountryCode: "BR", Continent: "SA", Lat: -23.5505, Lon: -46.6333},
		{Network: "181.0.0.0/16", City: "Buenos Aires", Country: "Argentina", CountryCode: "AR", Continent: "SA", Lat: -34.6037, Lon: -58.3816},
		// Africa
		{Network: "41.0.0.0/16", City: "Johannesburg", Country: "South Africa", CountryCode: "ZA", Continent: "AF", Lat: -26.2041, Lon: 28.0473},
		{Network: "102.88.0.0/16", City: "Lagos", Country: "Nigeria", CountryCode: "NG", Continent: "AF", Lat: 6.5244, Lon: 3.3792},
		{Network: "154.70.0.0/16", City: "Nairobi", Country: "Kenya", CountryCode: "KE", Continent: "AF", Lat: -1.2921, Lon: 36.8219},
		// Asia
		{Network: "175.16.199.0/24", City: "Changchun", Country: "China", CountryCode: "CN", Continent: "AS", Lat: 43.88, Lon: 125.3228},
		{Network: "2001:218::/32", Country: "Japan", CountryCode: "JP", Continent: "AS", Lat: 35.68536, Lon: 139.75309},
		{Network: "126.0.0.0/16", City: "Tokyo", Country: "Japan", CountryCode: "JP", Continent: "AS", Lat: 35.6895, Lon: 139.6917},
		{Network: "49.36.0.0/16", City: "Mumbai", Country: "India", CountryCode: "IN", Continent: "AS", Lat: 19.076, Lon: 72.8777},
		{Network: "118.200.0.0/16", City: "Singapore", Country: "Singapore", CountryCode: "SG", Continent: "AS", Lat: 1.3521, Lon: 103.8198},
		// Oceania
		{Network: "1.128.0.0/11", City: "Sydney", Country: "Australia", CountryCode: "AU", Continent: "OC", Lat: -33.8688, Lon: 151.2093},
		{Network: "202.124.0.0/16", City: "Auckland", Country: "New Zealand", CountryCode: "NZ", Continent: "OC", Lat: -36.8485, Lon: 174.7633},
		// Country only, no location: enriched with country but no city or
		// coordinates.
		{Network: "185.60.0.0/16", Country: "Switzerland", CountryCode: "CH", Continent: "EU"},
	}
}

// StandardASN returns the records Standard writes to its ASN database.
// Like MaxMind's test data, London (81.2.69.0/24) has no ASN.
func StandardASN() []ASNRecord {
	return []ASNRecord{
		{Network: "1.128.0.0/11", Number: 1221, Org: "Telstra Pty Ltd"},
		{Network: "5.4.0.0/14", Number: 6805, Org: "Telefonica Germany"},
		{Network: "12.81.92.0/22", Number: 7018, Org: "AT&T Services"},
		{Network: "89.160.20.0/24", Number: 29518, Org: "Bredband2 AB"},
		{Network: "216.160.83.0/24", Number: 209, Org: "CenturyLink Communications, LLC"},
		{Network: "175.16.199.0/24", Number: 4837, Org: "CHINA UNICOM China169 Backbone"},
		{Network: "2a02:2e0::/32", Number: 3320, Org: "Deutsche Telekom AG"},
		{Network: "37.120.0.0/16", Number: 3215, Org: "Orange"},
		{Network: "187.0.0.0/16", Number: 28573, Org: "Claro NXT Telecomunicacoes Ltda"},
		{Network: "41.0.0.0/16", Number: 29975, Org: "Vodacom"},
		{Network: "126.0.0.0/16", Number: 17676, Org: "SoftBank Corp."},
		{Network: "49.36.0.0/16", Number: 55836, Org: "Reliance Jio Infocomm Limited"},
		{Network: "2600:1700::/28", Number: 7018, Org: "AT&T Services"},
	}
}

// StandardAnonymousRecords returns the records StandardAnonymous writes.
// 1.2.0.0/16 matches MaxMind's test data.
func StandardAnonymousRecords() []AnonymousRecord {
	return []AnonymousRecord{
		{Network: "1.2.0.0/16", VPN: true},
		{Network: "185.220.100.0/22", TorExitNode: true},
		{Network: "104.244.72.0/21", HostingProvider: true, PublicProxy: true},
	}
}

// Standard writes the StandardCity and StandardASN databases into a fresh
// t.TempDir() and returns their paths.
func Standard(t testing.TB) (cityPath, asnPath string) {
	t.Helper()
	dir := t.TempDir()
	cityPath = filepath.Join(dir, "GeoLite2-City.mmdb")
	asnPath = filepath.Join(dir, "GeoLite2-ASN.mmdb")
	WriteCity(t, cityPath, StandardCity())
	WriteASN(t, asnPath, StandardASN())
	return cityPath, asnPath
}

// StandardAnonymous writes the StandardAnonymousRecords database into a
// fresh t.TempDir() and returns its path.
func StandardAnonymous(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "GeoIP2-Anonymous-IP.mmdb")
	WriteAnonymous(t, path, StandardAnonymousRecords())
	return path
}
