package store

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/auditlog/auditlog/pkg/event"
)

// appendRow writes one event as a JSONEachRow line with the table's column
// names. Inserts use appendRowBinary (the engine reads it several times
// faster); this stays as the reference BenchmarkInsertFormat measures it
// against.
func appendRow(b []byte, e *event.Event) []byte {
	b = append(b, `{"id":`...)
	b = appendStr(b, e.ID)
	b = append(b, `,"time":`...)
	b = appendTime(b, e.Time)
	b = append(b, `,"received_at":`...)
	b = appendTime(b, e.ReceivedAt)
	b = append(b, `,"expires":`...)
	b = strconv.AppendInt(b, e.Expires.Unix(), 10)
	b = appendField(b, "tenant", e.Tenant)
	b = appendField(b, "action", e.Action)
	b = appendField(b, "app", e.App)
	b = appendField(b, "severity", e.Severity)
	b = appendField(b, "user_id", e.User.ID)
	b = appendField(b, "user_name", e.User.Username)
	b = appendField(b, "user_email", e.User.Email)
	ip := "::"
	if e.ClientIP != "" {
		ip = e.ClientIP
	}
	b = appendField(b, "client_ip", ip)
	b = appendField(b, "object_app", e.Object.App)
	b = appendField(b, "object_model", e.Object.Model)
	b = appendField(b, "object_pk", e.Object.PK)
	b = appendField(b, "object_name", e.Object.Name)
	b = appendField(b, "context", string(e.Context))
	var diff []byte
	if len(e.Diff) > 0 {
		diff, _ = json.Marshal(e.Diff)
	}
	b = appendField(b, "diff", string(diff))
	if g := e.Geo; g != nil {
		b = appendField(b, "geo_country", g.Country)
		b = appendField(b, "geo_country_code", g.CountryCode)
		b = appendField(b, "geo_city", g.City)
		b = appendField(b, "geo_continent", g.Continent)
		b = append(b, `,"geo_lat":`...)
		b = strconv.AppendFloat(b, g.Lat, 'f', -1, 64)
		b = append(b, `,"geo_lon":`...)
		b = strconv.AppendFloat(b, g.Lon, 'f', -1, 64)
	}
	if a := e.ASN; a != nil {
		b = append(b, `,"asn_number":`...)
		b = strconv.AppendUint(b, uint64(a.Number), 10)
		b = appendField(b, "asn_org", a.Org)
		b = appendField(b, "asn_network", a.Network)
	}
	return append(b, "}\n"...)
}

func appendField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendStr(b, v)
}

// appendTime writes a DateTime64(3) as a decimal of seconds, which the
// engine parses without time-zone guessing.
func appendTime(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	sec, frac := ms/1000, ms%1000
	b = append(b, '"')
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	b = strconv.AppendInt(b, sec, 10)
	b = append(b, '.')
	if frac < 100 {
		b = append(b, '0')
	}
	if frac < 10 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, frac, 10)
	return append(b, '"')
}

// appendStr writes a JSON string. Control characters are escaped, so the
// statement never holds a raw NUL, and invalid UTF-8 becomes U+FFFD.
func appendStr(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// eventColumnsSelect reads every column of an event in scan-friendly types.
// UUID and LowCardinality columns are read as they are: both engines hand
// them over as text, and each conversion the SQL names costs the engine's
// planner about 0.1 ms per query (over 20 ids of the bench's million
// events, a lookup by id took 7.9 ms with the 14 conversions, 6.4 without).
const eventColumnsSelect = `id, toUnixTimestamp64Milli(time), toUnixTimestamp64Milli(received_at),
 toInt64(toUnixTimestamp(expires)), tenant, action, app, severity,
 user_id, user_name, user_email, IPv6NumToString(client_ip),
 object_app, object_model, object_pk, object_name, context, diff,
 geo_country, geo_country_code, geo_city, geo_continent,
 geo_lat, geo_lon, asn_number, asn_org, asn_network`

// eventColumns is what reads of whole events select, for scanEvent.
func (s *Store) eventColumns() string {
	if s.lifts {
		return eventColumnsSelect + ", context_lifted"
	}
	return eventColumnsSelect + ", toUInt16(0)"
}

// scanEvent reads one row selected with eventColumnsSelect.
func scanEvent(r Rows) (event.Event, error) {
	var (
		e             event.Event
		tm, recv, exp int64
		ip, ctx, diff string
		geo           event.Geo
		asn           event.ASN
		lifted        uint16
	)
	err := r.Scan(&e.ID, &tm, &recv, &exp, &e.Tenant, &e.Action, &e.App, &e.Severity,
		&e.User.ID, &e.User.Username, &e.User.Email, &ip,
		&e.Object.App, &e.Object.Model, &e.Object.PK, &e.Object.Name, &ctx, &diff,
		&geo.Country, &geo.CountryCode, &geo.City, &geo.Continent, &geo.Lat, &geo.Lon,
		&asn.Number, &asn.Org, &asn.Network, &lifted)
	if err != nil {
		return e, err
	}
	e.Time = time.UnixMilli(tm).UTC()
	e.ReceivedAt = time.UnixMilli(recv).UTC()
	e.Expires = time.Unix(exp, 0).UTC()
	if a, err := netip.ParseAddr(ip); err == nil && !a.IsUnspecified() {
		e.ClientIP = a.Unmap().String()
	}
	if diff != "" {
		_ = json.Unmarshal([]byte(diff), &e.Diff)
	}
	if geo != (event.Geo{}) {
		e.Geo = &geo
	}
	if asn != (event.ASN{}) {
		e.ASN = &asn
	}
	if ctx != "" {
		e.Context = restoreContext([]byte(ctx), liftedMembers(lifted), &e)
	}
	return e, nil
}
