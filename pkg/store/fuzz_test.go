package store

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzFilterSQL: whatever users put in a filter, the WHERE clause keeps
// every value inside a string literal that decodes back to it, and nothing
// outside literals can end the statement or start a comment.
func FuzzFilterSQL(f *testing.F) {
	for _, s := range []string{"login", "o'brien", `\'; DROP TABLE events; --`, "{x:String}", "a\x00b", "\\", "/* c */", "é'\n\t", "\xff\xfe"} {
		f.Add(s, s+"2", "10.0.0.0/8")
	}
	f.Fuzz(func(t *testing.T, a, b, cidr string) {
		flt := Filter{
			Tenant: a, Actions: []string{a, b}, Users: []string{b}, Apps: []string{a},
			Countries: []string{b}, Search: a + b,
			From: time.Unix(0, 0), To: time.Unix(1e9, 0),
		}
		if p, err := netip.ParsePrefix(cidr); err == nil {
			flt.ClientIPs = []netip.Prefix{p}
		}
		where, err := flt.where()
		if err != nil {
			return
		}
		lits, outside, ok := lexLiterals(where)
		if !ok {
			t.Fatalf("unterminated literal in %q", where)
		}
		for _, bad := range []string{";", "--", "/*", "#"} {
			if strings.Contains(outside, bad) {
				t.Fatalf("%q outside literals in %q", bad, where)
			}
		}
		have := map[string]bool{}
		for _, l := range lits {
			have[l] = true
		}
		for _, v := range []string{a, b, a + b, strings.ToUpper(b)} {
			if !have[v] {
				t.Fatalf("value %q is not one literal of %q (literals %q)", v, where, lits)
			}
		}
	})
}

// lexLiterals splits SQL into decoded single-quoted literals and the text
// outside them, following ClickHouse's escapes (\x, \\, \', ”).
func lexLiterals(sql string) (lits []string, outside string, ok bool) {
	var out, cur strings.Builder
	in := false
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		if !in {
			if c == '\'' {
				in = true
				cur.Reset()
				continue
			}
			out.WriteByte(c)
			continue
		}
		switch c {
		case '\\':
			if i+1 >= len(sql) {
				return nil, "", false
			}
			i++
			switch sql[i] {
			case 'x':
				if i+2 >= len(sql) {
					return nil, "", false
				}
				var v byte
				for _, h := range sql[i+1 : i+3] {
					v <<= 4
					switch {
					case h >= '0' && h <= '9':
						v |= byte(h - '0')
					case h >= 'A' && h <= 'F':
						v |= byte(h - 'A' + 10)
					default:
						return nil, "", false
					}
				}
				cur.WriteByte(v)
				i += 2
			case 'n':
				cur.WriteByte('\n')
			case 't':
				cur.WriteByte('\t')
			case '0':
				cur.WriteByte(0)
			default:
				cur.WriteByte(sql[i])
			}
		case '\'':
			if i+1 < len(sql) && sql[i+1] == '\'' {
				cur.WriteByte('\'')
				i++
				continue
			}
			in = false
			lits = append(lits, cur.String())
			out.WriteString("?")
		default:
			cur.WriteByte(c)
		}
	}
	return lits, out.String(), !in
}
