package event

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

var (
	// MinTime and MaxTime bound event times: DateTime64(3) covers more, but
	// anything outside is a clock or parsing bug that would poison partitions.
	MinTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	// MaxExpires is the last second ClickHouse's DateTime holds, which the
	// TTL column uses.
	MaxExpires = time.Date(2106, 2, 7, 6, 28, 15, 0, time.UTC)
)

// Normalize fills what a sender may leave out: time, id, tenant, severity.
// Expires is left to retention, which knows the rules.
func Normalize(e *Event, now time.Time) {
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	if e.ID == "" {
		e.ID = NewID(e.Time)
	} else if !canonicalUUID(e.ID) {
		// Only then, since u.String() costs an allocation per event.
		if u, err := uuid.Parse(e.ID); err == nil {
			e.ID = u.String()
		}
	}
	if e.Tenant == "" {
		e.Tenant = DefaultTenant
	}
	if e.Severity == "" {
		e.Severity = DefaultSeverity(e.Action)
	}
	if ip, err := netip.ParseAddr(e.ClientIP); err == nil {
		// AppendTo is String without the allocation, which most
		// addresses, already written the canonical way, do not need.
		var buf [48]byte
		if s := ip.Unmap().AppendTo(buf[:0]); string(s) != e.ClientIP {
			e.ClientIP = string(s)
		}
	}
	if !e.Expires.IsZero() {
		e.Expires = e.Expires.UTC().Truncate(time.Second)
	}
}

// NewID returns a UUIDv7 whose timestamp is the event's time, so that a
// lookup by id can be narrowed to the partitions around that time.
func NewID(t time.Time) string {
	var u uuid.UUID
	_, _ = rand.Read(u[:])
	ms := uint64(t.UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(u[0:6], ts[2:8])
	u[6] = (u[6] & 0x0f) | 0x70
	u[8] = (u[8] & 0x3f) | 0x80
	return u.String()
}

// TimeFromID returns the time a UUIDv7 carries, or false for other versions.
func TimeFromID(id string) (time.Time, bool) {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}, false
	}
	var ts [8]byte
	copy(ts[2:8], u[0:6])
	return time.UnixMilli(int64(binary.BigEndian.Uint64(ts[:]))).UTC(), true
}

// Validate checks a normalized event and returns the first problem, naming
// its field.
func Validate(e *Event) error {
	if e.Action == "" {
		return fieldErr("action", "required")
	}
	if !validAction(e.Action) {
		return fieldErr("action", "%s must match [a-z0-9_.:-]{1,64}", quoteField(e.Action))
	}
	if _, err := uuid.Parse(e.ID); err != nil {
		return fieldErr("id", "%s is not a UUID", quoteField(e.ID))
	}
	if e.Time.Before(MinTime) || !e.Time.Before(MaxTime) {
		return fieldErr("time", "%s is outside 1970-01-01 … 2200-01-01", e.Time.Format(time.RFC3339))
	}
	if !e.Expires.IsZero() && (e.Expires.Before(MinTime) || e.Expires.After(MaxExpires)) {
		return fieldErr("expires", "%s is outside 1970-01-01 … 2106-02-07", e.Expires.Format(time.RFC3339))
	}
	if err := ValidateTenant(e.Tenant); err != nil {
		return err
	}
	if !slices.Contains(Severities, e.Severity) {
		return fieldErr("severity", "%s is not one of %s", quoteField(e.Severity), strings.Join(Severities, ", "))
	}
	if e.ClientIP != "" {
		if ip, err := netip.ParseAddr(e.ClientIP); err != nil {
			return fieldErr("clientIp", "%s is not an IPv4 or IPv6 address", quoteField(e.ClientIP))
		} else if ip.Zone() != "" {
			// The IPv6 column has no zone, and ClickHouse refuses the
			// whole insert over one such value: every event of the batch,
			// other senders' too, would fail with it.
			return fieldErr("clientIp", "%s is not an IPv4 or IPv6 address: it has a zone (%%%s); send the address alone", quoteField(e.ClientIP), ip.Zone())
		}
	}
	// An array, not an appended slice: this runs for every event, and the
	// geo and asn entries stay "" (always valid) when there is none.
	strs := [...]struct{ name, v string }{
		{"app", e.App},
		{"user.id", e.User.ID}, {"user.username", e.User.Username}, {"user.email", e.User.Email},
		{"object.app", e.Object.App}, {"object.model", e.Object.Model},
		{"object.pk", e.Object.PK}, {"object.name", e.Object.Name},
		{"geo.country", ""}, {"geo.countryCode", ""}, {"geo.city", ""}, {"geo.continent", ""},
		{"asn.org", ""}, {"asn.network", ""},
	}
	// A sender may bring its own location (authentik's context.geo, or a
	// re-sent stored event); it is held to the same limits.
	if g := e.Geo; g != nil {
		strs[8].v, strs[9].v, strs[10].v, strs[11].v = g.Country, g.CountryCode, g.City, g.Continent
		if math.IsNaN(g.Lat) || g.Lat < -90 || g.Lat > 90 {
			return fieldErr("geo.lat", "%v is not a latitude (-90 … 90)", g.Lat)
		}
		if math.IsNaN(g.Lon) || g.Lon < -180 || g.Lon > 180 {
			return fieldErr("geo.lon", "%v is not a longitude (-180 … 180)", g.Lon)
		}
	}
	if a := e.ASN; a != nil {
		strs[12].v, strs[13].v = a.Org, a.Network
	}
	for _, f := range strs {
		if len(f.v) > MaxStringBytes {
			return fieldErr(f.name, "longer than %d bytes", MaxStringBytes)
		}
		if strings.IndexByte(f.v, 0) >= 0 {
			return fieldErr(f.name, "contains a NUL character")
		}
	}
	if len(e.Context) > MaxContextBytes {
		return fieldErr("context", "larger than %d bytes", MaxContextBytes)
	}
	if bytes.Contains(e.Context, []byte(`\u0000`)) {
		return fieldErr("context", "contains a NUL character")
	}
	// Decode checks the context as sent; brand and impersonation facts
	// are merged into it afterwards, so the depth is checked again here.
	if err := checkNesting(e.Context); err != nil {
		return fieldErr("context", "%v", err)
	}
	if len(e.Diff) > MaxDiffFields {
		return fieldErr("diff", "more than %d fields", MaxDiffFields)
	}
	return validateDiff(e.Diff)
}

// validateDiff holds a diff to the context's limits: it is free-form JSON
// too, stored and shown beside it, and without them one event could carry
// megabytes or thousands of levels into every later diff query.
func validateDiff(d map[string]Change) error {
	size := 0
	for name, ch := range d {
		field := "diff." + truncate(name, 64)
		if strings.IndexByte(name, 0) >= 0 {
			return fieldErr("diff", "field name %s contains a NUL character", quoteField(name))
		}
		size += len(name)
		for _, vals := range [...][]json.RawMessage{{ch.Old, ch.New}, ch.Add, ch.Remove} {
			for _, v := range vals {
				size += len(v)
				if bytes.Contains(v, []byte(`\u0000`)) {
					return fieldErr(field, "contains a NUL character")
				}
				if err := checkNesting(v); err != nil {
					return fieldErr(field, "%v", err)
				}
			}
		}
		if size > MaxContextBytes {
			return fieldErr("diff", "larger than %d bytes", MaxContextBytes)
		}
	}
	return nil
}

// ValidateTenant checks a tenant name, which also appears in tokens and
// datasource settings.
func ValidateTenant(t string) error {
	if !validTenant(t) {
		return fieldErr("tenant", "%s must match [A-Za-z0-9_.-]{1,64}", quoteField(t))
	}
	return nil
}

// validAction is the rule [a-z0-9_.:-]{1,64}, which action names share with
// retention rules. By hand because a regexp costs more than the rest of
// Validate.
func validAction(s string) bool {
	return validName(s, func(c byte) bool {
		return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-'
	})
}

// validTenant is the rule [A-Za-z0-9_.-]{1,64}.
func validTenant(s string) bool {
	return validName(s, func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
	})
}

// validName tells whether s has 1 to 64 bytes, each of them allowed.
func validName(s string, allowed func(byte) bool) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if !allowed(s[i]) {
			return false
		}
	}
	return true
}

// canonicalUUID tells whether s is a UUID as uuid.UUID.String writes it,
// so that parsing and writing it again would give s.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		switch c := s[i]; i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
