package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
)

// Bounds on one filter object. They keep a hostile dashboard from building
// a statement of megabytes; real filters are far smaller.
const (
	MaxFilterValues = 1000
	MaxSearchBytes  = 1024
	// MaxFilterBytes bounds the SQL a filter object turns into. ClickHouse
	// refuses statements over max_query_size (256 KiB by default); users
	// appear three times in a WHERE clause, and a time series repeats the
	// clause in its ranking subquery.
	MaxFilterBytes = 32 << 10
)

// Filters is the filter object of a query, of a live-tail path and of the
// tail endpoint's URL. One parser (Compile) serves all three, so a panel,
// its live tail and the CLI select the same events.
type Filters struct {
	Actions   StringList `json:"actions,omitempty"`
	Users     StringList `json:"users,omitempty"` // username, email or user id
	Apps      StringList `json:"apps,omitempty"`
	ClientIPs StringList `json:"clientIps,omitempty"` // addresses or CIDRs
	Countries StringList `json:"countries,omitempty"` // ISO 3166 alpha-2
	Search    string     `json:"search,omitempty"`
	EventID   string     `json:"eventId,omitempty"`
}

// StringList is a JSON array of strings that also accepts a lone string,
// which is what a single-valued template variable or a hand-written alert
// query tends to send.
type StringList []string

// UnmarshalJSON accepts ["a","b"], "a" and null.
func (l *StringList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*l = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	var v []string
	if err := json.Unmarshal(b, &v); err != nil {
		return errors.New("expected an array of strings")
	}
	*l = v
	return nil
}

// BadRequestError is a query the caller got wrong. It becomes a 400 for
// that query alone.
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return e.Msg }

func badf(format string, args ...any) error {
	return &BadRequestError{Msg: fmt.Sprintf(format, args...)}
}

// Compiled is a validated filter object, ready for the store and for
// matching events in memory.
type Compiled struct {
	actions, users, apps, countries []string
	prefixes                        []netip.Prefix
	search                          string
	eventID                         string
}

// Compile validates the filters: IPs and CIDRs parse, countries are
// two-letter codes, the event id is a UUID. Empty values are dropped; other
// values are kept exactly, since they are data, not syntax.
func (f Filters) Compile() (Compiled, error) {
	var c Compiled
	var err error
	if c.actions, err = cleanList("actions", f.Actions); err != nil {
		return c, err
	}
	if c.users, err = cleanList("users", f.Users); err != nil {
		return c, err
	}
	if c.apps, err = cleanList("apps", f.Apps); err != nil {
		return c, err
	}
	countries, err := cleanList("countries", f.Countries)
	if err != nil {
		return c, err
	}
	for i, cc := range countries {
		cc = strings.TrimSpace(cc)
		if len(cc) != 2 || !isLetter(cc[0]) || !isLetter(cc[1]) {
			return c, badf("filters.countries[%d]: %q is not a two-letter ISO country code", i, clip(cc))
		}
		c.countries = append(c.countries, strings.ToUpper(cc))
	}
	ips, err := cleanList("clientIps", f.ClientIPs)
	if err != nil {
		return c, err
	}
	for i, s := range ips {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return c, badf("filters.clientIps[%d]: %q is not an IP address or CIDR", i, clip(s))
		}
		c.prefixes = append(c.prefixes, p)
	}
	cost := len(f.Search) + 100*len(c.prefixes)
	for _, l := range [][]string{c.actions, c.apps, c.users, c.users, c.users, c.countries} {
		for _, v := range l {
			cost += len(v) + 4
		}
	}
	if cost > MaxFilterBytes {
		return c, badf("filters: too large (about %d bytes once written as SQL, at most %d); use fewer or shorter values", cost, MaxFilterBytes)
	}
	if len(f.Search) > MaxSearchBytes {
		return c, badf("filters.search: longer than %d bytes", MaxSearchBytes)
	}
	if err := textValue(f.Search); err != nil {
		return c, badf("filters.search: %v", err)
	}
	c.search = f.Search
	if id := strings.TrimSpace(f.EventID); id != "" {
		u, err := uuid.Parse(id)
		if err != nil {
			return c, badf("filters.eventId: %q is not an event id (a UUID)", clip(id))
		}
		c.eventID = u.String()
	}
	return c, nil
}

// AllValue in a filter list stands for "any value": it is what the shipped
// dashboards' template variables send for "All".
const AllValue = "*"

func cleanList(name string, vals []string) ([]string, error) {
	if len(vals) > MaxFilterValues {
		return nil, badf("filters.%s: %d values, at most %d allowed", name, len(vals), MaxFilterValues)
	}
	var out []string
	for i, v := range vals {
		if strings.TrimSpace(v) == "" {
			continue
		}
		if v == AllValue {
			// A dashboard variable set to "All" means no filter on this
			// field, whatever else the list holds.
			return nil, nil
		}
		if len(v) > event.MaxStringBytes {
			return nil, badf("filters.%s[%d]: longer than %d bytes", name, i, event.MaxStringBytes)
		}
		if err := textValue(v); err != nil {
			return nil, badf("filters.%s[%d]: %v", name, i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// textValue refuses what no stored text holds, so that a filter with it
// is a mistake said plainly rather than a query that finds nothing:
// ingest refuses NUL characters, and stores invalid UTF-8 as U+FFFD.
func textValue(v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return errors.New("contains a NUL character, which no event holds")
	}
	if !utf8.ValidString(v) {
		return errors.New("is not valid UTF-8")
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("zoned address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// EventID is the validated event id, or "".
func (c Compiled) EventID() string { return c.eventID }

// Store returns the store filter for a tenant ("" = every tenant) and a
// time range (zero = unbounded).
func (c Compiled) Store(tenant string, from, to time.Time) store.Filter {
	f := store.Filter{
		Tenant: normTenant(tenant), From: from, To: to,
		Actions: c.actions, Users: c.users, Apps: c.apps,
		ClientIPs: c.prefixes, Countries: c.countries, Search: c.search,
	}
	if c.eventID != "" {
		f.IDs = []string{c.eventID}
	}
	return f
}

// normTenant maps the access package's "*" (all tenants) to the store's "".
// "*" can never name a real tenant, so this widens nothing.
func normTenant(t string) string {
	if t == "*" {
		return ""
	}
	return t
}

// Matcher decides in memory what the store's WHERE clause decides in SQL,
// so that a live tail shows exactly what a refresh of the panel would.
type Matcher struct {
	tenant                          string
	actions, users, apps, countries map[string]struct{}
	ranges                          store.AddrRanges
	search                          string
	eventID                         string
}

// Matcher returns the in-memory form of the filters for a tenant.
func (c Compiled) Matcher(tenant string) *Matcher {
	m := &Matcher{
		tenant: normTenant(tenant), actions: set(c.actions), users: set(c.users), apps: set(c.apps),
		countries: set(c.countries), search: strings.ToLower(c.search), eventID: c.eventID,
	}
	for _, p := range c.prefixes {
		m.ranges.Add(p)
	}
	return m
}

// NewMatcher compiles filters into a Matcher for a tenant.
func NewMatcher(f Filters, tenant string) (*Matcher, error) {
	c, err := f.Compile()
	if err != nil {
		return nil, err
	}
	return c.Matcher(tenant), nil
}

func set(vals []string) map[string]struct{} {
	if len(vals) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(vals))
	for _, v := range vals {
		m[v] = struct{}{}
	}
	return m
}

func in(m map[string]struct{}, v string) bool {
	_, ok := m[v]
	return ok
}

// Match tells whether the event passes every filter.
func (m *Matcher) Match(e *event.Event) bool {
	if m.tenant != "" && e.Tenant != m.tenant {
		return false
	}
	if m.eventID != "" && !strings.EqualFold(e.ID, m.eventID) {
		return false
	}
	if m.actions != nil && !in(m.actions, e.Action) {
		return false
	}
	if m.users != nil && !in(m.users, e.User.Username) && !in(m.users, e.User.Email) && !in(m.users, e.User.ID) {
		return false
	}
	if m.apps != nil && !in(m.apps, e.App) {
		return false
	}
	if m.countries != nil && (e.Geo == nil || !in(m.countries, e.Geo.CountryCode)) {
		return false
	}
	if m.ranges != nil && !m.ranges.Contains(e.ClientIP) {
		return false
	}
	if m.search != "" && !strings.Contains(strings.ToLower(searchText(e)), m.search) {
		return false
	}
	return true
}

// searchText is the text free-text search looks through, built like the
// store's searchText expression so both find the same events.
func searchText(e *event.Event) string {
	var diff []byte
	if len(e.Diff) > 0 {
		diff, _ = json.Marshal(e.Diff)
	}
	var geoCity, geoCountry string
	if e.Geo != nil {
		geoCity, geoCountry = e.Geo.City, e.Geo.Country
	}
	return strings.Join([]string{e.Action, e.App, e.User.Username, e.User.Email, store.ColumnAddr(e.ClientIP).String(),
		e.Object.Model, e.Object.Name, geoCity, geoCountry, string(e.Context), string(diff)}, " ")
}

// FiltersFromURL reads filters from URL parameters, each repeatable:
// action, user, app, clientIp, country, and one search.
func FiltersFromURL(v url.Values) (Filters, error) {
	for k := range v {
		switch k {
		case "action", "user", "app", "clientIp", "country", "search", "eventId":
		default:
			return Filters{}, badf("unknown filter parameter %q (want action, user, app, clientIp, country, search or eventId)", clip(k))
		}
	}
	if len(v["search"]) > 1 || len(v["eventId"]) > 1 {
		return Filters{}, badf("search and eventId may be given once")
	}
	f := Filters{
		Actions: v["action"], Users: v["user"], Apps: v["app"], ClientIPs: v["clientIp"], Countries: v["country"],
		Search: v.Get("search"), EventID: v.Get("eventId"),
	}
	if _, err := f.Compile(); err != nil {
		return Filters{}, err
	}
	return f, nil
}
