package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/auditlog/auditlog/pkg/event"
)

// An authentik event's context carries the client's place and network
// ("geo" and "asn"), which ingest lifts into the geo and asn columns. The
// events table holds them once: a context member whose bytes are exactly
// what the columns render back is left out of the stored context, and
// context_lifted says where it stood, so a read puts the same bytes back
// in the same place. Over the bench's million authentik-shaped events
// the context went from 38.6 to 29.2 bytes per event: ZSTD finds the
// rest of a context among its neighbours, but not the coordinates and
// network that differ from one event to the next.
//
// context_lifted holds a byte per member, geo in the low byte and asn in
// the high one: 0 when the member was kept, otherwise its index among
// the context's members plus one (bits 0-6) and which of its known key
// orders it had (bit 7). A member is only lifted when the bytes it
// leaves behind give back the whole context on restore (checked on the
// way in), so an odd context is stored as it came.
type liftedMembers uint16

// liftVersion is the schema version that added context_lifted.
const liftVersion = 8

// liftedMember is one member that can be lifted.
type liftedMember struct {
	key    string
	marker []byte // `"key":{`, which a context holding it must contain
	shift  uint
	// shapes are the key orders known for it: authentik's own (its
	// typed dicts, as its API returns them) and sorted keys (Python's
	// sort_keys, Go maps).
	shapes   [2][]string
	firstKey []byte // `"key"` of shapes[0]'s first; shapes[1] starts with another
	present  func(*event.Event) bool
	value    func(b []byte, e *event.Event, key string) ([]byte, bool)
}

// liftable are the members that can be lifted.
var liftable = [...]liftedMember{
	newLiftedMember("geo", 0, [2][]string{{"continent", "country", "city", "lat", "long"}, {"city", "continent", "country", "lat", "long"}},
		func(e *event.Event) bool { return e.Geo != nil && *e.Geo != (event.Geo{}) }, geoValue),
	newLiftedMember("asn", 8, [2][]string{{"asn", "as_org", "network"}, {"as_org", "asn", "network"}},
		func(e *event.Event) bool { return e.ASN != nil && *e.ASN != (event.ASN{}) }, asnValue),
}

func newLiftedMember(key string, shift uint, shapes [2][]string, present func(*event.Event) bool,
	value func([]byte, *event.Event, string) ([]byte, bool)) liftedMember {
	return liftedMember{key: key, marker: []byte(`"` + key + `":{`), shift: shift, shapes: shapes,
		firstKey: []byte(`"` + shapes[0][0] + `"`), present: present, value: value}
}

// maxLiftIndex is the highest member index a byte of context_lifted holds.
const maxLiftIndex = 0x7e

// geoValue writes the value of one key of authentik's context.geo.
func geoValue(b []byte, e *event.Event, key string) ([]byte, bool) {
	g := e.Geo
	switch key {
	case "continent":
		return appendJSONString(b, g.Continent), true
	case "country":
		return appendJSONString(b, g.CountryCode), true
	case "city":
		return appendJSONString(b, g.City), true
	case "lat":
		return appendJSONFloat(b, g.Lat)
	default: // long
		return appendJSONFloat(b, g.Lon)
	}
}

// asnValue writes the value of one key of authentik's context.asn.
func asnValue(b []byte, e *event.Event, key string) ([]byte, bool) {
	a := e.ASN
	switch key {
	case "asn":
		return strconv.AppendUint(b, uint64(a.Number), 10), true
	case "as_org":
		return appendJSONString(b, a.Org), true
	default: // network
		return appendJSONString(b, a.Network), true
	}
}

// render writes the member ("key":{…}) from e's columns in the key order
// of shape, or says no when e has no value for it.
func (lm *liftedMember) render(b []byte, e *event.Event, shape int) ([]byte, bool) {
	if !lm.present(e) {
		return b, false
	}
	b = append(b, lm.marker...)
	for i, k := range lm.shapes[shape] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), k...), `":`...)
		var ok bool
		if b, ok = lm.value(b, e, k); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendJSONString writes s as a JSON string the way json.Marshal does,
// which is how ingest writes every stored context: the & of "AT&T" as
// \u0026, invalid UTF-8 as \ufffd. A context that spells a value
// otherwise keeps its member, as restore could not render its bytes.
func appendJSONString(b []byte, s string) []byte {
	if marshalEscapes(s) {
		enc, _ := json.Marshal(s) // a string always marshals
		return append(b, enc...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// marshalEscapes tells whether json.Marshal writes s as something else
// than its bytes in quotes.
func marshalEscapes(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			ascii = false
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return true
		}
	}
	return !ascii && (!utf8.ValidString(s) || strings.Contains(s, "\u2028") || strings.Contains(s, "\u2029"))
}

// appendJSONFloat writes f as encoding/json and Python's json do for the
// numbers coordinates are (the shortest text that reads back as f).
// Beyond that range their forms differ, and the member is not lifted.
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return b, false
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), true
}

// member is one "key":value of a JSON object: its bytes are obj[start:end].
type member struct{ start, end int }

// members walks the members of a JSON object, which must be valid JSON
// (stored contexts are), so that a caller can stop at the one it needs.
type members struct {
	obj  []byte
	i    int
	done bool // the closing brace was reached
	bad  bool // not an object
}

func newMembers(obj []byte) members {
	m := members{obj: obj}
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		m.bad = true
		return m
	}
	m.i = skipSpace(obj, i+1)
	if m.i < len(obj) && obj[m.i] == '}' {
		m.done = true
	}
	return m
}

// next returns the next member, or false at the end (see done and bad).
func (m *members) next() (member, bool) {
	if m.done || m.bad {
		return member{}, false
	}
	obj, start := m.obj, m.i
	if start >= len(obj) || obj[start] != '"' {
		m.bad = true
		return member{}, false
	}
	i, err := valueEnd(obj, start)
	if err == nil {
		if i = skipSpace(obj, i); i >= len(obj) || obj[i] != ':' {
			err = errNotObject
		}
	}
	if err == nil {
		i, err = valueEnd(obj, skipSpace(obj, i+1))
	}
	if err != nil {
		m.bad = true
		return member{}, false
	}
	end := i
	switch i = skipSpace(obj, i); {
	case i < len(obj) && obj[i] == ',':
		m.i = skipSpace(obj, i+1)
	case i < len(obj) && obj[i] == '}':
		m.done = true
	default:
		m.bad = true
		return member{}, false
	}
	return member{start, end}, true
}

var errNotObject = errors.New("not a JSON object")

// liftScratch holds the buffers of a lift or a restore.
type liftScratch struct {
	render, back []byte
	// lifted is what the lift rendered of each member it took out, for
	// the check that restores them (nil: restore renders them).
	lifted [len(liftable)][]byte
}

var liftScratches = sync.Pool{New: func() any { return new(liftScratch) }}

// liftContext returns the context to store for e and what was lifted out
// of it. kept is e.Context itself when nothing was, else a new slice.
func liftContext(e *event.Event) (kept []byte, lifted liftedMembers) {
	ctx := e.Context
	var want [len(liftable)]bool
	left := 0
	for li := range liftable {
		lm := &liftable[li]
		if want[li] = bytes.Contains(ctx, lm.marker); want[li] {
			left++
		}
	}
	if left == 0 {
		return ctx, 0
	}
	sc := liftScratches.Get().(*liftScratch)
	defer liftScratches.Put(sc)
	type cut struct{ from, to int }
	var cuts [len(liftable)]cut
	n := 0
	ms := newMembers(ctx)
	// The walk stops at the last member sought: a context's members
	// after it need not be read.
	for idx := 0; left > 0 && idx <= maxLiftIndex; idx++ {
		m, ok := ms.next()
		if !ok {
			break
		}
		for li := range liftable {
			lm := &liftable[li]
			if !want[li] || !hasKey(ctx[m.start:m.end], lm.key) {
				continue
			}
			want[li], left = false, left-1
			// The first key tells the shape: one render, one compare.
			shape := 0
			if !bytes.HasPrefix(ctx[m.start+len(lm.key)+4:m.end], lm.firstKey) {
				shape = 1
			}
			if ctx[m.start-1] != ',' && ctx[m.start-1] != '{' || ctx[m.end] != ',' && ctx[m.end] != '}' {
				continue // not compact here: restore could not give the same bytes
			}
			var rendered bool
			sc.render, rendered = lm.render(sc.render[:0], e, shape)
			if !rendered || !bytes.Equal(sc.render, ctx[m.start:m.end]) {
				continue
			}
			sc.lifted[li] = ctx[m.start:m.end]
			lifted |= liftedMembers(idx+1|shape<<7) << lm.shift
			cuts[n] = cut{m.start, m.end}
			n++
		}
	}
	if lifted == 0 {
		return ctx, 0
	}
	kept = append(make([]byte, 0, len(ctx)), ctx...)
	for i := n - 1; i >= 0; i-- { // the last first, so earlier offsets hold
		c := cuts[i]
		// The member goes with the comma after it, or before it when it
		// was the last one.
		switch {
		case kept[c.to] == ',':
			c.to++
		case kept[c.from-1] == ',':
			c.from--
		}
		kept = append(kept[:c.from], kept[c.to:]...)
	}
	// A check that costs a walk of the kept members: a context that
	// would not come back byte for byte is stored whole.
	var ok bool
	sc.back, ok = restoreContextTo(sc.back[:0], kept, lifted, e, sc)
	sc.lifted = [len(liftable)][]byte{}
	if !ok || !bytes.Equal(sc.back, ctx) {
		return ctx, 0
	}
	return kept, lifted
}

// hasKey tells whether the member m ("key":value) has the given key.
func hasKey(m []byte, key string) bool {
	return len(m) > len(key)+2 && m[0] == '"' && string(m[1:1+len(key)]) == key && m[1+len(key)] == '"'
}

// restoreContext gives back the context as it came, from the stored one
// and the columns of e (read from the same row).
func restoreContext(kept []byte, lifted liftedMembers, e *event.Event) []byte {
	if lifted == 0 {
		return kept
	}
	sc := liftScratches.Get().(*liftScratch)
	defer liftScratches.Put(sc)
	out, ok := restoreContextTo(make([]byte, 0, len(kept)+160), kept, lifted, e, sc)
	if !ok {
		return kept // not what a lift leaves: shown as stored
	}
	return out
}

// restoreContextTo appends the restored context to b. Each lifted member
// goes back before the stored member that followed it, or after the last
// one; the stored members are walked once, up to the last needed.
func restoreContextTo(b, kept []byte, lifted liftedMembers, e *event.Event, sc *liftScratch) ([]byte, bool) {
	ms := newMembers(kept)
	if ms.bad {
		return b, false
	}
	cur, curIdx := member{}, -1 // the last stored member walked to
	type insert struct {
		at     int    // offset in kept
		member []byte // rendered
		before bool   // a comma before it, else after it (or none: alone)
		alone  bool
	}
	var ins [len(liftable)]insert
	n, atEnd := 0, false
	// Lowest index first: each index counts the members restored before it.
	order := [len(liftable)]int{0, 1}
	if idxOf(lifted, liftable[1]) < idxOf(lifted, liftable[0]) {
		order = [len(liftable)]int{1, 0}
	}
	sc.render = sc.render[:0]
	for _, li := range order {
		lm := &liftable[li]
		v := byte(lifted >> lm.shift)
		if v == 0 {
			continue
		}
		idx, shape := int(v&0x7f)-1, int(v>>7)
		m := sc.lifted[li]
		if m == nil {
			start := len(sc.render)
			var ok bool
			if sc.render, ok = lm.render(sc.render, e, shape); !ok {
				return b, false
			}
			m = sc.render[start:]
		}
		k := idx - n // stored members that stood before it
		for curIdx < k && !ms.done {
			next, ok := ms.next()
			if !ok {
				if ms.bad {
					return b, false
				}
				break
			}
			cur, curIdx = next, curIdx+1
		}
		switch {
		case k < 0 || k > curIdx+1:
			return b, false
		case k == curIdx:
			ins[n] = insert{at: cur.start, member: m}
		case atEnd:
			// After the member restored just before, at the end too.
			ins[n] = insert{at: ins[n-1].at, member: m, before: true}
		case curIdx >= 0:
			ins[n], atEnd = insert{at: cur.end, member: m, before: true}, true
		default: // the first member of an object that kept none
			ins[n], atEnd = insert{at: bytes.IndexByte(kept, '{') + 1, member: m, alone: true}, true
		}
		n++
	}
	prev := 0
	for _, in := range ins[:n] {
		b = append(b, kept[prev:in.at]...)
		switch {
		case in.alone:
			b = append(b, in.member...)
		case in.before:
			b = append(append(b, ','), in.member...)
		default:
			b = append(append(b, in.member...), ',')
		}
		prev = in.at
	}
	return append(b, kept[prev:]...), true
}

func idxOf(l liftedMembers, lm liftedMember) int {
	v := byte(l >> lm.shift)
	if v == 0 {
		return math.MaxInt
	}
	return int(v & 0x7f)
}
