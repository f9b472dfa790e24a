package ingest

import (
	"net/netip"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/geoip"
)

// Enricher finds where a public IP address is. Ingest only asks about
// public unicast addresses; nil results mean "unknown".
type Enricher interface {
	Lookup(ip netip.Addr) (geo *event.Geo, asn *event.ASN)
}

// EnricherFunc adapts a function to Enricher.
type EnricherFunc func(netip.Addr) (*event.Geo, *event.ASN)

// Lookup calls f.
func (f EnricherFunc) Lookup(ip netip.Addr) (*event.Geo, *event.ASN) { return f(ip) }

// GeoIP adapts a geoip.Resolver. A nil resolver gives a nil Enricher, so
// "no GeoIP configured" needs no special case at the call site.
func GeoIP(r *geoip.Resolver) Enricher {
	if r == nil {
		return nil
	}
	return EnricherFunc(func(ip netip.Addr) (*event.Geo, *event.ASN) {
		res := r.Lookup(ip)
		return res.Geo, res.ASN
	})
}
