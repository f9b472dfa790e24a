package store

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/auditlog/auditlog/pkg/event"
)

// insertColumns is the column list of an insert, in the order
// appendRowBinary writes them.
const insertColumns = "id, time, received_at, expires, tenant, action, app, severity, user_id, user_name, user_email, client_ip, " +
	"object_app, object_model, object_pk, object_name, context, diff, geo_country, geo_country_code, geo_city, geo_continent, " +
	"geo_lat, geo_lon, asn_number, asn_org, asn_network"

// appendRowBinary writes one event in ClickHouse's RowBinary format.
// Inserts use it because the engine reads it without parsing or
// unescaping text: strings are a length and their bytes, numbers are
// little-endian, so the engine's share of an insert is about half of
// what TabSeparated costs, and ours is a copy. Validate has checked
// what the columns need (a UUID id, an IP without zone, times in range).
func appendRowBinary(b []byte, e *event.Event) []byte {
	b = appendUUID(b, e.ID)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Time.UnixMilli()))
	b = binary.LittleEndian.AppendUint64(b, uint64(e.ReceivedAt.UnixMilli()))
	b = binary.LittleEndian.AppendUint32(b, dateTime32(e.Expires))
	for _, v := range [...]string{e.Tenant, e.Action, e.App, e.Severity, e.User.ID, e.User.Username, e.User.Email} {
		b = appendBinaryStr(b, v)
	}
	b = appendIPv6(b, e.ClientIP)
	for _, v := range [...]string{e.Object.App, e.Object.Model, e.Object.PK, e.Object.Name, string(e.Context)} {
		b = appendBinaryStr(b, v)
	}
	var diff []byte
	if len(e.Diff) > 0 {
		diff, _ = json.Marshal(e.Diff)
	}
	b = appendBinaryStr(b, string(diff))
	var geo event.Geo
	if e.Geo != nil {
		geo = *e.Geo
	}
	for _, v := range [...]string{geo.Country, geo.CountryCode, geo.City, geo.Continent} {
		b = appendBinaryStr(b, v)
	}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(geo.Lat))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(geo.Lon))
	var asn event.ASN
	if e.ASN != nil {
		asn = *e.ASN
	}
	b = binary.LittleEndian.AppendUint32(b, asn.Number)
	b = appendBinaryStr(b, asn.Org)
	return appendBinaryStr(b, asn.Network)
}

// appendUUID writes a UUID as ClickHouse stores it: its two 64-bit halves,
// each little-endian. An id that is not a UUID (Validate refuses those)
// is written as the nil UUID rather than failing the whole batch.
func appendUUID(b []byte, id string) []byte {
	u, _ := uuid.Parse(id)
	b = binary.LittleEndian.AppendUint64(b, binary.BigEndian.Uint64(u[:8]))
	return binary.LittleEndian.AppendUint64(b, binary.BigEndian.Uint64(u[8:]))
}

// dateTime32 is a DateTime (seconds, unsigned 32 bits), clamped to its range.
func dateTime32(t time.Time) uint32 {
	return uint32(min(max(t.Unix(), 0), math.MaxUint32))
}

// appendIPv6 writes an address as 16 bytes in network order, IPv4 as
// IPv4-mapped (as the engine converts "1.2.3.4" into an IPv6 column); no
// address is ::.
func appendIPv6(b []byte, ip string) []byte {
	var a [16]byte
	if ip != "" {
		if p, err := netip.ParseAddr(ip); err == nil {
			a = p.WithZone("").As16()
		}
	}
	return append(b, a[:]...)
}

// appendBinaryStr writes a string as its length (unsigned LEB128) and
// bytes, with each byte of invalid UTF-8 replaced by U+FFFD: every column
// is read back as JSON text, which cannot carry such bytes.
func appendBinaryStr(b []byte, s string) []byte {
	if utf8.ValidString(s) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	valid := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			valid = append(valid, "\uFFFD"...)
		} else {
			valid = append(valid, s[i:i+size]...)
		}
		i += size
	}
	b = binary.AppendUvarint(b, uint64(len(valid)))
	return append(b, valid...)
}
