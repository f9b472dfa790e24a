package geoip_test

import (
	"net/netip"
	"testing"

	"github.com/auditlog/auditlog/pkg/geoip"
)

func BenchmarkLookup(b *testing.B) {
	r := openStandard(b)
	cases := []struct{ name, ip string }{
		{"hit-all", "1.128.0.1"},         // City and ASN hit, Anonymous miss
		{"hit-city-only", "81.2.69.142"}, // ASN and Anonymous miss
		{"miss", "8.8.8.8"},
		{"ipv6", "2a02:2e0::1"},
		{"private-skip", "10.1.2.3"},
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Lookup(ip)
			}
		})
	}
	b.Run("parallel-hit-all", func(b *testing.B) {
		ip := netip.MustParseAddr("1.128.0.1")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = r.Lookup(ip)
			}
		})
	})
	b.Run("with-hook", func(b *testing.B) {
		r := openStandard(b, geoip.OnLookup(func(string, string) {}))
		ip := netip.MustParseAddr("1.128.0.1")
		b.ReportAllocs()
		for b.Loop() {
			_ = r.Lookup(ip)
		}
	})
}

// BenchmarkLookupMaxMind runs on MaxMind's City test database, whose records
// carry all languages and fields as real files do.
func BenchmarkLookupMaxMind(b *testing.B) {
	const dir = maxmindDir
	r, err := geoip.Open(geoip.Config{
		CityPath: dir + "/GeoIP2-City-Test.mmdb",
		ASNPath:  dir + "/GeoLite2-ASN-Test.mmdb",
	})
	if err != nil {
		b.Skipf("MaxMind test databases not available: %v", err)
	}
	defer r.Close()
	ip := netip.MustParseAddr("89.160.20.112")
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Lookup(ip)
	}
}
