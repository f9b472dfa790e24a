package event

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultRetention is authentik's default event_retention.
const DefaultRetention = 365 * 24 * time.Hour

// Retention decides when an event expires: per-action rules first, then the
// global default. authentik fixes expires at write time and so do we, so a
// rule change affects only new events.
type Retention struct {
	Default time.Duration
	Rules   map[string]time.Duration
}

// Expiry returns when an event with this action written at t expires,
// clamped to what the TTL column can hold.
func (r Retention) Expiry(action string, t time.Time) time.Time {
	d := r.Default
	if d <= 0 {
		d = DefaultRetention
	}
	if rd, ok := r.Rules[action]; ok {
		d = rd
	}
	exp := t.Add(d).UTC().Truncate(time.Second)
	if exp.After(MaxExpires) || exp.Before(t) { // Before: overflow
		return MaxExpires
	}
	return exp
}

// Apply sets Expires unless the event brought its own.
func (r Retention) Apply(e *Event) {
	if e.Expires.IsZero() {
		e.Expires = r.Expiry(e.Action, e.Time)
	}
}

// ParseDuration reads retention durations: "365d", "5y", "2w", "12h",
// "90m", and authentik's "days=30;hours=12" form.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if strings.Contains(s, "=") {
		return parseAuthentikDuration(s)
	}
	unit := s[len(s)-1]
	n, err := strconv.ParseFloat(s[:len(s)-1], 64)
	if err == nil && n > 0 {
		day := 24 * time.Hour
		mult := map[byte]time.Duration{'y': 365 * day, 'w': 7 * day, 'd': day, 'h': time.Hour, 'm': time.Minute, 's': time.Second}[unit]
		if mult > 0 {
			return time.Duration(n * float64(mult)), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%q is not a positive duration like 365d, 5y, 2w or 12h", s)
}

func parseAuthentikDuration(s string) (time.Duration, error) {
	units := map[string]time.Duration{
		"weeks": 7 * 24 * time.Hour, "days": 24 * time.Hour, "hours": time.Hour,
		"minutes": time.Minute, "seconds": time.Second,
	}
	var total time.Duration
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		u, known := units[strings.TrimSpace(k)]
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || !known || err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a duration like days=30;hours=12", s)
		}
		total += time.Duration(n * float64(u))
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", s)
	}
	return total, nil
}

// ParseRule reads "ACTION=DURATION", the form of --retention-rule.
func ParseRule(s string) (string, time.Duration, error) {
	action, dur, ok := strings.Cut(s, "=")
	if !ok || !validAction(action) {
		return "", 0, fmt.Errorf("retention rule %q: want ACTION=DURATION, e.g. login_failed=30d", s)
	}
	d, err := ParseDuration(dur)
	if err != nil {
		return "", 0, fmt.Errorf("retention rule %q: %w", s, err)
	}
	return action, d, nil
}
