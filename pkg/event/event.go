// Package event holds the audit event model, its two JSON forms (native and
// authentik's API shape) and validation. It does no I/O.
package event

import (
	"encoding/json"
	"time"
)

// DefaultTenant is the tenant of events that name none.
const DefaultTenant = "default"

// Event is one audit event. The JSON tags are the native wire form.
type Event struct {
	ID       string            `json:"id"`
	Time     time.Time         `json:"time"`
	Action   string            `json:"action"`
	App      string            `json:"app,omitempty"`
	User     User              `json:"user"`
	ClientIP string            `json:"clientIp,omitempty"`
	Tenant   string            `json:"tenant"`
	Severity string            `json:"severity,omitempty"`
	Object   Object            `json:"object"`
	Context  json.RawMessage   `json:"context,omitempty"`
	Diff     map[string]Change `json:"diff,omitempty"`
	Expires  time.Time         `json:"expires"`

	// Set by ingest, never taken from a client.
	ReceivedAt time.Time `json:"receivedAt"`
	Geo        *Geo      `json:"geo,omitempty"`
	ASN        *ASN      `json:"asn,omitempty"`
}

// User is who did it. ID is a string because authentik's pks are integers
// while other systems use UUIDs or names.
type User struct {
	ID       string `json:"id,omitempty"`
	Username string `json:"username,omitempty"`
	Email    string `json:"email,omitempty"`
}

// Object is what the event happened to (authentik's context.model).
type Object struct {
	App   string `json:"app,omitempty"`
	Model string `json:"model,omitempty"`
	PK    string `json:"pk,omitempty"`
	Name  string `json:"name,omitempty"`
}

// Change is one field's change. Old/New hold any JSON value; Add, Remove and
// Clear carry authentik's many-to-many shapes so they survive normalisation.
type Change struct {
	Old    json.RawMessage   `json:"old,omitempty"`
	New    json.RawMessage   `json:"new,omitempty"`
	Add    []json.RawMessage `json:"add,omitempty"`
	Remove []json.RawMessage `json:"remove,omitempty"`
	Clear  bool              `json:"clear,omitempty"`
}

// Geo is where the client IP is, from GeoIP or from the event itself.
type Geo struct {
	Country     string  `json:"country,omitempty"`
	CountryCode string  `json:"countryCode,omitempty"`
	City        string  `json:"city,omitempty"`
	Continent   string  `json:"continent,omitempty"`
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
}

// ASN is the autonomous system of the client IP.
type ASN struct {
	Number  uint32 `json:"number"`
	Org     string `json:"org,omitempty"`
	Network string `json:"network,omitempty"`
}

// Severities, lowest first. The names follow syslog, which Grafana's log
// level detection understands.
var Severities = []string{"debug", "info", "notice", "warning", "error", "critical", "alert"}

// DefaultSeverity gives the severity an event gets when it brings none, so
// that a failed login stands out in a logs panel without the sender's help.
func DefaultSeverity(action string) string {
	switch action {
	case "system_exception", "configuration_error", "property_mapping_exception",
		"system_task_exception", "policy_exception":
		return "error"
	case "login_failed", "suspicious_request", "configuration_warning":
		return "warning"
	case "model_deleted", "impersonation_started", "impersonation_ended",
		"secret_view", "secret_rotate", "password_set":
		return "notice"
	}
	return "info"
}
