package store

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/auditlog/auditlog/pkg/event"
)

// DefaultHotBytes is how much memory the hot tier of an embedded store
// may hold: about 50,000 authentik-sized events, a day of a busy
// deployment's newest events.
const DefaultHotBytes = 64 << 20

// hotTier keeps the newest stored events in memory, as the engine would
// return them, so that the reads a dashboard repeats every few seconds
// (the newest page, a user's latest events, an event just linked from an
// alert) do not pay the engine's fixed cost per query and per column,
// which is several milliseconds even when one granule is read.
//
// It is only used where this process is the table's one writer: the
// embedded engine, whose data path is locked to one process, and a store
// owns its writes (readers share their store's tier). Its promise is
// coverage: every
// stored event with a time after floor is held. Inserts add what they
// stored; memory pressure drops the oldest events and raises floor. An
// answer comes from memory only when coverage makes it exact, otherwise
// the engine answers as before.
type hotTier struct {
	mu    sync.RWMutex
	max   int
	size  int
	evs   []*hotEvent // ascending by (time, id text), as reads order them reversed
	byKey map[string]*hotEvent
	floor time.Time
}

type hotEvent struct {
	// e is the event as the engine returns it (see storedForm), but for
	// its context, which is held as stored: search reads it so, and
	// reads of whole events restore it (see lift.go).
	e      event.Event
	lifted liftedMembers
	key    string // tenant/id
	size   int
}

func newHotTier(maxBytes int, floor time.Time) *hotTier {
	return &hotTier{max: maxBytes, byKey: map[string]*hotEvent{}, floor: floor}
}

func hotLess(a, b *hotEvent) int {
	if c := a.e.Time.Compare(b.e.Time); c != 0 {
		return c
	}
	return strings.Compare(a.e.ID, b.e.ID)
}

// newHotEvent is e, just stored under the canonical id and key, as the
// tier holds it.
func newHotEvent(e *event.Event, id, key string, w written) *hotEvent {
	he := &hotEvent{e: storedForm(e, id, w), lifted: w.lifted, key: key}
	he.size = hotSize(&he.e)
	return he
}

// add takes events just stored.
func (h *hotTier) add(stored []*hotEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	batch := stored[:0]
	for _, he := range stored {
		if !he.e.Time.After(h.floor) {
			continue // below coverage: only the engine has its neighbours
		}
		batch = append(batch, he)
	}
	if len(batch) == 0 {
		return
	}
	slices.SortFunc(batch, hotLess)
	if n := len(h.evs); n == 0 || hotLess(h.evs[n-1], batch[0]) < 0 {
		h.evs = append(h.evs, batch...)
	} else {
		h.evs = mergeHot(h.evs, batch)
	}
	for _, he := range batch {
		h.byKey[he.key] = he
		h.size += he.size
	}
	h.evict()
}

func mergeHot(a, b []*hotEvent) []*hotEvent {
	out := make([]*hotEvent, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if hotLess(a[i], b[j]) <= 0 {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// evict drops the oldest events until the tier fits, raising floor past
// them; events sharing the last dropped time go too, as coverage is of
// times strictly after floor.
func (h *hotTier) evict() {
	n := 0
	for n < len(h.evs) && (h.size > h.max || !h.evs[n].e.Time.After(h.floor)) {
		he := h.evs[n]
		if he.e.Time.After(h.floor) {
			h.floor = he.e.Time
		}
		h.size -= he.size
		delete(h.byKey, he.key)
		h.evs[n] = nil
		n++
	}
	if n > 0 {
		h.evs = slices.Delete(h.evs, 0, n)
	}
}

// lose is called when an insert failed after the engine may have stored
// part of it: those events are not held, so coverage must end above them.
func (h *hotTier) lose(batch []event.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range batch {
		if t := batch[i].Time.UTC().Truncate(time.Millisecond); t.After(h.floor) {
			h.floor = t
		}
	}
	h.evict()
}

// hotSize estimates an event's memory: its strings and JSON plus the
// struct and index overhead.
func hotSize(e *event.Event) int {
	n := 400 + len(e.ID) + len(e.Tenant) + len(e.Action) + len(e.App) + len(e.Severity) +
		len(e.User.ID) + len(e.User.Username) + len(e.User.Email) + len(e.ClientIP) +
		len(e.Object.App) + len(e.Object.Model) + len(e.Object.PK) + len(e.Object.Name) + len(e.Context)
	for k, c := range e.Diff {
		n += 64 + len(k) + len(c.Old) + len(c.New)
	}
	if e.Geo != nil {
		n += 64 + len(e.Geo.Country) + len(e.Geo.CountryCode) + len(e.Geo.City) + len(e.Geo.Continent)
	}
	if e.ASN != nil {
		n += 32 + len(e.ASN.Org) + len(e.ASN.Network)
	}
	return n
}

// newest answers Events from memory when it can answer exactly: it found
// limit events, or the whole range lies after floor. Expired events are
// left out, as retention removes them.
func (h *hotTier) newest(f Filter, limit int, now time.Time) ([]event.Event, bool) {
	m, ok := newHotMatcher(f)
	if !ok {
		return nil, false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []event.Event
	for i := len(h.evs) - 1; i >= 0; i-- {
		he := h.evs[i]
		e := &he.e
		if !f.To.IsZero() && !e.Time.Before(f.To) {
			continue
		}
		if !f.From.IsZero() && e.Time.Before(f.From) {
			return out, true
		}
		if !e.Expires.After(now) || !m.match(e) {
			continue
		}
		out = append(out, he.clone())
		if len(out) == limit {
			return out, true
		}
	}
	// Every held event was seen: exact if nothing of the range lies at or
	// below floor.
	return out, !f.From.IsZero() && f.From.After(h.floor)
}

// get finds a held event by tenant and id.
func (h *hotTier) get(tenant, id string, now time.Time) (*event.Event, bool) {
	if tenant == "" {
		return nil, false
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	he, ok := h.byKey[tenant+"/"+u.String()]
	if !ok || !he.e.Expires.After(now) {
		return nil, false
	}
	e := he.clone()
	return &e, true
}

// clone is the event as a read returns it. It copies what a caller could
// change in place; the raw JSON and the diff map are only ever read.
func (he *hotEvent) clone() event.Event {
	e := &he.e
	c := *e
	c.Context = restoreContext(e.Context, he.lifted, e)
	if e.Geo != nil {
		g := *e.Geo
		c.Geo = &g
	}
	if e.ASN != nil {
		a := *e.ASN
		c.ASN = &a
	}
	return c
}

// storedForm is the event as the engine returns it after Insert: times
// cut to the column's precision, the id as the engine prints a UUID, the
// IP as the IPv6 column gives it back, invalid UTF-8 replaced, and the
// diff as its JSON reads back. w is what the insert's row said of the
// event: text went in as it was unless w.replaced, and the diff as w.diff.
// TestHotTierMatchesEngine checks it against the engine.
func storedForm(e *event.Event, id string, w written) event.Event {
	s := *e
	s.ID = id
	s.Time = e.Time.UTC().Truncate(time.Millisecond)
	s.ReceivedAt = e.ReceivedAt.UTC().Truncate(time.Millisecond)
	s.Expires = time.Unix(int64(dateTime32(e.Expires)), 0).UTC()
	s.ClientIP = ""
	if a, err := netip.ParseAddr(e.ClientIP); err == nil {
		if a16 := netip.AddrFrom16(a.As16()); !a16.IsUnspecified() {
			s.ClientIP = a16.Unmap().String()
		}
	}
	text := func(v string) string { return v }
	if w.replaced {
		text = validUTF8
	}
	for _, p := range []*string{&s.Tenant, &s.Action, &s.App, &s.Severity, &s.User.ID, &s.User.Username, &s.User.Email,
		&s.Object.App, &s.Object.Model, &s.Object.PK, &s.Object.Name} {
		*p = text(*p)
	}
	if w.lifted != 0 {
		s.Context = w.context
	}
	if len(s.Context) == 0 {
		s.Context = nil
	} else if w.replaced {
		s.Context = json.RawMessage(validUTF8(bytesString(s.Context)))
	}
	s.Diff = nil
	if len(w.diff) > 0 {
		_ = json.Unmarshal([]byte(text(bytesString(w.diff))), &s.Diff)
	}
	s.Geo, s.ASN = nil, nil
	if e.Geo != nil && *e.Geo != (event.Geo{}) {
		g := *e.Geo
		g.Country, g.CountryCode, g.City, g.Continent = text(g.Country), text(g.CountryCode), text(g.City), text(g.Continent)
		s.Geo = &g
	}
	if e.ASN != nil && *e.ASN != (event.ASN{}) {
		a := *e.ASN
		a.Org, a.Network = text(a.Org), text(a.Network)
		s.ASN = &a
	}
	return s
}

// validUTF8 replaces each byte of invalid UTF-8 with U+FFFD, as
// appendBinaryStr does on the way in.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// hotMatcher is a Filter's WHERE clause in memory.
type hotMatcher struct {
	f         Filter
	users     map[string]struct{}
	countries map[string]struct{}
	ids       map[string]struct{}
	ranges    AddrRanges
	search    string
	phrase    bool     // the search has spaces
	pieces    []string // its space-free pieces, as searchCond splits it
}

// newHotMatcher compiles f, or says no when memory cannot answer f
// exactly as the engine would: a search term outside ASCII (the engine's
// Unicode case folding is its own) or a malformed filter (the engine
// path reports those).
func newHotMatcher(f Filter) (*hotMatcher, bool) {
	m := &hotMatcher{f: f}
	if f.Search != "" {
		for i := 0; i < len(f.Search); i++ {
			if f.Search[i] >= utf8.RuneSelf || f.Search[i] == 0 {
				return nil, false
			}
		}
		m.search = strings.ToLower(f.Search)
		if m.phrase = strings.Contains(m.search, " "); m.phrase {
			for _, p := range strings.Split(m.search, " ") {
				if p != "" {
					m.pieces = append(m.pieces, p)
				}
			}
		}
	}
	if len(f.Users) > 0 {
		m.users = make(map[string]struct{}, len(f.Users))
		for _, u := range f.Users {
			m.users[u] = struct{}{}
		}
	}
	if len(f.Countries) > 0 {
		m.countries = make(map[string]struct{}, len(f.Countries))
		for _, c := range f.Countries {
			m.countries[strings.ToUpper(c)] = struct{}{}
		}
	}
	if len(f.IDs) > 0 {
		m.ids = make(map[string]struct{}, len(f.IDs))
		for _, id := range f.IDs {
			u, err := uuid.Parse(id)
			if err != nil {
				return nil, false
			}
			m.ids[u.String()] = struct{}{}
		}
	}
	for _, p := range f.ClientIPs {
		if !p.IsValid() {
			return nil, false
		}
		m.ranges.Add(p)
	}
	return m, true
}

func (m *hotMatcher) match(e *event.Event) bool {
	f := &m.f
	if f.Tenant != "" && e.Tenant != f.Tenant {
		return false
	}
	if len(f.Actions) > 0 && !slices.Contains(f.Actions, e.Action) {
		return false
	}
	if m.users != nil && !has(m.users, e.User.Username) && !has(m.users, e.User.Email) && !has(m.users, e.User.ID) {
		return false
	}
	if len(f.Apps) > 0 && !slices.Contains(f.Apps, e.App) {
		return false
	}
	if m.countries != nil && (e.Geo == nil || !has(m.countries, e.Geo.CountryCode)) {
		return false
	}
	if m.ids != nil && !has(m.ids, e.ID) {
		return false
	}
	if m.ranges != nil && !m.ranges.Contains(e.ClientIP) {
		return false
	}
	return m.search == "" || m.searchMatch(e)
}

func has(m map[string]struct{}, v string) bool {
	_, ok := m[v]
	return ok
}

// ColumnAddr is an address as the IPv6 column holds it: IPv4 mapped, and
// :: for none.
func ColumnAddr(ip string) netip.Addr {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.IPv6Unspecified()
	}
	return netip.AddrFrom16(a.As16())
}

// AddrRanges are the stored-address ranges of CIDR filters, matched in
// memory as the engine matches them (see PrefixRange).
type AddrRanges [][2]netip.Addr

// Add adds the range of p.
func (rs *AddrRanges) Add(p netip.Prefix) {
	lo, hi := PrefixRange(p)
	*rs = append(*rs, [2]netip.Addr{lo, hi})
}

// Contains tells whether ip, as the column holds it, is in one of rs.
func (rs AddrRanges) Contains(ip string) bool {
	a := ColumnAddr(ip)
	for _, r := range rs {
		if a.Compare(r[0]) >= 0 && a.Compare(r[1]) <= 0 {
			return true
		}
	}
	return false
}

// searchMatch mirrors searchCond: a term without a space is looked for
// in each of searchColumns, and a phrase must be in their joined text,
// which (as in SQL) is only built for events holding each of its pieces.
// Scanning the tier for a rare term touches every event, so the columns
// are read in place, without copies.
func (m *hotMatcher) searchMatch(e *event.Event) bool {
	if !m.phrase {
		return anyColumnFold(e, m.search)
	}
	for _, p := range m.pieces {
		if !anyColumnFold(e, p) {
			return false
		}
	}
	g := placeText(e)
	joined := strings.Join([]string{e.Action, e.App, e.User.Username, e.User.Email, ColumnAddr(e.ClientIP).String(),
		e.Object.Model, e.Object.Name, g[0], g[1], g[2], g[3], asnText(e), string(e.Context), diffText(e)}, " ")
	return containsFold(joined, m.search)
}

// placeText is the geo and asn text columns as search reads them, in the
// order of searchColumns: city, country, AS org and AS network.
func placeText(e *event.Event) (t [4]string) {
	if g := e.Geo; g != nil {
		t[0], t[1] = g.City, g.Country
	}
	if a := e.ASN; a != nil {
		t[2], t[3] = a.Org, a.Network
	}
	return t
}

// asnText is the AS number as search reads it (asnSearchColumn).
func asnText(e *event.Event) string {
	if e.ASN == nil || e.ASN.Number == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(e.ASN.Number), 10)
}

// anyColumnFold tells whether one of searchColumns holds needle.
func anyColumnFold(e *event.Event, needle string) bool {
	g := placeText(e)
	for _, c := range [...]string{e.Action, e.App, e.User.Username, e.User.Email, e.Object.Model, e.Object.Name,
		g[0], g[1], g[2], g[3]} {
		if containsFold(c, needle) {
			return true
		}
	}
	if e.ASN != nil && e.ASN.Number != 0 && strings.Trim(needle, "0123456789") == "" && strings.Contains(asnText(e), needle) {
		return true
	}
	if containsFold(e.Context, needle) {
		return true
	}
	if len(e.Diff) > 0 && containsFold(diffText(e), needle) {
		return true
	}
	return containsFold(ColumnAddr(e.ClientIP).String(), needle)
}

// diffText is the diff column's text.
func diffText(e *event.Event) string {
	if len(e.Diff) == 0 {
		return ""
	}
	b, _ := json.Marshal(e.Diff)
	return string(b)
}

// containsFold reports whether lowerNeedle (ASCII, lower case) occurs in
// s with ASCII letters of s folded to lower case.
func containsFold[T ~string | ~[]byte](s T, lowerNeedle string) bool {
	n := len(lowerNeedle)
	if n == 0 {
		return true
	}
	first := lowerNeedle[0]
	upper := first
	if 'a' <= first && first <= 'z' {
		upper = first - 'a' + 'A'
	}
	for i := 0; i+n <= len(s); i++ {
		if c := s[i]; c != first && c != upper {
			continue
		}
		j := 1
		for j < n && lowerASCII(s[i+j]) == lowerNeedle[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
