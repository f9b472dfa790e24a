package store

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/google/uuid"

	"github.com/auditlog/auditlog/pkg/event"
)

// insertColumnTypes are the columns of an insert, in the order
// appendRowBinary writes them, with the types the engine reads them as.
// LowCardinality columns are read as String: the engine then builds each
// block's dictionary from a whole column at once, where reading them as
// LowCardinality adds row by row, and the insert takes 30% longer
// (BenchmarkInsertFormat/RowBinaryFile, 80k against 105k events/s).
var insertColumnTypes = [][2]string{
	{"id", "UUID"}, {"time", "DateTime64(3, 'UTC')"}, {"received_at", "DateTime64(3, 'UTC')"}, {"expires", "DateTime('UTC')"},
	{"tenant", lc}, {"action", lc}, {"app", lc}, {"severity", lc}, {"user_id", lc}, {"user_name", lc}, {"user_email", lc},
	{"client_ip", "IPv6"}, {"object_app", lc}, {"object_model", lc}, {"object_pk", "String"}, {"object_name", "String"},
	{"context", "String"}, {"diff", "String"}, {"geo_country", lc}, {"geo_country_code", lc}, {"geo_city", lc},
	{"geo_continent", lc}, {"geo_lat", "Float64"}, {"geo_lon", "Float64"}, {"asn_number", "UInt32"}, {"asn_org", lc},
	{"asn_network", lc}, {"context_lifted", "UInt16"},
}

// lc is a LowCardinality(String) column as the insert reads it.
const lc = "String"

// insertColumns names them ("id, time, …"); insertStructure gives their
// types too ("id UUID, time DateTime64(3, 'UTC'), …"). The Before8 pair
// leaves out context_lifted, which older schemas lack.
var (
	insertColumns, insertStructure               = columnLists(insertColumnTypes)
	insertColumnsBefore8, insertStructureBefore8 = columnLists(insertColumnTypes[:len(insertColumnTypes)-1])
)

func columnLists(cols [][2]string) (string, string) {
	names := make([]string, len(cols))
	typed := make([]string, len(cols))
	for i, c := range cols {
		names[i], typed[i] = c[0], c[0]+" "+c[1]
	}
	return strings.Join(names, ", "), strings.Join(typed, ", ")
}

// appendRowBinary writes one event in ClickHouse's RowBinary format.
// Inserts use it because the engine reads it without parsing or
// unescaping text: strings are a length and their bytes, numbers are
// little-endian, so the engine's share of an insert is about half of
// what TabSeparated costs, and ours is a copy. Validate has checked
// what the columns need (a UUID id, an IP without zone, times in range).
// It also returns what the hot tier's copy needs to know of the row
// (see storedForm), so that the copy does not check and encode it again.
// With lift false (a schema before version 8) the context goes in whole
// and the row ends before context_lifted.
func appendRowBinary(b []byte, e *event.Event, lift bool) ([]byte, written) {
	var w rowWriter
	b = appendUUID(b, e.ID)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Time.UnixMilli()))
	b = binary.LittleEndian.AppendUint64(b, uint64(e.ReceivedAt.UnixMilli()))
	b = binary.LittleEndian.AppendUint32(b, dateTime32(e.Expires))
	for _, v := range [...]string{e.Tenant, e.Action, e.App, e.Severity, e.User.ID, e.User.Username, e.User.Email} {
		b = w.str(b, v)
	}
	b = appendIPv6(b, e.ClientIP)
	for _, v := range [...]string{e.Object.App, e.Object.Model, e.Object.PK, e.Object.Name} {
		b = w.str(b, v)
	}
	// Viewed, not copied, unless members were lifted out of it (see
	// lift.go): the context is most of an event's bytes.
	ctx := e.Context
	if lift {
		var lifted liftedMembers
		if ctx, lifted = liftContext(e); lifted != 0 {
			w.context, w.lifted = ctx, lifted
		}
	}
	b = w.str(b, bytesString(ctx))
	if len(e.Diff) > 0 {
		w.diff, _ = json.Marshal(e.Diff)
	}
	b = w.str(b, bytesString(w.diff))
	var geo event.Geo
	if e.Geo != nil {
		geo = *e.Geo
	}
	for _, v := range [...]string{geo.Country, geo.CountryCode, geo.City, geo.Continent} {
		b = w.str(b, v)
	}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(geo.Lat))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(geo.Lon))
	var asn event.ASN
	if e.ASN != nil {
		asn = *e.ASN
	}
	b = binary.LittleEndian.AppendUint32(b, asn.Number)
	b = w.str(b, asn.Org)
	b = w.str(b, asn.Network)
	if lift {
		b = binary.LittleEndian.AppendUint16(b, uint16(w.lifted))
	}
	return b, w.written
}

// written is what appendRowBinary wrote of an event beyond its values.
type written struct {
	// replaced: some text held invalid UTF-8, which went in replaced.
	replaced bool
	// diff is the diff's JSON as written (nil for none).
	diff []byte
	// context is the context as written when lifted says members were
	// taken out of it (nil otherwise: it went in whole).
	context []byte
	lifted  liftedMembers
}

type rowWriter struct{ written }

func (w *rowWriter) str(b []byte, s string) []byte {
	b, ok := appendBinaryStr(b, s)
	w.replaced = w.replaced || !ok
	return b
}

// bytesString views b as a string for reading only.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

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
// is read back as JSON text, which cannot carry such bytes. It tells
// whether s went in as it was.
func appendBinaryStr(b []byte, s string) ([]byte, bool) {
	if utf8.ValidString(s) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...), true
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
	return append(b, valid...), false
}
