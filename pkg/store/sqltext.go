package store

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Every value that reaches SQL goes through one of the functions in this
// file. Both engines receive the same finished text, so escaping, not a
// driver's parameter binding, is what keeps user input out of the grammar.
// Identifiers are never taken from users: they come from constants and the
// validated database name.

// quote returns s as a ClickHouse string literal. Backslash and quote are
// escaped; so is every control byte, because the embedded engine receives
// the statement as a C string, where a NUL would cut it short.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\'':
			b.WriteString(`\'`)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// quoteList returns a parenthesised list of string literals.
func quoteList(vals []string) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = quote(v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// uuidLit returns a UUID literal, or false when id is not a UUID.
func uuidLit(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return "toUUID(" + quote(u.String()) + ")", true
}

// timeLit is a DateTime64(3) literal; integers cannot carry syntax.
func timeLit(t time.Time) string {
	return "fromUnixTimestamp64Milli(toInt64(" + strconv.FormatInt(t.UnixMilli(), 10) + "), 'UTC')"
}

// ipLit is an IPv6 literal of a parsed address (IPv4 is mapped, as stored).
func ipLit(a netip.Addr) string {
	return "toIPv6(" + quote(netip.AddrFrom16(a.As16()).String()) + ")"
}

// PrefixRange returns the first and last stored address of a CIDR, in the
// IPv6 column's form (IPv4 mapped): what a client IP filter selects.
func PrefixRange(p netip.Prefix) (netip.Addr, netip.Addr) {
	p = p.Masked()
	bits := p.Bits()
	first := p.Addr()
	if first.Is4() {
		bits += 96
	}
	b := netip.AddrFrom16(first.As16()).As16()
	for i := bits; i < 128; i++ {
		b[i/8] |= 1 << (7 - uint(i%8))
	}
	return netip.AddrFrom16(first.As16()), netip.AddrFrom16(b)
}

func intLit(n int64) string { return strconv.FormatInt(n, 10) }

// msLit is a millisecond count, as the rollups' bucket column holds.
func msLit(ms int64) string { return strconv.FormatInt(ms, 10) }

// secTimeLit is a DateTime literal of Unix seconds, as expires holds.
func secTimeLit(sec int64) string {
	return "toDateTime(toUInt32(" + strconv.FormatInt(sec, 10) + "), 'UTC')"
}

// msTimeLit is a DateTime64(3) literal of Unix milliseconds.
func msTimeLit(ms int64) string {
	return "fromUnixTimestamp64Milli(toInt64(" + strconv.FormatInt(ms, 10) + "), 'UTC')"
}
