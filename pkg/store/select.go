package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
)

// MaxLimit caps how many events one read returns.
const MaxLimit = 10000

// Filter selects events. Empty fields do not filter. Tenant "" means every
// tenant, which only unscoped callers may ask for.
type Filter struct {
	Tenant    string
	From, To  time.Time // To is exclusive; zero means unbounded
	Actions   []string
	Users     []string // usernames, emails or user ids
	Apps      []string
	ClientIPs []netip.Prefix
	Countries []string // ISO codes
	Search    string   // case-insensitive text anywhere in the event
	IDs       []string
}

// ErrBadFilter marks a filter value that cannot be used, such as a
// malformed id. Callers map it to a 4xx.
var ErrBadFilter = errors.New("bad filter")

// where renders the filter as a WHERE clause.
func (f Filter) where() (string, error) {
	var c []string
	if f.Tenant != "" {
		c = append(c, "tenant = "+quote(f.Tenant))
	}
	if !f.From.IsZero() {
		c = append(c, "time >= "+timeLit(f.From))
	}
	if !f.To.IsZero() {
		c = append(c, "time < "+timeLit(f.To))
	}
	if len(f.Actions) > 0 {
		c = append(c, "action IN "+quoteList(f.Actions))
	}
	if len(f.Users) > 0 {
		l := quoteList(f.Users)
		c = append(c, "(user_name IN "+l+" OR user_email IN "+l+" OR user_id IN "+l+")")
	}
	if len(f.Apps) > 0 {
		c = append(c, "app IN "+quoteList(f.Apps))
	}
	if len(f.Countries) > 0 {
		up := make([]string, len(f.Countries))
		for i, v := range f.Countries {
			up[i] = strings.ToUpper(v)
		}
		c = append(c, "geo_country_code IN "+quoteList(up))
	}
	if len(f.ClientIPs) > 0 {
		var ors []string
		for _, p := range f.ClientIPs {
			if !p.IsValid() {
				return "", fmt.Errorf("%w: invalid client IP prefix", ErrBadFilter)
			}
			lo, hi := prefixRange(p)
			if lo == hi {
				ors = append(ors, "client_ip = "+ipLit(lo))
			} else {
				ors = append(ors, "client_ip BETWEEN "+ipLit(lo)+" AND "+ipLit(hi))
			}
		}
		c = append(c, "("+strings.Join(ors, " OR ")+")")
	}
	if len(f.IDs) > 0 {
		lits := make([]string, len(f.IDs))
		for i, id := range f.IDs {
			lit, ok := uuidLit(id)
			if !ok {
				return "", fmt.Errorf("%w: event id %q is not a UUID", ErrBadFilter, truncate(id, 64))
			}
			lits[i] = lit
		}
		c = append(c, "id IN ("+strings.Join(lits, ", ")+")")
	}
	if f.Search != "" {
		c = append(c, "positionCaseInsensitiveUTF8("+searchText+", "+quote(f.Search)+") > 0")
	}
	if len(c) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(c, " AND "), nil
}

// searchText is what free-text search looks through.
const searchText = `concat(toString(action), ' ', toString(app), ' ', toString(user_name), ' ', user_email, ' ',
 IPv6NumToString(client_ip), ' ', toString(object_model), ' ', object_name, ' ', toString(geo_city), ' ',
 toString(geo_country), ' ', context, ' ', diff)`

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Events returns matching events, newest first, at most limit of them.
// Ties on time are broken by the id's text: ordering by the UUID column
// itself trips ClickHouse 26.5's top-k filter (a type mismatch in
// __topKFilter) for limits up to 1000.
func (s *Store) Events(ctx context.Context, f Filter, limit int) ([]event.Event, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	where, err := f.where()
	if err != nil {
		return nil, err
	}
	q := "SELECT " + eventColumnsSelect + " FROM " + s.l.table("events") + where +
		" ORDER BY time DESC, toString(id) DESC LIMIT " + intLit(int64(limit)) + s.readSettings()
	return s.queryEvents(ctx, q)
}

// Get returns one event by id, or (nil, nil) when the tenant has none.
// A UUIDv7 id carries its time, which narrows the read to a few granules.
func (s *Store) Get(ctx context.Context, tenant, id string) (*event.Event, error) {
	f := Filter{Tenant: tenant, IDs: []string{id}}
	if t, ok := event.TimeFromID(id); ok {
		f.From, f.To = t.Add(-time.Second), t.Add(time.Second)
	}
	evs, err := s.Events(ctx, f, 1)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 && !f.From.IsZero() {
		// The time in a v7 id is the sender's claim, not a promise.
		f.From, f.To = time.Time{}, time.Time{}
		if evs, err = s.Events(ctx, f, 1); err != nil {
			return nil, err
		}
	}
	if len(evs) == 0 {
		return nil, nil
	}
	return &evs[0], nil
}

func (s *Store) queryEvents(ctx context.Context, q string) ([]event.Event, error) {
	rows, err := s.eng.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: select events: %w", err)
	}
	defer rows.Close()
	var out []event.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("store: select events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: select events: %w", err)
	}
	return out, nil
}
