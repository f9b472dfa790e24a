// Package provisioning loads Auditlog's Grafana provisioning files
// (provisioning/ at the repository root) and lists every query they make of
// the Auditlog datasource, so tests can check them statically and run them
// through the plugin.
//
// The central function is Queries: one Query per dashboard panel target and
// per alert-rule data query, with the query model as stored, the frame kind
// the backend should answer with, and (for dashboards) the variable defaults
// needed to interpolate the model the way the frontend would (Resolved).
package provisioning

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// PluginID is the Auditlog datasource plugin id (plugin.json).
const PluginID = "auditlog-events-datasource"

// ExprUID is the datasource uid of server-side expressions in alert rules.
const ExprUID = "__expr__"

// AllValue is the custom "All" value of the dashboards' multi-value
// variables. The frontend passes it through as the one filter entry "*",
// which the backend must read as "no filter on this field".
const AllValue = "*"

// Frontend defaults (src/types.ts), applied by Interpolate.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// QueryTypes are the query types of the query model; each names the frame
// kind the backend answers with.
var QueryTypes = []string{"logs", "details", "diff", "geomap", "timeseries", "stats"}

// GroupBys are the dimensions timeseries and stats queries group by.
var GroupBys = []string{"action", "user", "app", "country", "asn"}

// ValueFields are the fields a variable query ({field, q, limit}) lists.
var ValueFields = []string{"action", "user", "app", "country"}

// FilterLists and FilterTexts are the keys of a query's "filters" object.
var (
	FilterLists = []string{"actions", "users", "apps", "clientIps", "countries"}
	FilterTexts = []string{"search", "eventId"}
)

// Root returns the repository root: the nearest directory at or above the
// working directory that holds go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !st.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("provisioning: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// ---------------------------------------------------------------- datasources

// Datasource is one entry of provisioning/datasources/*.yaml. Values are as
// written: Grafana's $VAR expansion is not applied.
type Datasource struct {
	File           string            `yaml:"-"`
	Name           string            `yaml:"name"`
	UID            string            `yaml:"uid"`
	Type           string            `yaml:"type"`
	Access         string            `yaml:"access"`
	OrgID          int               `yaml:"orgId"`
	IsDefault      bool              `yaml:"isDefault"`
	Editable       bool              `yaml:"editable"`
	JSONData       map[string]any    `yaml:"jsonData"`
	SecureJSONData map[string]string `yaml:"secureJsonData"`
}

type datasourceFile struct {
	APIVersion  int          `yaml:"apiVersion"`
	Datasources []Datasource `yaml:"datasources"`
}

// LoadDatasources reads every datasource file under provisioning/datasources.
func LoadDatasources(root string) ([]Datasource, error) {
	files, err := yamlFiles(filepath.Join(root, "provisioning", "datasources"))
	if err != nil {
		return nil, err
	}
	var out []Datasource
	for _, f := range files {
		var df datasourceFile
		if err := decodeYAMLFile(f, &df); err != nil {
			return nil, err
		}
		if df.APIVersion != 1 {
			return nil, fmt.Errorf("%s: apiVersion %d, want 1", rel(root, f), df.APIVersion)
		}
		for _, d := range df.Datasources {
			d.File = rel(root, f)
			out = append(out, d)
		}
	}
	return out, nil
}

// ---------------------------------------------------------------- dashboards

// DatasourceRef is a panel's or target's datasource: {type, uid}, or the
// legacy plain string (a name or a variable).
type DatasourceRef struct {
	Type string `json:"type,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// UnmarshalJSON accepts an object or a string.
func (r *DatasourceRef) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &r.UID)
	}
	type plain DatasourceRef
	return json.Unmarshal(b, (*plain)(r))
}

// Dashboard is one provisioned dashboard JSON file.
type Dashboard struct {
	File          string   `json:"-"` // relative to the repository root
	UID           string   `json:"uid"`
	Title         string   `json:"title"`
	Description   string   `json:"description"`
	Tags          []string `json:"tags"`
	SchemaVersion int      `json:"schemaVersion"`
	Time          struct{ From, To string }
	Templating    struct{ List []Variable }
	Panels        []Panel        `json:"panels"`
	Raw           map[string]any `json:"-"`
}

// Variable is a dashboard template variable.
type Variable struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Label       string          `json:"label"`
	Description string          `json:"description"`
	Query       json.RawMessage `json:"query"` // a string, or a datasource's variable query object
	Datasource  *DatasourceRef  `json:"datasource"`
	Current     struct {
		Text  json.RawMessage `json:"text"`
		Value json.RawMessage `json:"value"`
	} `json:"current"`
	Multi      bool    `json:"multi"`
	IncludeAll bool    `json:"includeAll"`
	AllValue   *string `json:"allValue"`
	Refresh    int     `json:"refresh"`
}

// CurrentValues returns the variable's saved selection as a list.
func (v Variable) CurrentValues() []string {
	return stringOrList(v.Current.Value)
}

// Panel is a dashboard panel; rows' collapsed panels are flattened into
// Dashboard.AllPanels.
type Panel struct {
	ID              int             `json:"id"`
	Type            string          `json:"type"`
	Title           string          `json:"title"`
	Description     string          `json:"description"`
	Datasource      *DatasourceRef  `json:"datasource"`
	Targets         []Target        `json:"targets"`
	FieldConfig     FieldConfig     `json:"fieldConfig"`
	Options         json.RawMessage `json:"options"`
	Transformations json.RawMessage `json:"transformations"`
	GridPos         struct{ H, W, X, Y int }
	TimeFrom        string          `json:"timeFrom"`
	Panels          []Panel         `json:"panels"` // collapsed rows
	Raw             json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the panel's raw JSON beside the decoded fields.
func (p *Panel) UnmarshalJSON(b []byte) error {
	type plain Panel
	if err := json.Unmarshal(b, (*plain)(p)); err != nil {
		return err
	}
	p.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// Target is one query of a panel: the raw model plus the fields the loader
// needs.
type Target struct {
	RefID      string
	Datasource *DatasourceRef
	Model      json.RawMessage
}

// UnmarshalJSON keeps the whole target as the model.
func (t *Target) UnmarshalJSON(b []byte) error {
	var head struct {
		RefID      string         `json:"refId"`
		Datasource *DatasourceRef `json:"datasource"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	t.RefID, t.Datasource = head.RefID, head.Datasource
	t.Model = append(json.RawMessage(nil), b...)
	return nil
}

// FieldConfig is a panel's field configuration.
type FieldConfig struct {
	Defaults  map[string]json.RawMessage `json:"defaults"`
	Overrides []Override                 `json:"overrides"`
}

// DisplayName returns fieldConfig.defaults.displayName.
func (f FieldConfig) DisplayName() string {
	var s string
	_ = json.Unmarshal(f.Defaults["displayName"], &s)
	return s
}

// Override is one field override rule.
type Override struct {
	Matcher struct {
		ID      string          `json:"id"`
		Options json.RawMessage `json:"options"`
	} `json:"matcher"`
	Properties []struct {
		ID    string          `json:"id"`
		Value json.RawMessage `json:"value"`
	} `json:"properties"`
}

// MatcherName returns the matcher's options as a string ("" if not one).
func (o Override) MatcherName() string {
	var s string
	_ = json.Unmarshal(o.Matcher.Options, &s)
	return s
}

// AllPanels returns the dashboard's panels with the panels of collapsed
// rows, in order.
func (d Dashboard) AllPanels() []Panel {
	var out []Panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// Variable returns the named variable.
func (d Dashboard) Variable(name string) (Variable, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

// DefaultVars returns each variable's value when the dashboard opens, as the
// frontend interpolation sees it: a multi-value or All selection is a list;
// All is [AllValue] when the variable has a custom all value, and empty (the
// options are only known at run time) when it has not.
func (d Dashboard) DefaultVars() map[string][]string {
	vars := map[string][]string{}
	for _, v := range d.Templating.List {
		vals := v.CurrentValues()
		if vals == nil && v.Type == "textbox" {
			var q string
			_ = json.Unmarshal(v.Query, &q)
			vals = []string{q}
		}
		if len(vals) == 1 && (vals[0] == "$__all" || (vals[0] == "All" && v.IncludeAll)) {
			vals = nil
			if v.AllValue != nil && *v.AllValue != "" {
				vals = []string{*v.AllValue}
			}
		}
		if vals == nil {
			vals = []string{}
		}
		vars[v.Name] = vals
	}
	return vars
}

// LoadDashboards reads every dashboard JSON file under provisioning/dashboards.
func LoadDashboards(root string) ([]Dashboard, error) {
	dir := filepath.Join(root, "provisioning", "dashboards")
	var files []string
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d Dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", rel(root, f), err)
		}
		if err := json.Unmarshal(b, &d.Raw); err != nil {
			return nil, fmt.Errorf("%s: %w", rel(root, f), err)
		}
		d.File = rel(root, f)
		out = append(out, d)
	}
	return out, nil
}

// ---------------------------------------------------------------- alert rules

// RuleGroup is one group of provisioning/alerting/*.yaml.
type RuleGroup struct {
	File     string      `yaml:"-"`
	OrgID    int         `yaml:"orgId"`
	Name     string      `yaml:"name"`
	Folder   string      `yaml:"folder"`
	Interval string      `yaml:"interval"`
	Rules    []AlertRule `yaml:"rules"`
}

// AlertRule is one Grafana-managed alert rule.
type AlertRule struct {
	UID          string            `yaml:"uid"`
	Title        string            `yaml:"title"`
	Condition    string            `yaml:"condition"`
	Data         []RuleQuery       `yaml:"data"`
	NoDataState  string            `yaml:"noDataState"`
	ExecErrState string            `yaml:"execErrState"`
	For          string            `yaml:"for"`
	IsPaused     bool              `yaml:"isPaused"`
	Labels       map[string]string `yaml:"labels"`
	Annotations  map[string]string `yaml:"annotations"`
}

// RuleQuery is one entry of a rule's data: a datasource query or an
// expression (DatasourceUID ExprUID).
type RuleQuery struct {
	RefID             string `yaml:"refId"`
	RelativeTimeRange struct {
		From int64 `yaml:"from"`
		To   int64 `yaml:"to"`
	} `yaml:"relativeTimeRange"`
	DatasourceUID string         `yaml:"datasourceUid"`
	Model         map[string]any `yaml:"model"`
}

// ModelJSON returns the query model as JSON.
func (q RuleQuery) ModelJSON() (json.RawMessage, error) {
	return json.Marshal(q.Model)
}

// Range is the query's relative time range (from - to).
func (q RuleQuery) Range() time.Duration {
	return time.Duration(q.RelativeTimeRange.From-q.RelativeTimeRange.To) * time.Second
}

type rulesFile struct {
	APIVersion int         `yaml:"apiVersion"`
	Groups     []RuleGroup `yaml:"groups"`
}

// LoadAlertRules reads the rule groups of every file under
// provisioning/alerting that has any.
func LoadAlertRules(root string) ([]RuleGroup, error) {
	files, err := yamlFiles(filepath.Join(root, "provisioning", "alerting"))
	if err != nil {
		return nil, err
	}
	var out []RuleGroup
	for _, f := range files {
		var rf rulesFile
		if err := decodeYAMLFile(f, &rf); err != nil {
			return nil, err
		}
		if len(rf.Groups) == 0 {
			continue
		}
		if rf.APIVersion != 1 {
			return nil, fmt.Errorf("%s: apiVersion %d, want 1", rel(root, f), rf.APIVersion)
		}
		for _, g := range rf.Groups {
			g.File = rel(root, f)
			out = append(out, g)
		}
	}
	return out, nil
}

// ---------------------------------------------------------------- queries

// Query is one query the provisioned files make of an Auditlog datasource.
type Query struct {
	// Source names it for messages: "file › panel or rule title › refId".
	Source string
	File   string // relative to the repository root
	Title  string // panel or rule title

	Dashboard string // dashboard uid; "" for alert rules
	PanelID   int
	RuleUID   string // "" for panels
	RefID     string

	// Kind is the panel type ("logs", "timeseries", "table", ...) or "alert".
	Kind string
	// Frame is the frame kind the backend should answer with: the query's
	// queryType (logs, details, diff, geomap, timeseries or stats; a missing
	// queryType means logs, as in the frontend).
	Frame string
	// DatasourceUID is the datasource the query runs on, with a datasource
	// variable (${ds}) replaced by its default.
	DatasourceUID string

	// Model is the query model as stored (variables not interpolated).
	Model json.RawMessage
	// RelativeRange is the time range the query runs over: the rule's
	// relativeTimeRange, or the panel's timeFrom or the dashboard's default
	// range.
	RelativeRange time.Duration
	// Vars are the dashboard's variable defaults (nil for alert rules, which
	// Grafana sends to the backend as they are).
	Vars map[string][]string
}

// Resolved returns the model the backend receives: for a dashboard query,
// interpolated as the frontend does (see Interpolate) with the default
// variable values; for an alert rule, the model unchanged.
func (q Query) Resolved() (json.RawMessage, error) {
	if q.Vars == nil {
		return q.Model, nil
	}
	return Interpolate(q.Model, q.Vars)
}

// WithVars returns the query resolved with some variables overridden, e.g.
// {"event_id": {id}} for the Event details dashboard.
func (q Query) WithVars(override map[string][]string) (json.RawMessage, error) {
	vars := map[string][]string{}
	for k, v := range q.Vars {
		vars[k] = v
	}
	for k, v := range override {
		vars[k] = v
	}
	return Interpolate(q.Model, vars)
}

// Queries lists every Auditlog query of the provisioned dashboards and
// alert rules under root (the repository root), dashboards first, in file
// and panel order. Targets of other datasources are left out.
func Queries(root string) ([]Query, error) {
	dashboards, err := LoadDashboards(root)
	if err != nil {
		return nil, err
	}
	datasources, err := LoadDatasources(root)
	if err != nil {
		return nil, err
	}
	isAuditlog := func(uid string) bool {
		for _, d := range datasources {
			if d.UID == uid {
				return d.Type == PluginID
			}
		}
		return false
	}

	var out []Query
	for _, d := range dashboards {
		vars := d.DefaultVars()
		dashRange, err := ParseRelative(d.Time.From)
		if err != nil {
			return nil, fmt.Errorf("%s: time.from: %w", d.File, err)
		}
		for _, p := range d.AllPanels() {
			rng := dashRange
			if p.TimeFrom != "" {
				if rng, err = ParseRelative(p.TimeFrom); err != nil {
					return nil, fmt.Errorf("%s: panel %q: timeFrom: %w", d.File, p.Title, err)
				}
			}
			for _, t := range p.Targets {
				ref := t.Datasource
				if ref == nil {
					ref = p.Datasource
				}
				if ref == nil {
					return nil, fmt.Errorf("%s: panel %q target %s: no datasource", d.File, p.Title, t.RefID)
				}
				uid := ResolveVars(ref.UID, vars)
				if ref.Type != PluginID && !isAuditlog(uid) {
					continue
				}
				var head struct {
					QueryType string `json:"queryType"`
				}
				if err := json.Unmarshal(t.Model, &head); err != nil {
					return nil, fmt.Errorf("%s: panel %q target %s: %w", d.File, p.Title, t.RefID, err)
				}
				if head.QueryType == "" {
					head.QueryType = "logs"
				}
				out = append(out, Query{
					Source:        fmt.Sprintf("%s › %s › %s", d.File, p.Title, t.RefID),
					File:          d.File,
					Title:         p.Title,
					Dashboard:     d.UID,
					PanelID:       p.ID,
					RefID:         t.RefID,
					Kind:          p.Type,
					Frame:         head.QueryType,
					DatasourceUID: uid,
					Model:         t.Model,
					RelativeRange: rng,
					Vars:          vars,
				})
			}
		}
	}

	groups, err := LoadAlertRules(root)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			for _, q := range r.Data {
				if q.DatasourceUID == ExprUID {
					continue
				}
				model, err := q.ModelJSON()
				if err != nil {
					return nil, fmt.Errorf("%s: rule %q query %s: %w", g.File, r.Title, q.RefID, err)
				}
				qt, _ := q.Model["queryType"].(string)
				if qt == "" {
					qt = "logs"
				}
				out = append(out, Query{
					Source:        fmt.Sprintf("%s › %s › %s", g.File, r.Title, q.RefID),
					File:          g.File,
					Title:         r.Title,
					RuleUID:       r.UID,
					RefID:         q.RefID,
					Kind:          "alert",
					Frame:         qt,
					DatasourceUID: q.DatasourceUID,
					Model:         model,
					RelativeRange: q.Range(),
				})
			}
		}
	}
	return out, nil
}

// ---------------------------------------------------------------- interpolation

// varRe is Grafana's template variable syntax: $name, [[name]],
// [[name:format]], ${name}, ${name.path}, ${name:format}.
var varRe = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// VarNames returns the names of the variables s refers to.
func VarNames(s string) []string {
	var out []string
	for _, m := range varRe.FindAllStringSubmatch(s, -1) {
		out = append(out, firstNonEmpty(m[1], m[2], m[4]))
	}
	return out
}

// ResolveVars replaces each known variable in s by its values joined with
// a space (how the frontend interpolates free text); unknown ones are kept.
func ResolveVars(s string, vars map[string][]string) string {
	return varRe.ReplaceAllStringFunc(s, func(m string) string {
		sm := varRe.FindStringSubmatch(m)
		v, ok := vars[firstNonEmpty(sm[1], sm[2], sm[4])]
		if !ok {
			return m
		}
		return strings.Join(v, " ")
	})
}

// ExpandEntry interpolates one filter entry into zero or more values, like
// expandEntry in src/interpolate.ts: a multi-value variable gives one value
// per selected value, text around it is kept on each, several of them give
// every combination, and empty results are dropped.
func ExpandEntry(entry string, vars map[string][]string) []string {
	results := []string{""}
	rest := entry
	for {
		loc := varRe.FindStringSubmatchIndex(rest)
		if loc == nil {
			break
		}
		literal := rest[:loc[0]]
		name := ""
		for _, g := range []int{1, 2, 4} {
			if loc[2*g] >= 0 {
				name = rest[loc[2*g]:loc[2*g+1]]
				break
			}
		}
		values, ok := vars[name]
		if !ok {
			values = []string{rest[loc[0]:loc[1]]} // unknown: kept as written
		}
		var next []string
		for _, r := range results {
			for _, v := range values {
				next = append(next, r+literal+v)
			}
		}
		results = next
		rest = rest[loc[1]:]
	}
	var out []string
	for _, r := range results {
		if r += rest; r != "" {
			out = append(out, r)
		}
	}
	return out
}

// Interpolate returns the query model as the frontend sends it to the
// backend (interpolateQuery in src/interpolate.ts): every filter present,
// filter lists expanded entry by entry (ExpandEntry, duplicates dropped),
// search and eventId interpolated as text (eventId trimmed), the limit
// resolved and bounded to [1, MaxLimit] (DefaultLimit if unset), queryType
// defaulting to logs, and the datasource uid interpolated.
func Interpolate(model json.RawMessage, vars map[string][]string) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(model))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	in, _ := m["filters"].(map[string]any)
	f := map[string]any{} // only the known keys, like interpolateFilters
	for _, k := range FilterLists {
		var out []string
		seen := map[string]bool{}
		if list, ok := in[k].([]any); ok {
			for _, e := range list {
				var s string
				switch e := e.(type) {
				case string:
					s = e
				case json.Number:
					s = e.String()
				default:
					continue
				}
				for _, v := range ExpandEntry(s, vars) {
					if !seen[v] {
						seen[v] = true
						out = append(out, v)
					}
				}
			}
		}
		if out == nil {
			out = []string{}
		}
		f[k] = out
	}
	for _, k := range FilterTexts {
		s, _ := in[k].(string)
		s = ResolveVars(s, vars)
		if k == "eventId" {
			s = strings.TrimSpace(s)
		}
		f[k] = s
	}
	m["filters"] = f

	if qt, _ := m["queryType"].(string); qt == "" {
		m["queryType"] = "logs"
	}
	m["limit"] = resolveLimit(m["limit"], vars)
	if ds, ok := m["datasource"].(map[string]any); ok {
		if uid, ok := ds["uid"].(string); ok {
			ds["uid"] = ResolveVars(uid, vars)
		}
	}
	return json.Marshal(m)
}

func resolveLimit(v any, vars map[string][]string) int {
	var n float64
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return DefaultLimit
		}
		n = f
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return DefaultLimit
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(ResolveVars(s, vars)), 64)
		if err != nil {
			return DefaultLimit
		}
		n = f
	default:
		return DefaultLimit
	}
	if math.IsNaN(n) || math.IsInf(n, 0) || n <= 0 {
		return DefaultLimit
	}
	return int(math.Min(math.Floor(n), MaxLimit))
}

// ---------------------------------------------------------------- helpers

// ParseRelative parses a Grafana relative time ("now-24h", "now-7d", "90d",
// "now") into how far back it reaches. Rounding ("/d") is ignored.
func ParseRelative(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if i := strings.Index(t, "/"); i >= 0 {
		t = t[:i]
	}
	if t == "now" {
		return 0, nil
	}
	t = strings.TrimPrefix(t, "now-")
	if len(t) < 2 {
		return 0, fmt.Errorf("relative time %q: want now-<n><unit>", s)
	}
	n, err := strconv.Atoi(t[:len(t)-1])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("relative time %q: want now-<n><unit>", s)
	}
	units := map[byte]time.Duration{
		's': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour,
		'w': 7 * 24 * time.Hour, 'M': 30 * 24 * time.Hour, 'y': 365 * 24 * time.Hour,
	}
	u, ok := units[t[len(t)-1]]
	if !ok {
		return 0, fmt.Errorf("relative time %q: unknown unit", s)
	}
	return time.Duration(n) * u, nil
}

func yamlFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

func decodeYAMLFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}

func stringOrList(b json.RawMessage) []string {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		return []string{s}
	}
	var l []string
	if json.Unmarshal(b, &l) == nil {
		if l == nil {
			l = []string{}
		}
		return l
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
