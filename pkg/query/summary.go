package query

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/auditlog/auditlog/pkg/event"
)

// Summary is the one readable line of an event that a logs panel shows:
// who did what to which object, from where, and the event's message.
//
//	alice login_failed from 81.2.69.142 (London, GB)
//	akadmin model_updated authentik_core.user alice (pk 42) from 5.4.1.2 (Berlin, DE)
func Summary(e *event.Event) string {
	var b strings.Builder
	msg, attempted := contextStrings(e.Context)
	who := UserLabel(e.User)
	if who == "" {
		who = attempted // authentik's login_failed names the attempted user only here
	}
	if who != "" {
		b.WriteString(who)
		b.WriteByte(' ')
	}
	b.WriteString(e.Action)
	if o := ObjectLabel(e.Object); o != "" {
		b.WriteByte(' ')
		b.WriteString(o)
	}
	if e.ClientIP != "" {
		b.WriteString(" from ")
		b.WriteString(e.ClientIP)
		if e.Geo != nil {
			var where []string
			if e.Geo.City != "" {
				where = append(where, e.Geo.City)
			}
			if e.Geo.CountryCode != "" {
				where = append(where, e.Geo.CountryCode)
			}
			if len(where) > 0 {
				b.WriteString(" (" + strings.Join(where, ", ") + ")")
			}
		}
	}
	if msg != "" {
		b.WriteString(": ")
		b.WriteString(shorten(msg, 200))
	}
	return b.String()
}

// contextStrings returns context.message and context.username when they are
// strings. The byte checks spare a JSON decode for most events.
func contextStrings(ctx json.RawMessage) (message, username string) {
	if len(ctx) == 0 || (!bytes.Contains(ctx, []byte(`"message"`)) && !bytes.Contains(ctx, []byte(`"username"`))) {
		return "", ""
	}
	var c struct {
		Message  any `json:"message"`
		Username any `json:"username"`
	}
	if json.Unmarshal(ctx, &c) != nil {
		return "", ""
	}
	message, _ = c.Message.(string)
	username, _ = c.Username.(string)
	return strings.Join(strings.Fields(message), " "), username
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// UserLabel names a user by username, else email, else id.
func UserLabel(u event.User) string {
	switch {
	case u.Username != "":
		return u.Username
	case u.Email != "":
		return u.Email
	}
	return u.ID
}

// ObjectLabel names an object as "app.model name (pk 42)".
func ObjectLabel(o event.Object) string {
	kind := o.Model
	if o.App != "" && kind != "" {
		kind = o.App + "." + kind
	} else if kind == "" {
		kind = o.App
	}
	var parts []string
	if kind != "" {
		parts = append(parts, kind)
	}
	switch {
	case o.Name != "" && o.PK != "" && o.Name != o.PK:
		parts = append(parts, o.Name+" (pk "+o.PK+")")
	case o.Name != "":
		parts = append(parts, o.Name)
	case o.PK != "":
		parts = append(parts, "pk "+o.PK)
	}
	return strings.Join(parts, " ")
}

// Level maps a severity to the level names Grafana's logs panel colours.
// Grafana treats notice as info and alert as critical itself; saying so
// here keeps the level column to the names it documents.
func Level(severity string) string {
	switch severity {
	case "critical", "alert", "emergency":
		return "critical"
	case "error":
		return "error"
	case "warning":
		return "warning"
	case "notice", "info":
		return "info"
	case "debug":
		return "debug"
	}
	return "unknown"
}

// renderValue shows a JSON value in one cell: strings without quotes,
// null and absent as "", anything else as compact JSON.
func renderValue(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
