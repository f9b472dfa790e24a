package event

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeFast reads the event shapes senders actually use in one pass over
// the bytes, without reflection. ok is false whenever it is not certain to
// return exactly what decodeReference would: invalid JSON, any value of the
// wrong type, duplicate or escaped keys, keys that only match a field
// ignoring case, nesting deeper than a context may go, any rule of
// fromWire that would fail. Decode then asks decodeReference, so this code
// never has to reproduce an error message, only the accepted events.
//
// It reads b in place: the strings it keeps are copied into one allocation
// at the end, and raw JSON into copies of their own, so the event shares
// nothing with b, which ingest reuses for the next line.
func decodeFast(b []byte) (Event, bool) {
	// Same trimming as decodeReference; a non-space byte outside the JSON
	// grammar is refused by the scanner below, and bytes inside strings are
	// checked for UTF-8 there, which together stand in for utf8.Valid.
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Event{}, false
	}
	d := fastDecoder{b: b}
	var w fastWire
	if !d.event(&w) || d.i != len(d.b) {
		return Event{}, false
	}
	return d.build(&w)
}

// maxFastDepth is the deepest nesting the fast decoder follows, counting the
// event object as 1. Decode refuses a context nested deeper than MaxNesting
// counting its own brace, which sits at depth 2. Deeper values elsewhere
// (an object's ignored keys, a diff) are rare enough to leave to
// decodeReference, and the limit keeps the recursion of skip bounded.
const maxFastDepth = MaxNesting + 1

// fastDecoder is a cursor over one event's JSON text.
type fastDecoder struct {
	b     []byte
	i     int
	depth int
	// dirty records, since it was last cleared, anything by which raw JSON
	// text differs from what json.Marshal writes for it: white space
	// between tokens, or a character Marshal escapes (<, >, &, U+2028,
	// U+2029). Raw values copied into the context are written as Marshal
	// would, and the clean ones, nearly all, are copied as they are.
	dirty bool
	// ctx holds the context's members in the order read: the first ones in
	// an array, so that the decoder (and with it the array) stays on the
	// stack, which it would not if a slice of its own array were stored
	// in it.
	ctx     [16]ctxEntry
	nctx    int
	ctxMore []ctxEntry
}

func (d *fastDecoder) addCtx(en ctxEntry) {
	if d.nctx < len(d.ctx) {
		d.ctx[d.nctx] = en
		d.nctx++
		return
	}
	d.ctxMore = append(d.ctxMore, en)
}

// fastWire is what the top-level keys said. Texts are slices of the input
// (or, when they had escapes, decoded copies). Absent, null and "" are the
// same for every string field in fromWire, so they need no presence flag.
type fastWire struct {
	seen uint32 // top-level keys read, to leave duplicates to decodeReference

	id, pk, eventUUID  []byte
	time, created      []byte
	clientIP, clientAK []byte
	action, app        []byte
	severity, expires  []byte
	tenant             []byte

	user   fastUser
	object fastObject
	geo    *fastGeo
	asn    *fastASN
	diff   map[string]Change

	tenantObj span // an old authentik tenant object, which is the brand
	brand     span
	context   span // the context object; unset when absent or null
	ctxGeo    ctxLift[fastGeo]
	ctxASN    ctxLift[fastASN]
	ctxModel  ctxLift[fastObject]
	ctxDiff   ctxLift[map[string]Change]
	hasBrand  bool // the context has a "brand" member
	hasUser   bool // the context has a "user" member
}

// span is a raw JSON value of the input.
type span struct {
	start, end int
	dirty      bool
	set        bool
}

type ctxEntry struct {
	key []byte
	val span
}

// ctxLift is a context member that fromAuthentikContext may lift into a
// column. It is parsed as soon as it is read; a value of the wrong shape is
// only an error if it is lifted, so that is remembered instead of failing.
type ctxLift[T any] struct {
	present, bad bool
	v            T
}

type fastUser struct {
	present         bool
	id, pk          []byte
	username, email []byte
	extra           bool // keys beyond the four above: the whole object goes to context.user
	raw             span
}

type fastObject struct {
	present                   bool
	app, model, modelName, pk []byte
	name                      []byte
}

type fastGeo struct {
	country, countryCode, city, continent []byte
	lat, lon                              float64
}

type fastASN struct {
	number       uint32
	org, network []byte
}

// Byte classes of the string scanner.
const (
	strPlain = iota
	strQuote
	strBackslash
	strControl  // invalid in a JSON string
	strHTML     // <, > and &, which json.Marshal escapes
	strNonASCII // the first byte of a multi-byte rune
)

var strClass = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = strControl
	}
	t['"'] = strQuote
	t['\\'] = strBackslash
	t['<'], t['>'], t['&'] = strHTML, strHTML, strHTML
	for c := 0x80; c < 0x100; c++ {
		t[c] = strNonASCII
	}
	return t
}()

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// ws skips JSON white space.
func (d *fastDecoder) ws() {
	for d.i < len(d.b) && isSpace(d.b[d.i]) {
		d.i++
		d.dirty = true
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (d *fastDecoder) peek() byte {
	if d.i < len(d.b) && !isSpace(d.b[d.i]) {
		return d.b[d.i]
	}
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// scanString reads the string whose opening quote is at d.i and returns
// the text between the quotes, and whether it holds escapes (then the text
// is not the value).
func (d *fastDecoder) scanString() (raw []byte, escaped, ok bool) {
	b := d.b
	i := d.i + 1
	start := i
	for {
		// Most bytes are plain; testing eight at a time saves a branch
		// per byte on the bulk of every event.
		for i+8 <= len(b) && strClass[b[i]]|strClass[b[i+1]]|strClass[b[i+2]]|strClass[b[i+3]]|
			strClass[b[i+4]]|strClass[b[i+5]]|strClass[b[i+6]]|strClass[b[i+7]] == strPlain {
			i += 8
		}
		for i < len(b) && strClass[b[i]] == strPlain {
			i++
		}
		if i >= len(b) {
			return nil, false, false
		}
		switch strClass[b[i]] {
		case strQuote:
			d.i = i + 1
			return b[start:i], escaped, true
		case strBackslash:
			if i+1 >= len(b) {
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || hex4(b[i+2:i+6]) < 0 {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
			escaped = true
		case strControl:
			return nil, false, false
		case strHTML:
			d.dirty = true
			i++
		default: // strNonASCII
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return nil, false, false
			}
			if r == '\u2028' || r == '\u2029' {
				d.dirty = true
			}
			i += n
		}
	}
}

// str reads a string value.
func (d *fastDecoder) str() ([]byte, bool) {
	raw, esc, ok := d.scanString()
	if esc {
		raw = unescape(raw)
	}
	return raw, ok
}

// hex4 reads four hex digits, or returns -1.
func hex4(s []byte) rune {
	var r rune
	for i := range 4 {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescape decodes the escapes of a scanned string as encoding/json does,
// including its choice of U+FFFD for a surrogate that is not half of a
// pair.
func unescape(raw []byte) []byte {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			b = append(b, raw[i:]...)
			break
		}
		b = append(b, raw[i:i+j]...)
		i += j
		c := raw[i+1]
		i += 2
		switch c {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := hex4(raw[i : i+4])
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if pair := utf16.DecodeRune(r, hex4(raw[i+2:i+6])); pair != utf8.RuneError {
						b = utf8.AppendRune(b, pair)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
		default: // " \ /
			b = append(b, c)
		}
	}
	return b
}

// number reads a number and returns its text.
func (d *fastDecoder) number() ([]byte, bool) {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return nil, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return nil, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return nil, false
		}
		i = j
	}
	n := b[d.i:i]
	d.i = i
	return n, true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// lit reads true, false or null.
func (d *fastDecoder) lit(word string) bool {
	if len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return true
	}
	return false
}

// skip reads any value, checking its syntax.
func (d *fastDecoder) skip() bool {
	if d.i >= len(d.b) {
		return false
	}
	switch d.b[d.i] {
	case '"':
		_, _, ok := d.scanString()
		return ok
	case '{':
		if !d.enter() {
			return false
		}
		for first := true; ; first = false {
			_, more, ok := d.member(first)
			if !ok || !more {
				return ok
			}
			if !d.skip() {
				return false
			}
		}
	case '[':
		return d.array(func() bool { return d.skip() })
	case 't':
		return d.lit("true")
	case 'f':
		return d.lit("false")
	case 'n':
		return d.lit("null")
	}
	_, ok := d.number()
	return ok
}

// enter consumes the { or [ at d.i.
func (d *fastDecoder) enter() bool {
	d.i++
	d.depth++
	return d.depth <= maxFastDepth
}

// member reads the next member's key and colon, leaving d.i at its value,
// or the closing brace (more is false). Escaped keys are left to
// decodeReference: matching them would need their decoded form.
func (d *fastDecoder) member(first bool) (key []byte, more, ok bool) {
	c := d.peek()
	if c == '}' && first {
		d.i++
		d.depth--
		return nil, false, true
	}
	if !first {
		switch c {
		case '}':
			d.i++
			d.depth--
			return nil, false, true
		case ',':
			d.i++
			c = d.peek()
		default:
			return nil, false, false
		}
	}
	if c != '"' {
		return nil, false, false
	}
	key, esc, ok := d.scanString()
	if !ok || esc || d.peek() != ':' {
		return nil, false, false
	}
	d.i++
	// Every value reader may then look at d.b[d.i].
	if d.peek() == 0 {
		return nil, false, false
	}
	return key, true, true
}

// array reads an array, calling elem with d.i at each element.
// members reads the members of the object at d.i, which starts with '{',
// handing each key to field to read its value, and stops at the first
// false: the one loop of every object reader below.
func (d *fastDecoder) members(field func(key []byte) bool) bool {
	if !d.enter() {
		return false
	}
	for first := true; ; first = false {
		key, more, ok := d.member(first)
		if !ok || !more {
			return ok
		}
		if !field(key) {
			return false
		}
	}
}

func (d *fastDecoder) array(elem func() bool) bool {
	if !d.enter() {
		return false
	}
	if d.peek() == ']' {
		d.i++
		d.depth--
		return true
	}
	for {
		d.peek()
		if !elem() {
			return false
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return true
		default:
			return false
		}
	}
}

// optString reads a string or null into a *string field.
func (d *fastDecoder) optString(dst *[]byte) bool {
	if d.b[d.i] == '"' {
		s, ok := d.str()
		*dst = s
		return ok
	}
	return d.lit("null")
}

// flex reads a flexString: a string, a number kept as written, or null.
func (d *fastDecoder) flex(dst *[]byte) bool {
	switch c := d.b[d.i]; {
	case c == '"':
		s, ok := d.str()
		*dst = s
		return ok
	case c == 'n':
		return d.lit("null")
	case c == '-' || '0' <= c && c <= '9':
		n, ok := d.number()
		*dst = n
		return ok
	}
	return false
}

// float reads a number into a float64 field; set reports a non-null value.
func (d *fastDecoder) float(dst *float64) (set, ok bool) {
	if d.b[d.i] == 'n' {
		return false, d.lit("null")
	}
	n, ok := d.number()
	if !ok {
		return false, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	*dst = f
	return true, err == nil
}

// uint32 reads a number into a uint32 field, which encoding/json reads with
// strconv.ParseUint: no sign, fraction or exponent.
func (d *fastDecoder) uint32(dst *uint32) (set, ok bool) {
	if d.b[d.i] == 'n' {
		return false, d.lit("null")
	}
	n, ok := d.number()
	if !ok {
		return false, false
	}
	u, err := strconv.ParseUint(string(n), 10, 32)
	*dst = uint32(u)
	return true, err == nil
}

// ignorable tells whether encoding/json skips this key of a lenient struct
// with these fields: it must not match one ignoring case. Non-ASCII keys
// can fold into ASCII (ſ into s, K into k), so they are not ignorable here.
func ignorable(key []byte, fields []string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	for _, f := range fields {
		if len(f) == len(key) && asciiEqualFold(key, f) {
			return false
		}
	}
	return true
}

func asciiEqualFold(a []byte, b string) bool {
	for i := range a {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// once marks a field as read and reports whether it was not before.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// event reads the top-level object (wire).
func (d *fastDecoder) event(w *fastWire) bool {
	if !d.enter() {
		return false
	}
	for first := true; ; first = false {
		key, more, ok := d.member(first)
		if !ok || !more {
			return ok
		}
		var bit uint32
		switch string(key) {
		case "id":
			bit, ok = 1<<0, d.optString(&w.id)
		case "time":
			bit, ok = 1<<1, d.optString(&w.time)
		case "clientIp":
			bit, ok = 1<<2, d.optString(&w.clientIP)
		case "severity":
			bit, ok = 1<<3, d.optString(&w.severity)
		case "object":
			bit, ok = 1<<4, d.object(&w.object)
		case "diff":
			bit = 1 << 5
			if d.b[d.i] == 'n' {
				ok = d.lit("null")
			} else {
				w.diff, ok = d.diff()
			}
		case "tenant":
			bit = 1 << 6
			switch d.b[d.i] {
			case '"':
				w.tenant, ok = d.str()
			case '{':
				w.tenantObj, ok = d.raw()
			default:
				ok = d.lit("null")
			}
		case "action":
			bit, ok = 1<<7, d.optString(&w.action)
		case "app":
			bit, ok = 1<<8, d.optString(&w.app)
		case "user":
			bit, ok = 1<<9, d.user(&w.user)
		case "context":
			bit = 1 << 10
			if d.b[d.i] == '{' {
				ok = d.context(w)
			} else {
				ok = d.lit("null")
			}
		case "expires":
			bit, ok = 1<<11, d.optString(&w.expires)
		case "pk":
			bit, ok = 1<<12, d.optString(&w.pk)
		case "event_uuid":
			bit, ok = 1<<13, d.optString(&w.eventUUID)
		case "client_ip":
			bit, ok = 1<<14, d.optString(&w.clientAK)
		case "created":
			bit, ok = 1<<15, d.optString(&w.created)
		case "brand":
			bit = 1 << 16
			if d.b[d.i] == 'n' {
				ok = d.lit("null")
			} else {
				w.brand, ok = d.raw()
			}
		case "expiring":
			bit = 1 << 17
			ok = d.lit("true") || d.lit("false") || d.lit("null")
		case "receivedAt":
			var ignored []byte
			bit, ok = 1<<18, d.optString(&ignored)
		case "geo":
			bit = 1 << 19
			if d.b[d.i] == 'n' {
				ok = d.lit("null")
			} else {
				w.geo, ok = d.geo()
			}
		case "asn":
			bit = 1 << 20
			if d.b[d.i] == 'n' {
				ok = d.lit("null")
			} else {
				w.asn, ok = d.asn()
			}
		default:
			// Unknown, or a field named in another case: decodeReference
			// refuses the one and matches the other.
			return false
		}
		if !ok || !once(&w.seen, bit) {
			return false
		}
	}
}

// raw reads any value and returns where it is.
func (d *fastDecoder) raw() (span, bool) {
	start := d.i
	d.dirty = false
	ok := d.skip()
	return span{start: start, end: d.i, dirty: d.dirty, set: true}, ok
}

var userFields = []string{"id", "pk", "username", "email"}

// user reads wireUser: lenient, and the whole object goes to the context
// when it has keys beyond the four.
func (d *fastDecoder) user(u *fastUser) bool {
	if d.b[d.i] != '{' {
		return d.lit("null")
	}
	u.present = true
	start := d.i
	d.dirty = false
	var seen uint32
	ok := d.members(func(key []byte) bool {
		switch string(key) {
		case "id":
			return once(&seen, 1) && d.flex(&u.id)
		case "pk":
			return once(&seen, 2) && d.flex(&u.pk)
		case "username":
			return once(&seen, 4) && d.optString(&u.username)
		case "email":
			return once(&seen, 8) && d.optString(&u.email)
		}
		u.extra = true
		return ignorable(key, userFields) && d.skip()
	})
	if !ok {
		return false
	}
	u.raw = span{start: start, end: d.i, dirty: d.dirty, set: true}
	return true
}

var objectFields = []string{"app", "model", "model_name", "pk", "name"}

// object reads wireObject, leniently.
func (d *fastDecoder) object(o *fastObject) bool {
	if d.b[d.i] != '{' {
		return d.lit("null")
	}
	o.present = true
	var seen uint32
	return d.members(func(key []byte) bool {
		switch string(key) {
		case "app":
			return once(&seen, 1) && d.optString(&o.app)
		case "model":
			return once(&seen, 2) && d.optString(&o.model)
		case "model_name":
			return once(&seen, 4) && d.optString(&o.modelName)
		case "pk":
			return once(&seen, 8) && d.flex(&o.pk)
		case "name":
			return once(&seen, 16) && d.optString(&o.name)
		}
		return ignorable(key, objectFields) && d.skip()
	})
}

// geo reads the native geo object, strictly: Decode refuses unknown keys
// there.
func (d *fastDecoder) geo() (*fastGeo, bool) {
	if d.b[d.i] != '{' {
		return nil, false
	}
	g := new(fastGeo)
	var seen uint32
	ok := d.members(func(key []byte) bool {
		switch string(key) {
		case "country":
			return once(&seen, 1) && d.optString(&g.country)
		case "countryCode":
			return once(&seen, 2) && d.optString(&g.countryCode)
		case "city":
			return once(&seen, 4) && d.optString(&g.city)
		case "continent":
			return once(&seen, 8) && d.optString(&g.continent)
		case "lat":
			_, ok := d.float(&g.lat)
			return ok && once(&seen, 16)
		case "lon":
			_, ok := d.float(&g.lon)
			return ok && once(&seen, 32)
		}
		return false
	})
	if !ok {
		return nil, false
	}
	return g, true
}

// asn reads the native asn object, strictly.
func (d *fastDecoder) asn() (*fastASN, bool) {
	if d.b[d.i] != '{' {
		return nil, false
	}
	a := new(fastASN)
	var seen uint32
	ok := d.members(func(key []byte) bool {
		switch string(key) {
		case "number":
			_, ok := d.uint32(&a.number)
			return ok && once(&seen, 1)
		case "org":
			return once(&seen, 2) && d.optString(&a.org)
		case "network":
			return once(&seen, 4) && d.optString(&a.network)
		}
		return false
	})
	if !ok {
		return nil, false
	}
	return a, true
}

var ctxGeoFields = []string{"continent", "country", "city", "lat", "long", "lon"}

// ctxGeo reads authentik's context.geo the way fromAuthentikContext does.
func (d *fastDecoder) ctxGeo() (fastGeo, bool) {
	var g fastGeo
	if d.b[d.i] == 'n' {
		return g, d.lit("null") // decodes to nothing, and so a zero Geo
	}
	if d.b[d.i] != '{' {
		return g, false
	}
	var lat, long, lon float64
	var hasLat, hasLong, hasLon bool
	var seen uint32
	ok := d.members(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "continent":
			return once(&seen, 1) && d.optString(&g.continent)
		case "country":
			return once(&seen, 2) && d.optString(&g.countryCode)
		case "city":
			return once(&seen, 4) && d.optString(&g.city)
		case "lat":
			hasLat, ok = d.float(&lat)
			return ok && once(&seen, 8)
		case "long":
			hasLong, ok = d.float(&long)
			return ok && once(&seen, 16)
		case "lon":
			hasLon, ok = d.float(&lon)
			return ok && once(&seen, 32)
		}
		return ignorable(key, ctxGeoFields) && d.skip()
	})
	if !ok {
		return g, false
	}
	if hasLat {
		g.lat = lat
	}
	if hasLong {
		g.lon = long
	} else if hasLon {
		g.lon = lon
	}
	return g, true
}

var ctxASNFields = []string{"asn", "as_org", "network"}

// ctxASN reads authentik's context.asn, which must have a number.
func (d *fastDecoder) ctxASN() (fastASN, bool) {
	var a fastASN
	if d.b[d.i] != '{' {
		return a, false
	}
	var hasNumber bool
	var seen uint32
	ok := d.members(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "asn":
			hasNumber, ok = d.uint32(&a.number)
			return ok && once(&seen, 1)
		case "as_org":
			return once(&seen, 2) && d.optString(&a.org)
		case "network":
			return once(&seen, 4) && d.optString(&a.network)
		}
		return ignorable(key, ctxASNFields) && d.skip()
	})
	return a, ok && hasNumber
}

// diff reads a diff object like parseDiff.
func (d *fastDecoder) diff() (map[string]Change, bool) {
	if d.b[d.i] != '{' {
		return nil, false
	}
	out := make(map[string]Change)
	ok := d.members(func(name []byte) bool {
		if _, dup := out[string(name)]; dup || len(out) == MaxDiffFields {
			return false
		}
		var ch Change
		ok := true
		if d.b[d.i] == 'n' {
			ok = d.lit("null") // decodes to nothing, and so to no change
		} else {
			ch, ok = d.change()
		}
		out[string(name)] = ch
		return ok
	})
	if !ok {
		return nil, false
	}
	return out, true
}

var changeFields = []string{"old", "new", "previous_value", "new_value", "add", "remove", "clear"}

// change reads one field's change like ParseChange.
func (d *fastDecoder) change() (Change, bool) {
	var ch Change
	if d.b[d.i] != '{' {
		return ch, false
	}
	var prev, next json.RawMessage
	var seen uint32
	ok := d.members(func(key []byte) bool {
		switch string(key) {
		case "old":
			return once(&seen, 1) && d.rawMessage(&ch.Old)
		case "new":
			return once(&seen, 2) && d.rawMessage(&ch.New)
		case "previous_value":
			return once(&seen, 4) && d.rawMessage(&prev)
		case "new_value":
			return once(&seen, 8) && d.rawMessage(&next)
		case "add":
			return once(&seen, 16) && d.rawList(&ch.Add)
		case "remove":
			return once(&seen, 32) && d.rawList(&ch.Remove)
		case "clear":
			if !once(&seen, 64) {
				return false
			}
			switch {
			case d.lit("true"):
				ch.Clear = true
			case d.lit("false"), d.lit("null"):
			default:
				return false
			}
			return true
		}
		return ignorable(key, changeFields) && d.skip()
	})
	if !ok {
		return ch, false
	}
	if ch.Old == nil {
		ch.Old = prev
	}
	if ch.New == nil {
		ch.New = next
	}
	return ch, true
}

// rawMessage reads a json.RawMessage field: the value's bytes, null too,
// in a copy of their own like RawMessage.UnmarshalJSON makes.
func (d *fastDecoder) rawMessage(dst *json.RawMessage) bool {
	start := d.i
	if !d.skip() {
		return false
	}
	*dst = append(json.RawMessage(nil), d.b[start:d.i]...)
	return true
}

// rawList reads a []json.RawMessage field. An empty array is an empty,
// non-nil slice, as encoding/json makes it.
func (d *fastDecoder) rawList(dst *[]json.RawMessage) bool {
	if d.b[d.i] == 'n' {
		*dst = nil
		return d.lit("null")
	}
	if d.b[d.i] != '[' {
		return false
	}
	list := []json.RawMessage{}
	ok := d.array(func() bool {
		start := d.i
		if !d.skip() {
			return false
		}
		list = append(list, append(json.RawMessage(nil), d.b[start:d.i]...))
		return true
	})
	*dst = list
	return ok
}

// context reads the context object, keeping each member's place for the
// rewrite and lifting what fromAuthentikContext may lift.
func (d *fastDecoder) context(w *fastWire) bool {
	start := d.i
	if !d.enter() {
		return false
	}
	for first := true; ; first = false {
		key, more, ok := d.member(first)
		if !ok {
			return false
		}
		if !more {
			break
		}
		v := span{start: d.i, set: true}
		depth := d.depth
		d.dirty = false
		switch string(key) {
		case "geo":
			w.ctxGeo.present = true
			w.ctxGeo.v, ok = d.ctxGeo()
		case "asn":
			w.ctxASN.present = true
			w.ctxASN.v, ok = d.ctxASN()
		case "model":
			if d.b[d.i] == '{' {
				w.ctxModel.present = true
				ok = d.object(&w.ctxModel.v)
			} else {
				ok = d.skip()
			}
		case "diff":
			if d.b[d.i] == '{' {
				w.ctxDiff.present = true
				w.ctxDiff.v, ok = d.diff()
			} else {
				ok = d.skip()
			}
		default:
			w.hasBrand = w.hasBrand || string(key) == "brand"
			w.hasUser = w.hasUser || string(key) == "user"
			ok = d.skip()
		}
		if !ok {
			// The shape was wrong for a lift, which only matters if it is
			// lifted; the syntax must be right in any case.
			d.i, d.depth, d.dirty = v.start, depth, false
			if !d.skip() {
				return false
			}
			switch string(key) {
			case "geo":
				w.ctxGeo.bad = true
			case "asn":
				w.ctxASN.bad = true
			case "model":
				w.ctxModel.bad = true
			case "diff":
				w.ctxDiff.bad = true
			}
		}
		v.end, v.dirty = d.i, d.dirty
		d.addCtx(ctxEntry{key: key, val: v})
	}
	w.context = span{start: start, end: d.i, set: true}
	return w.context.end-w.context.start <= MaxContextBytes
}

// build is fromWire.
func (d *fastDecoder) build(w *fastWire) (Event, bool) {
	var e Event
	var txt texts
	id, ok := pick(w.id, w.pk, w.eventUUID)
	if !ok {
		return e, false
	}
	ts, ok := pick(w.time, w.created, nil)
	if !ok {
		return e, false
	}
	if len(ts) > 0 {
		if e.Time, ok = parseTimeOK(ts); !ok {
			return e, false
		}
	}
	clientIP, ok := pick(w.clientIP, w.clientAK, nil)
	if !ok {
		return e, false
	}
	if len(w.expires) > 0 {
		if e.Expires, ok = parseTimeOK(w.expires); !ok {
			return e, false
		}
	}
	txt[tID], txt[tClientIP] = id, clientIP
	txt[tAction], txt[tApp], txt[tSeverity], txt[tTenant] = w.action, w.app, w.severity, w.tenant
	if u := &w.user; u.present {
		txt[tUserID] = either(u.id, u.pk)
		txt[tUsername], txt[tEmail] = u.username, u.email
	}
	object := &w.object
	if object.present {
		object.model = either(object.model, object.modelName)
	}
	if w.geo != nil {
		e.Geo = txt.geo(w.geo)
	}
	if w.asn != nil {
		e.ASN = txt.asn(w.asn)
	}
	e.Diff = w.diff

	// Brand and impersonation facts join the context where it has none.
	brand := w.tenantObj
	if !brand.set {
		brand = w.brand
	}
	if brand.set && !w.hasBrand {
		d.addCtx(ctxEntry{key: brandKey, val: brand})
	}
	if w.user.extra && !w.hasUser {
		d.addCtx(ctxEntry{key: userKey, val: w.user.raw})
	}
	if w.context.set || d.nctx > 0 {
		if l := &w.ctxGeo; l.present && e.Geo == nil {
			if l.bad {
				return e, false
			}
			e.Geo = txt.geo(&l.v)
		}
		if l := &w.ctxASN; l.present && e.ASN == nil {
			if l.bad {
				return e, false
			}
			e.ASN = txt.asn(&l.v)
		}
		// The context's model prefers model_name, the native object model.
		if l := &w.ctxModel; l.present && !object.any() {
			if l.bad {
				return e, false
			}
			object = &l.v
			object.model = either(object.modelName, object.model)
		}
		if l := &w.ctxDiff; l.present && e.Diff == nil {
			if l.bad {
				return e, false
			}
			e.Diff = l.v
		}
		if e.Context, ok = d.marshalContext(); !ok {
			return e, false
		}
	}
	txt[tObjApp], txt[tObjModel], txt[tObjPK], txt[tObjName] = object.app, object.model, object.pk, object.name
	txt.fill(&e)
	return e, true
}

var brandKey, userKey = []byte("brand"), []byte("user")

// any tells whether the object maps to a non-zero Object.
func (o *fastObject) any() bool {
	return len(o.app) > 0 || len(o.model) > 0 || len(o.modelName) > 0 || len(o.pk) > 0 || len(o.name) > 0
}

// either returns the first non-empty text, like cmp.Or.
func either(a, b []byte) []byte {
	if len(a) > 0 {
		return a
	}
	return b
}

// texts gathers the strings of an event, by field, so that they can share
// one allocation instead of taking one each. (Pointers to the fields would
// be simpler, but storing them moves the Event to the heap.)
type texts [nTexts][]byte

const (
	tID = iota
	tClientIP
	tAction
	tApp
	tSeverity
	tTenant
	tUserID
	tUsername
	tEmail
	tObjApp
	tObjModel
	tObjPK
	tObjName
	tGeoCountry
	tGeoCountryCode
	tGeoCity
	tGeoContinent
	tASNOrg
	tASNNetwork
	nTexts
)

func (t *texts) geo(g *fastGeo) *Geo {
	t[tGeoCountry], t[tGeoCountryCode], t[tGeoCity], t[tGeoContinent] = g.country, g.countryCode, g.city, g.continent
	return &Geo{Lat: g.lat, Lon: g.lon}
}

func (t *texts) asn(a *fastASN) *ASN {
	t[tASNOrg], t[tASNNetwork] = a.org, a.network
	return &ASN{Number: a.number}
}

// fill copies the texts into one string and sets e's fields to their parts.
func (t *texts) fill(e *Event) {
	size := 0
	for _, s := range t {
		size += len(s)
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, s := range t {
		sb.Write(s)
	}
	all := sb.String()
	part := func(i int) string {
		s := all[:len(t[i])]
		all = all[len(t[i]):]
		return s
	}
	e.ID, e.ClientIP = part(tID), part(tClientIP)
	e.Action, e.App, e.Severity, e.Tenant = part(tAction), part(tApp), part(tSeverity), part(tTenant)
	e.User = User{ID: part(tUserID), Username: part(tUsername), Email: part(tEmail)}
	e.Object = Object{App: part(tObjApp), Model: part(tObjModel), PK: part(tObjPK), Name: part(tObjName)}
	country, code, city, continent := part(tGeoCountry), part(tGeoCountryCode), part(tGeoCity), part(tGeoContinent)
	if g := e.Geo; g != nil {
		g.Country, g.CountryCode, g.City, g.Continent = country, code, city, continent
	}
	org, network := part(tASNOrg), part(tASNNetwork)
	if a := e.ASN; a != nil {
		a.Org, a.Network = org, network
	}
}

// pick is pickOne for the fast decoder: the one value set, or false for two
// that disagree.
func pick(a, b, c []byte) ([]byte, bool) {
	v := a
	for _, s := range [2][]byte{b, c} {
		if len(s) == 0 {
			continue
		}
		if len(v) > 0 && !bytes.Equal(v, s) {
			return nil, false
		}
		v = s
	}
	return v, true
}

// parseTimeOK is parseTime without building the error, which the caller
// leaves to decodeReference.
func parseTimeOK(s []byte) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil || t.IsZero() {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// marshalContext writes the context members as json.Marshal writes a
// map[string]json.RawMessage: keys sorted, values compacted and
// HTML-escaped. Duplicate keys, where the map keeps the last, are left to
// decodeReference.
func (d *fastDecoder) marshalContext() ([]byte, bool) {
	ents := d.ctx[:d.nctx]
	if d.ctxMore != nil {
		ents = append(ents[:len(ents):len(ents)], d.ctxMore...)
	}
	size := 2
	for _, en := range ents {
		size += len(en.key) + 4 + en.val.end - en.val.start
	}
	if len(ents) > 1 {
		slices.SortFunc(ents, func(a, b ctxEntry) int { return bytes.Compare(a.key, b.key) })
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, en := range ents {
		if i > 0 {
			if bytes.Equal(en.key, ents[i-1].key) {
				return nil, false
			}
			out = append(out, ',')
		}
		out = append(out, '"')
		out = appendEscapedHTML(out, en.key)
		out = append(out, '"', ':')
		v := d.b[en.val.start:en.val.end]
		if en.val.dirty {
			out = appendCompact(out, v)
		} else {
			out = append(out, v...)
		}
	}
	return append(out, '}'), true
}

const hexDigits = "0123456789abcdef"

// appendEscapedHTML copies valid JSON string text, escaping what
// json.Marshal escapes for HTML: <, >, &, U+2028 and U+2029. It also
// writes keys, which have no escapes (the scanner left those to
// decodeReference), as Marshal writes a string: quotes and control
// characters cannot be in them.
func appendEscapedHTML(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<', '>', '&':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		case 0xE2:
			if i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xF])
				i += 2
				start = i + 1
			}
		}
	}
	return append(dst, s[start:]...)
}

// appendCompact writes a valid JSON value as json.Compact with HTML
// escaping does: without white space between tokens.
func appendCompact(dst, v []byte) []byte {
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case isSpace(c):
			i++
		case c == '"':
			// Find the closing quote; the scanner checked the escapes.
			j := i + 1
			for v[j] != '"' {
				if v[j] == '\\' {
					j++
				}
				j++
			}
			dst = appendEscapedHTML(dst, v[i:j+1])
			i = j + 1
		default:
			j := i + 1
			for j < len(v) && !isSpace(v[j]) && v[j] != '"' {
				j++
			}
			dst = append(dst, v[i:j]...)
			i = j
		}
	}
	return dst
}
