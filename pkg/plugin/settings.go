package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// Engines a datasource can use.
const (
	EngineEmbedded   = "embedded"
	EngineClickHouse = "clickhouse"
)

// Settings are a datasource's jsonData (flat keys, as the config editor
// writes them) plus its decrypted secrets.
type Settings struct {
	Engine             string          `json:"engine"`
	DataPath           string          `json:"dataPath"`
	ChdbLibPath        string          `json:"chdbLibPath"`
	ClickHouseAddr     string          `json:"clickhouseAddr"`
	ClickHouseDatabase string          `json:"clickhouseDatabase"`
	ClickHouseUser     string          `json:"clickhouseUser"`
	ClickHouseCluster  string          `json:"clickhouseCluster"`
	ClickHouseTLS      bool            `json:"clickhouseTls"`
	GeoIPCityPath      string          `json:"geoipCityPath"`
	GeoIPASNPath       string          `json:"geoipAsnPath"`
	RetentionDays      float64         `json:"retentionDays"`
	RetentionRules     []RetentionRule `json:"retentionRules"`
	LogLevel           string          `json:"logLevel"`
	Tenant             string          `json:"tenant"`
	// QueryTimeout (seconds) and QueryMaxMemory (bytes) limit every read
	// of this datasource's queries (ClickHouse max_execution_time and
	// max_memory_usage); 0 keeps the defaults (30 s, the engine's own).
	QueryTimeout   float64 `json:"queryTimeout"`
	QueryMaxMemory int64   `json:"queryMaxMemory"`

	// From secureJsonData; never logged or echoed.
	ClickHousePassword string `json:"-"`
	IngestToken        string `json:"-"`
}

// RetentionRule is one per-action retention override.
type RetentionRule struct {
	Action string  `json:"action"`
	Days   float64 `json:"days"`
}

var logLevels = []string{"error", "warn", "info", "debug", "trace"}

// ParseSettings reads and checks a datasource's settings. Every problem is
// reported in one error, so the health check shows them all at once.
func ParseSettings(s backend.DataSourceInstanceSettings) (Settings, error) {
	var st Settings
	if len(s.JSONData) > 0 && string(s.JSONData) != "null" {
		if err := json.Unmarshal(s.JSONData, &st); err != nil {
			return st, fmt.Errorf("settings: jsonData is not valid: %v", err)
		}
	}
	st.ClickHousePassword = s.DecryptedSecureJSONData["clickhousePassword"]
	st.IngestToken = s.DecryptedSecureJSONData["ingestToken"]

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if st.Engine == "" {
		st.Engine = EngineEmbedded
	}
	switch st.Engine {
	case EngineEmbedded:
		if st.DataPath == "" {
			st.DataPath = defaultDataPath()
		}
		if !filepath.IsAbs(st.DataPath) {
			bad("dataPath %q must be an absolute path", st.DataPath)
		}
	case EngineClickHouse:
		if st.ClickHouseAddr == "" {
			bad("clickhouseAddr is required for the clickhouse engine (host:9000)")
		}
	default:
		bad("engine must be %q or %q, got %q", EngineEmbedded, EngineClickHouse, st.Engine)
	}
	if st.RetentionDays < 0 || st.RetentionDays > 36500 {
		bad("retentionDays must be between 1 and 36500, got %v", st.RetentionDays)
	}
	for i, r := range st.RetentionRules {
		if _, _, err := event.ParseRule(fmt.Sprintf("%s=%vd", r.Action, r.Days)); err != nil || r.Days <= 0 {
			bad("retentionRules[%d]: want an action name and days > 0, got %q and %v", i, r.Action, r.Days)
		}
	}
	if st.QueryTimeout < 0 || st.QueryTimeout > 24*3600 {
		bad("queryTimeout must be between 1 and 86400 seconds (0 for the default of 30), got %v", st.QueryTimeout)
	} else if st.QueryTimeout > 0 && st.QueryTimeout < 1 {
		bad("queryTimeout must be at least 1 second, got %v", st.QueryTimeout)
	}
	if st.QueryMaxMemory < 0 {
		bad("queryMaxMemory must be a number of bytes, 0 for the engine's default, got %d", st.QueryMaxMemory)
	}
	if st.LogLevel == "" {
		st.LogLevel = "info"
	}
	if !contains(logLevels, st.LogLevel) {
		bad("logLevel must be one of %s, got %q", strings.Join(logLevels, ", "), st.LogLevel)
	}
	if st.Tenant != "" {
		e := event.Event{Tenant: st.Tenant}
		if err := event.ValidateTenant(e.Tenant); err != nil {
			bad("tenant: %v", err)
		}
	}
	for _, p := range []struct{ name, path string }{{"geoipCityPath", st.GeoIPCityPath}, {"geoipAsnPath", st.GeoIPASNPath}} {
		if p.path != "" && !filepath.IsAbs(p.path) {
			bad("%s %q must be an absolute path", p.name, p.path)
		}
	}
	if len(errs) > 0 {
		return st, fmt.Errorf("settings: %w", errors.Join(errs...))
	}
	return st, nil
}

// QueryLimits returns the store options of this datasource's queries.
func (s Settings) QueryLimits() store.Options {
	return store.Options{Database: s.ClickHouseDatabase, Cluster: s.ClickHouseCluster,
		QueryTimeout: time.Duration(s.QueryTimeout * float64(time.Second)), MaxMemory: s.QueryMaxMemory}
}

// Retention returns the retention policy the settings describe.
func (s Settings) Retention() event.Retention {
	r := event.Retention{Default: event.DefaultRetention, Rules: map[string]time.Duration{}}
	if s.RetentionDays > 0 {
		r.Default = time.Duration(s.RetentionDays * float64(24*time.Hour))
	}
	for _, rule := range s.RetentionRules {
		r.Rules[rule.Action] = time.Duration(rule.Days * float64(24*time.Hour))
	}
	return r
}

// defaultDataPath keeps events beside Grafana's own data when Grafana tells
// us where that is, so a backup of Grafana's data dir includes them.
func defaultDataPath() string {
	if d := os.Getenv("GF_PATHS_DATA"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			return filepath.Join(abs, "auditlog")
		}
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "auditlog")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "auditlog")
	}
	return filepath.Join(os.TempDir(), "auditlog")
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
