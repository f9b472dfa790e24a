package provisioning

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"gopkg.in/yaml.v3"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/plugin"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	r, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ---------------------------------------------------------------- parsing

// Every file under provisioning/ parses: YAML (duplicate keys are errors in
// yaml.v3) and JSON (objects, no trailing data); nothing else lives there.
func TestFilesParse(t *testing.T) {
	root := repoRoot(t)
	n := 0
	err := filepath.WalkDir(filepath.Join(root, "provisioning"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name := rel(root, p)
		switch filepath.Ext(p) {
		case ".yaml", ".yml":
			var v map[string]any
			if err := yaml.Unmarshal(b, &v); err != nil {
				t.Errorf("%s: %v", name, err)
			} else if v["apiVersion"] != 1 {
				t.Errorf("%s: apiVersion = %v, want 1", name, v["apiVersion"])
			}
		case ".json":
			dec := json.NewDecoder(bytes.NewReader(b))
			var v map[string]any
			if err := dec.Decode(&v); err != nil {
				t.Errorf("%s: %v", name, err)
			} else if dec.More() {
				t.Errorf("%s: data after the JSON object", name)
			}
		case ".md":
		default:
			t.Errorf("%s: unexpected file type in provisioning/ (Grafana would ignore or misread it)", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no files under provisioning/")
	}
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Errorf("docker-compose.yaml: %v", err)
	}
}

// The plugin id used everywhere is plugin.json's.
func TestPluginID(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		ID       string `json:"id"`
		Alerting bool   `json:"alerting"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.ID != PluginID {
		t.Errorf("plugin.json id = %q, provisioning uses %q", p.ID, PluginID)
	}
	if !p.Alerting {
		t.Error("plugin.json: alerting must be true for the provisioned alert rules")
	}
}

// ---------------------------------------------------------------- datasources

// envRefRe finds Grafana provisioning env references: $NAME or ${NAME};
// "$$" is a literal dollar.
var envRefRe = regexp.MustCompile(`\$\$|\$\{(\w+)\}|\$(\w+)`)

// grafanaExpand applies Grafana's provisioning env expansion.
func grafanaExpand(s string, env map[string]string) string {
	return envRefRe.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sm := envRefRe.FindStringSubmatch(m)
		return env[firstNonEmpty(sm[1], sm[2])]
	})
}

func expandAny(v any, env map[string]string) any {
	switch v := v.(type) {
	case string:
		return grafanaExpand(v, env)
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = expandAny(x, env)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = expandAny(x, env)
		}
		return out
	}
	return v
}

// jsonTags returns the JSON keys of a struct's exported, serialised fields.
func jsonTags(v any) map[string]bool {
	out := map[string]bool{}
	rt := reflect.TypeOf(v)
	for i := 0; i < rt.NumField(); i++ {
		tag := strings.Split(rt.Field(i).Tag.Get("json"), ",")[0]
		if tag != "" && tag != "-" {
			out[tag] = true
		}
	}
	return out
}

// secureKeys are the secureJsonData keys pkg/plugin.ParseSettings reads.
var secureKeys = map[string]bool{"clickhousePassword": true, "ingestToken": true}

func TestDatasources(t *testing.T) {
	root := repoRoot(t)
	dss, err := LoadDatasources(root)
	if err != nil {
		t.Fatal(err)
	}
	byUID := map[string]Datasource{}
	names := map[string]bool{}
	allowed := jsonTags(plugin.Settings{})
	for _, d := range dss {
		where := d.File + ": " + d.Name
		if d.UID == "" {
			t.Errorf("%s: no uid (Grafana would make a random one; dashboards and rules need a fixed one)", where)
		}
		if _, dup := byUID[d.UID]; dup {
			t.Errorf("%s: uid %q provisioned twice", where, d.UID)
		}
		if names[d.Name] {
			t.Errorf("%s: name provisioned twice", where)
		}
		byUID[d.UID], names[d.Name] = d, true
		if d.Type != PluginID {
			t.Errorf("%s: type %q, want %q", where, d.Type, PluginID)
		}
		if d.Access != "proxy" {
			t.Errorf("%s: access %q, want proxy (a backend plugin)", where, d.Access)
		}
		for k := range d.JSONData {
			if !allowed[k] {
				t.Errorf("%s: jsonData.%s is not a setting of pkg/plugin.Settings (a typo is silently ignored)", where, k)
			}
		}
		for k := range d.SecureJSONData {
			if !secureKeys[k] {
				t.Errorf("%s: secureJsonData.%s is not read by the plugin", where, k)
			}
		}
		if engine, _ := d.JSONData["engine"].(string); engine != "embedded" && engine != "clickhouse" && !envRefRe.MatchString(engine) {
			t.Errorf("%s: engine %q: want embedded, clickhouse or an env reference", where, engine)
		}
		if p, _ := d.JSONData["dataPath"].(string); p != "" && !strings.HasPrefix(p, "/") && !envRefRe.MatchString(p) {
			t.Errorf("%s: dataPath %q must be absolute", where, p)
		}
		for _, r := range retentionRules(d) {
			if _, _, err := event.ParseRule(fmt.Sprintf("%s=%vd", r.Action, r.Days)); err != nil || r.Days <= 0 {
				t.Errorf("%s: retention rule %+v: %v", where, r, err)
			}
			if !KnownAction(r.Action) {
				t.Errorf("%s: retention rule for unknown action %q", where, r.Action)
			}
		}
	}
	for _, uid := range []string{"auditlog", "auditlog-clickhouse"} {
		if _, ok := byUID[uid]; !ok {
			t.Errorf("no datasource with uid %q", uid)
		}
	}
	if d, ok := byUID["auditlog"]; ok {
		if p, _ := d.JSONData["dataPath"].(string); p != "/var/lib/grafana/auditlog" {
			t.Errorf("auditlog: dataPath %q, want /var/lib/grafana/auditlog (Grafana's data volume)", p)
		}
	}
	if d, ok := byUID["auditlog-clickhouse"]; ok {
		if d.JSONData["engine"] != "clickhouse" || d.JSONData["clickhouseAddr"] != "clickhouse:9000" || d.JSONData["clickhouseDatabase"] != "auditlog" {
			t.Errorf("auditlog-clickhouse: want engine clickhouse, clickhouseAddr clickhouse:9000, clickhouseDatabase auditlog; got %v", d.JSONData)
		}
		if d.SecureJSONData["clickhousePassword"] != "$AUDITLOG_CLICKHOUSE_PASSWORD" {
			t.Errorf("auditlog-clickhouse: secureJsonData.clickhousePassword = %q, want $AUDITLOG_CLICKHOUSE_PASSWORD", d.SecureJSONData["clickhousePassword"])
		}
	}
	// Datasources may share one database (they do in docker-compose), so
	// they must not disagree about how long events are kept.
	var first *Datasource
	for i := range dss {
		d := &dss[i]
		if d.JSONData["retentionDays"] == nil {
			t.Errorf("%s: %s: no retentionDays", d.File, d.Name)
		}
		if first == nil {
			first = d
			continue
		}
		if !reflect.DeepEqual(d.JSONData["retentionDays"], first.JSONData["retentionDays"]) ||
			!reflect.DeepEqual(d.JSONData["retentionRules"], first.JSONData["retentionRules"]) {
			t.Errorf("%s and %s: retentionDays/retentionRules differ", d.File, first.File)
		}
	}
}

func retentionRules(d Datasource) []plugin.RetentionRule {
	b, _ := json.Marshal(d.JSONData["retentionRules"])
	var out []plugin.RetentionRule
	_ = json.Unmarshal(b, &out)
	return out
}

// Each datasource, with the environment each docker-compose Grafana gives
// it, is accepted by the plugin's own settings parser.
func TestDatasourcesParseInComposeEnvironments(t *testing.T) {
	root := repoRoot(t)
	dss, err := LoadDatasources(root)
	if err != nil {
		t.Fatal(err)
	}
	c := loadCompose(t, root)
	wantEngine := map[string]string{"grafana": "clickhouse", "grafana-embedded": "embedded"}
	for _, svc := range grafanaServices(c) {
		env := c.Services[svc].env()
		for _, d := range dss {
			jd, err := json.Marshal(expandAny(d.JSONData, env))
			if err != nil {
				t.Fatal(err)
			}
			secure := map[string]string{}
			for k, v := range d.SecureJSONData {
				secure[k] = grafanaExpand(v, env)
			}
			st, err := plugin.ParseSettings(backend.DataSourceInstanceSettings{UID: d.UID, JSONData: jd, DecryptedSecureJSONData: secure})
			if err != nil {
				t.Errorf("%s: %s in compose service %s: %v", d.File, d.UID, svc, err)
				continue
			}
			if d.UID == "auditlog" && st.Engine != wantEngine[svc] {
				t.Errorf("compose service %s: datasource auditlog has engine %q, want %q", svc, st.Engine, wantEngine[svc])
			}
			if st.Engine == plugin.EngineClickHouse && st.ClickHousePassword == "" {
				t.Errorf("compose service %s: %s has no ClickHouse password", svc, d.UID)
			}
			if st.RetentionDays != 365 {
				t.Errorf("%s: retentionDays = %v, want 365", d.UID, st.RetentionDays)
			}
			ret := st.Retention()
			if ret.Rules["login_failed"] != 30*24*time.Hour || ret.Rules["model_deleted"] != 1825*24*time.Hour {
				t.Errorf("%s: retention rules = %v, want login_failed 30d and model_deleted 1825d", d.UID, ret.Rules)
			}
		}
	}
}

// ---------------------------------------------------------------- dashboards

var wantDashboards = map[string]string{
	"auditlog-overview":      "Audit overview",
	"auditlog-explorer":      "Event explorer",
	"auditlog-event-details": "Event details",
	"auditlog-security":      "Security",
}

// panelQueryTypes says which query types each panel type can draw.
var panelQueryTypes = map[string][]string{
	"logs":       {"logs"},
	"timeseries": {"timeseries"},
	"barchart":   {"stats"},
	"geomap":     {"geomap"},
	"table":      {"logs", "details", "diff", "stats"},
	"bargauge":   {"stats"},
	"stat":       {"stats"},
	"piechart":   {"stats"},
}

func loadDashboards(t *testing.T) []Dashboard {
	t.Helper()
	ds, err := LoadDashboards(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestDashboards(t *testing.T) {
	root := repoRoot(t)
	dashboards := loadDashboards(t)
	dss, err := LoadDatasources(root)
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]bool{}
	for _, d := range dashboards {
		if uids[d.UID] {
			t.Errorf("%s: uid %q used twice", d.File, d.UID)
		}
		uids[d.UID] = true
		if want, ok := wantDashboards[d.UID]; !ok {
			t.Errorf("%s: unexpected dashboard uid %q", d.File, d.UID)
		} else if d.Title != want {
			t.Errorf("%s: title %q, want %q", d.File, d.Title, want)
		}
		if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
			t.Errorf("%s: schemaVersion %d, want 36..41", d.File, d.SchemaVersion)
		}
		if !slices.Contains(d.Tags, "auditlog") {
			t.Errorf("%s: no tag auditlog (the dashboards' links find each other by it)", d.File)
		}
		if _, err := ParseRelative(d.Time.From); err != nil || d.Time.To != "now" {
			t.Errorf("%s: time %q..%q: want now-<range>..now", d.File, d.Time.From, d.Time.To)
		}
		if id, _ := d.Raw["id"]; id != nil {
			t.Errorf("%s: has a numeric id; provisioned dashboards must leave it out", d.File)
		}
		checkVariables(t, d, dss)
		checkPanels(t, d)
	}
	for uid := range wantDashboards {
		if !uids[uid] {
			t.Errorf("dashboard %q missing", uid)
		}
	}
}

func checkVariables(t *testing.T, d Dashboard, dss []Datasource) {
	t.Helper()
	ds, ok := d.Variable("ds")
	if !ok {
		t.Errorf("%s: no datasource variable ds", d.File)
	} else {
		var q string
		_ = json.Unmarshal(ds.Query, &q)
		if ds.Type != "datasource" || q != PluginID {
			t.Errorf("%s: variable ds: type %q query %q, want datasource %q", d.File, ds.Type, q, PluginID)
		}
		cur := ds.CurrentValues()
		if len(cur) != 1 || !provisioned(dss, cur[0]) {
			t.Errorf("%s: variable ds defaults to %v, not a provisioned Auditlog datasource uid", d.File, cur)
		}
	}
	names := map[string]bool{}
	for _, v := range d.Templating.List {
		if names[v.Name] {
			t.Errorf("%s: variable %s defined twice", d.File, v.Name)
		}
		names[v.Name] = true
		switch v.Type {
		case "datasource", "textbox", "constant", "custom", "interval":
		case "query":
			var q struct {
				Field string `json:"field"`
				Limit int    `json:"limit"`
			}
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Errorf("%s: variable %s: query is not the {field, q, limit} model: %v", d.File, v.Name, err)
			} else if !slices.Contains(ValueFields, q.Field) {
				t.Errorf("%s: variable %s: field %q, want one of %v", d.File, v.Name, q.Field, ValueFields)
			} else if q.Limit < 0 || q.Limit > MaxLimit {
				t.Errorf("%s: variable %s: limit %d", d.File, v.Name, q.Limit)
			}
			if v.Datasource == nil || !resolvesTo(d, v.Datasource.UID, dss) {
				t.Errorf("%s: variable %s: datasource %v does not resolve to a provisioned Auditlog datasource", d.File, v.Name, v.Datasource)
			}
		default:
			t.Errorf("%s: variable %s: unexpected type %q", d.File, v.Name, v.Type)
		}
		// The All-value scheme: All is the custom value AllValue ("*"),
		// which the backend reads as "no filter". Without it Grafana would
		// send every option the variable happened to load.
		if v.IncludeAll {
			if v.AllValue == nil || *v.AllValue != AllValue {
				t.Errorf("%s: variable %s includes All but allValue is not %q", d.File, v.Name, AllValue)
			}
			if !v.Multi {
				t.Errorf("%s: variable %s includes All but is not multi-value", d.File, v.Name)
			}
		}
	}
}

func provisioned(dss []Datasource, uid string) bool {
	for _, d := range dss {
		if d.UID == uid && d.Type == PluginID {
			return true
		}
	}
	return false
}

// resolvesTo reports whether a datasource uid as written in a dashboard
// (a fixed uid or a ${ds}-style variable) resolves to a provisioned
// Auditlog datasource.
func resolvesTo(d Dashboard, uid string, dss []Datasource) bool {
	return provisioned(dss, ResolveVars(uid, d.DefaultVars()))
}

func checkPanels(t *testing.T, d Dashboard) {
	t.Helper()
	ids := map[int]bool{}
	type rect struct {
		title      string
		x, y, w, h int
	}
	var rects []rect
	for _, p := range d.AllPanels() {
		where := fmt.Sprintf("%s: panel %d %q", d.File, p.ID, p.Title)
		if p.ID <= 0 || ids[p.ID] {
			t.Errorf("%s: id missing or duplicate", where)
		}
		ids[p.ID] = true
		if p.Title == "" {
			t.Errorf("%s: no title", where)
		}
		if p.Type == "row" {
			continue
		}
		if p.Description == "" {
			t.Errorf("%s: no description", where)
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
		}
		for _, r := range rects {
			if g.X < r.x+r.w && r.x < g.X+g.W && g.Y < r.y+r.h && r.y < g.Y+g.H {
				t.Errorf("%s: overlaps panel %q", where, r.title)
			}
		}
		rects = append(rects, rect{p.Title, g.X, g.Y, g.W, g.H})
		allowed, ok := panelQueryTypes[p.Type]
		if !ok {
			t.Errorf("%s: unexpected panel type %q", where, p.Type)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", where)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: target refId %q missing or duplicate", where, tg.RefID)
			}
			refs[tg.RefID] = true
			var m struct {
				QueryType string `json:"queryType"`
			}
			_ = json.Unmarshal(tg.Model, &m)
			if ok && !slices.Contains(allowed, m.QueryType) {
				t.Errorf("%s: a %s panel cannot draw a %q query (want one of %v)", where, p.Type, m.QueryType, allowed)
			}
		}
		if p.TimeFrom != "" {
			if _, err := ParseRelative(p.TimeFrom); err != nil {
				t.Errorf("%s: timeFrom: %v", where, err)
			}
		}
	}
}

// ---------------------------------------------------------------- query models

// knownModelKeys are the keys of a query model (src/types.ts AuditQuery plus
// what Grafana adds to targets and alert queries).
var knownModelKeys = map[string]bool{
	"refId": true, "datasource": true, "queryType": true, "filters": true, "limit": true,
	"groupBy": true, "live": true, "hide": true, "key": true,
	"intervalMs": true, "maxDataPoints": true,
}

// checkModel checks one query model; where names it.
func checkModel(t *testing.T, where string, model json.RawMessage) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(model, &m); err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	for k := range m {
		if !knownModelKeys[k] {
			t.Errorf("%s: unknown query model key %q", where, k)
		}
	}
	var q struct {
		QueryType string         `json:"queryType"`
		GroupBy   *string        `json:"groupBy"`
		Limit     any            `json:"limit"`
		Live      *bool          `json:"live"`
		Filters   map[string]any `json:"filters"`
	}
	if err := json.Unmarshal(model, &q); err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if !slices.Contains(QueryTypes, q.QueryType) {
		t.Errorf("%s: queryType %q, want one of %v", where, q.QueryType, QueryTypes)
	}
	if q.GroupBy != nil {
		if !slices.Contains(GroupBys, *q.GroupBy) {
			t.Errorf("%s: groupBy %q, want one of %v", where, *q.GroupBy, GroupBys)
		}
		if q.QueryType != "timeseries" && q.QueryType != "stats" {
			t.Errorf("%s: groupBy on a %s query (only timeseries and stats group)", where, q.QueryType)
		}
	}
	if q.QueryType == "stats" && q.GroupBy == nil {
		t.Errorf("%s: a stats query needs groupBy (its group column is named after it)", where)
	}
	if q.Live != nil && q.QueryType != "logs" {
		t.Errorf("%s: live on a %s query (only logs tail)", where, q.QueryType)
	}
	switch l := q.Limit.(type) {
	case nil:
	case float64:
		if l < 1 || l > MaxLimit || l != float64(int(l)) {
			t.Errorf("%s: limit %v, want an integer in [1, %d]", where, l, MaxLimit)
		}
	default:
		t.Errorf("%s: limit %v is not a number", where, l)
	}
	if q.Filters == nil {
		t.Errorf("%s: no filters object", where)
	}
	keys := append(append([]string{}, FilterLists...), FilterTexts...)
	for k, v := range q.Filters {
		switch {
		case slices.Contains(FilterLists, k):
			list, ok := v.([]any)
			if !ok {
				t.Errorf("%s: filters.%s is not a list", where, k)
			}
			for _, e := range list {
				s, ok := e.(string)
				if !ok || s == "" {
					t.Errorf("%s: filters.%s entry %v is not a non-empty string", where, k, e)
				} else if k == "actions" && len(VarNames(s)) == 0 && s != AllValue && !KnownAction(s) {
					t.Errorf("%s: filters.actions: unknown action %q", where, s)
				}
			}
		case slices.Contains(FilterTexts, k):
			if _, ok := v.(string); !ok {
				t.Errorf("%s: filters.%s is not a string", where, k)
			}
		default:
			t.Errorf("%s: unknown filter %q (want %v)", where, k, keys)
		}
	}
	if id, _ := q.Filters["eventId"].(string); id != "" && q.QueryType != "details" && q.QueryType != "diff" && q.QueryType != "logs" {
		t.Errorf("%s: eventId on a %s query", where, q.QueryType)
	}
	// A details query needs an event id; as stored, that is a variable
	// (empty until the user sets it) or a fixed id.
	if q.QueryType == "details" && !strings.HasSuffix(where, "(resolved)") {
		if id, _ := q.Filters["eventId"].(string); id == "" {
			t.Errorf("%s: a details query needs filters.eventId", where)
		}
	}
}

// Every query of every dashboard and rule is a valid query model on a
// provisioned Auditlog datasource, and resolves without leftover variables.
func TestQueries(t *testing.T) {
	root := repoRoot(t)
	qs, err := Queries(root)
	if err != nil {
		t.Fatal(err)
	}
	dss, err := LoadDatasources(root)
	if err != nil {
		t.Fatal(err)
	}
	perDashboard := map[string]int{}
	rules := 0
	frames := map[string]bool{}
	for _, q := range qs {
		if q.Kind == "alert" {
			rules++
		} else {
			perDashboard[q.Dashboard]++
		}
		frames[q.Frame] = true
		if !provisioned(dss, q.DatasourceUID) {
			t.Errorf("%s: datasource %q is not a provisioned Auditlog datasource", q.Source, q.DatasourceUID)
		}
		checkModel(t, q.Source, q.Model)
		var ds struct {
			Datasource DatasourceRef `json:"datasource"`
		}
		_ = json.Unmarshal(q.Model, &ds)
		if ds.Datasource.Type != PluginID {
			t.Errorf("%s: target datasource type %q, want %q", q.Source, ds.Datasource.Type, PluginID)
		}
		if q.RelativeRange <= 0 {
			t.Errorf("%s: relative range %v", q.Source, q.RelativeRange)
		}
		r, err := q.Resolved()
		if err != nil {
			t.Errorf("%s: resolve: %v", q.Source, err)
			continue
		}
		if left := varRe.FindAllString(string(r), -1); len(left) > 0 {
			t.Errorf("%s: variables left after interpolation (undefined?): %v in %s", q.Source, left, r)
		}
		checkModel(t, q.Source+" (resolved)", r)
	}
	for uid := range wantDashboards {
		if perDashboard[uid] == 0 {
			t.Errorf("no queries from dashboard %s", uid)
		}
	}
	if rules == 0 {
		t.Error("no alert rule queries")
	}
	for _, f := range QueryTypes {
		if !frames[f] {
			t.Errorf("no provisioned query of type %s", f)
		}
	}
}

func TestInterpolate(t *testing.T) {
	vars := map[string][]string{
		"action": {"login", "logout"}, "user": {AllValue}, "app": {}, "search": {""},
		"ds": {"auditlog"}, "event_id": {" 3f0c "}, "n": {"20000"},
	}
	model := `{"refId":"A","datasource":{"type":"auditlog-events-datasource","uid":"${ds}"},"queryType":"logs",
	  "filters":{"actions":["$action","login","x-${action}"],"users":["$user"],"apps":["$app"],"search":"$search",
	  "eventId":"$event_id","clientIps":["10.0.0.0/8"],"bogus":1},"limit":"$n"}`
	got, err := Interpolate(json.RawMessage(model), vars)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Datasource DatasourceRef  `json:"datasource"`
		Filters    map[string]any `json:"filters"`
		Limit      int            `json:"limit"`
	}
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"actions": []any{"login", "logout", "x-login", "x-logout"}, "users": []any{"*"}, "apps": []any{},
		"clientIps": []any{"10.0.0.0/8"}, "countries": []any{}, "search": "", "eventId": "3f0c",
	}
	if !reflect.DeepEqual(m.Filters, want) {
		t.Errorf("filters = %v, want %v", m.Filters, want)
	}
	if m.Limit != MaxLimit || m.Datasource.UID != "auditlog" {
		t.Errorf("limit %d uid %q, want %d auditlog", m.Limit, m.Datasource.UID, MaxLimit)
	}
	if got := ExpandEntry("$unknown-$action", vars); !reflect.DeepEqual(got, []string{"$unknown-login", "$unknown-logout"}) {
		t.Errorf("unknown variables must be kept: %v", got)
	}
	for in, want := range map[string]time.Duration{"now-24h": 24 * time.Hour, "90d": 90 * 24 * time.Hour, "now-5m": 5 * time.Minute, "now-1w/w": 7 * 24 * time.Hour} {
		if got, err := ParseRelative(in); err != nil || got != want {
			t.Errorf("ParseRelative(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// ---------------------------------------------------------------- colours

// colourOf returns a "color" override property's fixed colour.
func fixedColour(v json.RawMessage) (mode, colour string) {
	var c struct {
		Mode       string `json:"mode"`
		FixedColor string `json:"fixedColor"`
	}
	_ = json.Unmarshal(v, &c)
	return c.Mode, c.FixedColor
}

func TestColourMap(t *testing.T) {
	seen := map[string]bool{}
	colours := map[string]string{}
	for _, c := range ActionColours {
		if seen[c.Action] {
			t.Errorf("%s listed twice", c.Action)
		}
		seen[c.Action] = true
		if !KnownAction(c.Action) {
			t.Errorf("%s is not an authentik action", c.Action)
		}
		if other, dup := colours[c.Colour]; dup {
			t.Errorf("%s and %s share colour %s", c.Action, other, c.Colour)
		}
		colours[c.Colour] = c.Action
		hue, ok := CategoryHue[c.Category]
		if !ok {
			t.Errorf("%s: unknown category %q", c.Action, c.Category)
		} else if hue == "" {
			if !regexp.MustCompile(`^#[0-9a-f]{6}$`).MatchString(c.Colour) {
				t.Errorf("%s: %s colours are hex greys, got %q", c.Action, c.Category, c.Colour)
			}
		} else if !regexp.MustCompile(`^((super-light|light|semi-dark|dark)-)?` + hue + `$`).MatchString(c.Colour) {
			t.Errorf("%s: colour %q is not a shade of %s (%s)", c.Action, c.Colour, hue, c.Category)
		}
	}
	// The families the product promises.
	for action, cat := range map[string]Category{
		"login": SignIn, "authorize_application": SignIn,
		"login_failed": Failure, "suspicious_request": Failure, "policy_exception": Failure,
		"model_created": Change, "model_updated": Change, "model_deleted": Change, "password_set": Change, "user_write": Change,
		"system_exception": Error, "configuration_error": Error, "property_mapping_exception": Error, "system_task_exception": Error,
	} {
		found := false
		for _, c := range ActionColours {
			if c.Action == action {
				found = true
				if c.Category != cat {
					t.Errorf("%s is %s, want %s", action, c.Category, cat)
				}
			}
		}
		if !found {
			t.Errorf("%s has no colour", action)
		}
	}
}

// Every dashboard colours an action the same way: per-action overrides of
// action-grouped time series, and value mappings of action columns.
func TestActionColours(t *testing.T) {
	for _, d := range loadDashboards(t) {
		for _, p := range d.AllPanels() {
			where := fmt.Sprintf("%s: panel %q", d.File, p.Title)
			groupsByAction, groupLabel := false, ""
			var actions []string
			for _, tg := range p.Targets {
				var m struct {
					QueryType string `json:"queryType"`
					GroupBy   string `json:"groupBy"`
					Filters   struct {
						Actions []string `json:"actions"`
					} `json:"filters"`
				}
				_ = json.Unmarshal(tg.Model, &m)
				if m.QueryType == "timeseries" {
					groupLabel = m.GroupBy
					if m.GroupBy == "action" {
						groupsByAction = true
						actions = append(actions, m.Filters.Actions...)
					}
				}
			}
			// Series are labelled {<groupBy>="value"}; the display name is
			// set to the label so overrides can match the bare value.
			if p.Type == "timeseries" && groupLabel != "" {
				if want := "${__field.labels." + groupLabel + "}"; p.FieldConfig.DisplayName() != want {
					t.Errorf("%s: fieldConfig.defaults.displayName = %q, want %q", where, p.FieldConfig.DisplayName(), want)
				}
			}
			overridden := map[string]bool{}
			for _, o := range p.FieldConfig.Overrides {
				name := o.MatcherName()
				for _, prop := range o.Properties {
					switch prop.ID {
					case "color":
						want, mapped := ColourOf(name)
						if !mapped {
							continue
						}
						if o.Matcher.ID != "byName" {
							t.Errorf("%s: colour override for %s matches %s, want byName", where, name, o.Matcher.ID)
						}
						mode, got := fixedColour(prop.Value)
						if mode != "fixed" || got != want {
							t.Errorf("%s: %s is %s/%s, want fixed %s (pkg/provisioning/colours.go)", where, name, mode, got, want)
						}
						overridden[name] = true
					case "mappings":
						checkActionMappings(t, where+" field "+name, prop.Value)
					}
				}
			}
			if !groupsByAction {
				continue
			}
			// Every action the panel can show has its override.
			want := actions
			if len(want) == 0 || slices.ContainsFunc(want, func(a string) bool { return len(VarNames(a)) > 0 }) {
				want = nil
				for _, c := range ActionColours {
					want = append(want, c.Action)
				}
			}
			for _, a := range want {
				if _, mapped := ColourOf(a); mapped && !overridden[a] {
					c, _ := ColourOf(a)
					t.Errorf("%s: no colour override for %s; add {\"matcher\":{\"id\":\"byName\",\"options\":%q},\"properties\":[{\"id\":\"color\",\"value\":{\"mode\":\"fixed\",\"fixedColor\":%q}}]}", where, a, a, c)
				}
			}
			if !strings.Contains(p.Description, "${__field.labels.action}") {
				t.Errorf("%s: the description should say how the colour overrides match (displayName ${__field.labels.action})", where)
			}
		}
	}
}

func checkActionMappings(t *testing.T, where string, v json.RawMessage) {
	t.Helper()
	var mappings []struct {
		Type    string `json:"type"`
		Options map[string]struct {
			Color string `json:"color"`
		} `json:"options"`
	}
	if err := json.Unmarshal(v, &mappings); err != nil {
		t.Errorf("%s: mappings: %v", where, err)
		return
	}
	n := 0
	for _, m := range mappings {
		if m.Type != "value" {
			continue
		}
		for action, opt := range m.Options {
			want, ok := ColourOf(action)
			if !ok {
				continue
			}
			n++
			if opt.Color != want {
				t.Errorf("%s: value mapping colours %s %s, want %s", where, action, opt.Color, want)
			}
		}
	}
	if n > 0 && n != len(ActionColours) {
		t.Errorf("%s: value mappings colour %d of the %d mapped actions", where, n, len(ActionColours))
	}
}

// ---------------------------------------------------------------- links

var dashLinkRe = regexp.MustCompile(`/d/([A-Za-z0-9_-]+)(/[A-Za-z0-9_-]*)?(\?[^\s"']*)?`)

// Links to /d/<uid> point at provisioned dashboards and set only their
// variables.
func TestLinks(t *testing.T) {
	root := repoRoot(t)
	dashboards := loadDashboards(t)
	byUID := map[string]Dashboard{}
	for _, d := range dashboards {
		byUID[d.UID] = d
	}
	check := func(where, text string) int {
		n := 0
		for _, m := range dashLinkRe.FindAllStringSubmatch(text, -1) {
			n++
			target, ok := byUID[m[1]]
			if !ok {
				t.Errorf("%s: link to unknown dashboard %q", where, m[1])
				continue
			}
			q := strings.ReplaceAll(strings.TrimPrefix(m[3], "?"), "{{", "")
			for _, part := range strings.Split(q, "&") {
				name, _, _ := strings.Cut(part, "=")
				if strings.HasPrefix(name, "var-") {
					if _, ok := target.Variable(strings.TrimPrefix(name, "var-")); !ok {
						t.Errorf("%s: link sets %s, but %s has no such variable", where, name, target.UID)
					}
				}
				if strings.HasPrefix(name, "${") && strings.Contains(name, ":queryparam}") {
					v := strings.TrimSuffix(strings.TrimPrefix(name, "${"), ":queryparam}")
					if _, ok := target.Variable(v); !ok {
						t.Errorf("%s: link passes %s, but %s has no such variable", where, v, target.UID)
					}
				}
			}
		}
		return n
	}
	links := 0
	for _, d := range dashboards {
		for _, p := range d.AllPanels() {
			links += check(fmt.Sprintf("%s: panel %q", d.File, p.Title), string(p.Raw))
		}
	}
	groups, err := LoadAlertRules(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			for k, v := range r.Annotations {
				links += check(fmt.Sprintf("%s: rule %q annotation %s", g.File, r.Title, k), v)
			}
		}
	}
	if links == 0 {
		t.Error("no dashboard links found (the event id links to Event details are missing)")
	}
	// The recent-events log links each id to the Event details dashboard.
	for _, d := range dashboards {
		if d.UID != "auditlog-overview" {
			continue
		}
		found := false
		for _, p := range d.AllPanels() {
			if p.Type == "logs" && strings.Contains(string(p.Raw), "/d/auditlog-event-details/event-details?var-event_id=${__value.raw}") {
				found = true
			}
		}
		if !found {
			t.Error("audit-overview: no logs panel links id to /d/auditlog-event-details/event-details?var-event_id=${__value.raw}")
		}
	}
}

// ---------------------------------------------------------------- alerting

type templateValue struct {
	Labels map[string]string
	Value  float64
}

func TestAlertRules(t *testing.T) {
	root := repoRoot(t)
	groups, err := LoadAlertRules(root)
	if err != nil {
		t.Fatal(err)
	}
	dss, err := LoadDatasources(root)
	if err != nil {
		t.Fatal(err)
	}
	dashboards := loadDashboards(t)
	if len(groups) == 0 {
		t.Fatal("no rule groups")
	}
	uids, titles := map[string]bool{}, map[string]bool{}
	uidRe := regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)
	for _, g := range groups {
		if g.Folder != "Auditlog" || g.Interval != "1m" || g.OrgID != 1 || g.Name == "" {
			t.Errorf("%s: group %q: folder %q interval %q orgId %d, want Auditlog, 1m, 1", g.File, g.Name, g.Folder, g.Interval, g.OrgID)
		}
		if len(g.Rules) == 0 {
			t.Errorf("%s: group %q has no rules", g.File, g.Name)
		}
		for _, r := range g.Rules {
			where := fmt.Sprintf("%s: rule %q", g.File, r.Title)
			if !uidRe.MatchString(r.UID) || uids[r.UID] {
				t.Errorf("%s: uid %q invalid or duplicate", where, r.UID)
			}
			if r.Title == "" || titles[r.Title] {
				t.Errorf("%s: title empty or duplicate", where)
			}
			uids[r.UID], titles[r.Title] = true, true
			if r.NoDataState != "OK" || r.ExecErrState != "Error" {
				t.Errorf("%s: noDataState %q execErrState %q, want OK and Error", where, r.NoDataState, r.ExecErrState)
			}
			if d, err := time.ParseDuration(r.For); err != nil || d > time.Minute {
				t.Errorf("%s: for %q, want 0m or 1m", where, r.For)
			}
			checkRuleData(t, where, r, dss)
			checkRuleLabels(t, where, r, dashboards)
		}
	}
}

func checkRuleData(t *testing.T, where string, r AlertRule, dss []Datasource) {
	t.Helper()
	refs := map[string]RuleQuery{}
	for _, q := range r.Data {
		if q.RefID == "" || refs[q.RefID].RefID != "" {
			t.Errorf("%s: refId %q missing or duplicate", where, q.RefID)
		}
		refs[q.RefID] = q
		if mr, _ := q.Model["refId"].(string); mr != q.RefID {
			t.Errorf("%s: %s: model.refId %q differs", where, q.RefID, mr)
		}
	}
	cond, ok := refs[r.Condition]
	if !ok {
		t.Errorf("%s: condition %q is not a refId of its data", where, r.Condition)
		return
	}
	var reduce, threshold, queries []RuleQuery
	for _, q := range r.Data {
		if q.DatasourceUID != ExprUID {
			queries = append(queries, q)
			continue
		}
		switch q.Model["type"] {
		case "reduce":
			reduce = append(reduce, q)
		case "threshold":
			threshold = append(threshold, q)
		}
	}
	if len(queries) != 1 || len(reduce) != 1 || len(threshold) != 1 {
		t.Errorf("%s: want one query, one reduce and one threshold; got %d, %d, %d", where, len(queries), len(reduce), len(threshold))
		return
	}
	a, b, c := queries[0], reduce[0], threshold[0]
	if cond.RefID != c.RefID {
		t.Errorf("%s: condition %s is not the threshold %s", where, r.Condition, c.RefID)
	}
	if b.Model["expression"] != a.RefID || c.Model["expression"] != b.RefID {
		t.Errorf("%s: want threshold(%s) over reduce(%s) over query %s; got expressions %v, %v", where, c.RefID, b.RefID, a.RefID, c.Model["expression"], b.Model["expression"])
	}
	if red := b.Model["reducer"]; red != "sum" && red != "last" && red != "max" {
		t.Errorf("%s: reducer %v, want sum, last or max", where, red)
	}
	if s, _ := b.Model["settings"].(map[string]any); s == nil || s["mode"] != "dropNN" {
		t.Errorf("%s: reduce mode %v, want dropNN", where, b.Model["settings"])
	}
	conds, _ := c.Model["conditions"].([]any)
	if len(conds) != 1 {
		t.Errorf("%s: threshold needs one condition", where)
	} else {
		ev, _ := conds[0].(map[string]any)["evaluator"].(map[string]any)
		params, _ := ev["params"].([]any)
		if ev["type"] != "gt" || len(params) != 1 {
			t.Errorf("%s: threshold evaluator %v, want gt with one param", where, ev)
		}
	}
	for _, e := range []RuleQuery{b, c} {
		ds, _ := e.Model["datasource"].(map[string]any)
		if ds["uid"] != ExprUID || ds["type"] != ExprUID {
			t.Errorf("%s: expression %s datasource %v, want %s", where, e.RefID, ds, ExprUID)
		}
	}
	if !provisioned(dss, a.DatasourceUID) || a.DatasourceUID != "auditlog" {
		t.Errorf("%s: query %s on datasource %q, want the provisioned uid auditlog", where, a.RefID, a.DatasourceUID)
	}
	ds, _ := a.Model["datasource"].(map[string]any)
	if ds["uid"] != a.DatasourceUID || ds["type"] != PluginID {
		t.Errorf("%s: model datasource %v disagrees with datasourceUid %s", where, ds, a.DatasourceUID)
	}
	if a.Model["queryType"] != "timeseries" {
		t.Errorf("%s: queryType %v; alerting needs the timeseries query", where, a.Model["queryType"])
	}
	if g, _ := a.Model["groupBy"].(string); !slices.Contains(GroupBys, g) {
		t.Errorf("%s: groupBy %q: an alert per %v needs a groupBy", where, g, GroupBys)
	}
	if a.Range() <= 0 || a.Range() > time.Hour {
		t.Errorf("%s: relativeTimeRange %+v", where, a.RelativeTimeRange)
	}
	model, _ := a.ModelJSON()
	checkModel(t, where+" query "+a.RefID, model)
}

// checkRuleLabels checks labels, routing labels, and that the annotation
// templates parse and only use labels the alert has.
func checkRuleLabels(t *testing.T, where string, r AlertRule, dashboards []Dashboard) {
	t.Helper()
	var groupBy string
	for _, q := range r.Data {
		if q.DatasourceUID != ExprUID {
			groupBy, _ = q.Model["groupBy"].(string)
		}
	}
	for _, k := range []string{"severity", "team", "notify"} {
		if r.Labels[k] == "" {
			t.Errorf("%s: no %s label", where, k)
		}
	}
	if r.Labels["team"] != "security" {
		t.Errorf("%s: team %q, want security", where, r.Labels["team"])
	}
	if n := r.Labels["notify"]; n != "once" && n != "repeat" {
		t.Errorf("%s: notify %q, want once or repeat", where, n)
	}
	if r.Labels["action"] == "" && groupBy != "action" {
		t.Errorf("%s: no action label and not grouped by action (notifications group by action)", where)
	}
	if a := r.Labels["action"]; a != "" && !KnownAction(a) {
		t.Errorf("%s: action label %q is not an action", where, a)
	}
	if _, clash := r.Labels[groupBy]; clash {
		t.Errorf("%s: label %s would override the query's %s label", where, groupBy, groupBy)
	}
	for k, v := range r.Labels {
		// Grafana expands $VAR in provisioned labels: no $ at all.
		if strings.Contains(v, "$") {
			t.Errorf("%s: label %s=%q contains $ (Grafana expands env vars in labels)", where, k, v)
		}
	}
	for _, k := range []string{"summary", "description"} {
		if strings.TrimSpace(r.Annotations[k]) == "" {
			t.Errorf("%s: no %s annotation", where, k)
		}
	}
	labels := map[string]string{groupBy: "alice"}
	for k, v := range r.Labels {
		labels[k] = v
	}
	data := struct {
		Labels map[string]string
		Values map[string]templateValue
		Value  string
	}{labels, map[string]templateValue{"A": {labels, 7}, "B": {labels, 7}, "C": {labels, 1}}, ""}
	for k, v := range r.Annotations {
		if strings.Contains(v, "$") {
			t.Errorf("%s: annotation %s uses $ (use .Labels/.Values: later Grafana versions expand env vars in annotations)", where, k)
		}
		tmpl, err := template.New(k).Option("missingkey=error").Parse(v)
		if err != nil {
			t.Errorf("%s: annotation %s: %v", where, k, err)
			continue
		}
		var out strings.Builder
		if err := tmpl.Execute(&out, data); err != nil {
			t.Errorf("%s: annotation %s uses a label the alert does not have (only %v): %v", where, k, keys(labels), err)
		}
	}
	if uid, ok := r.Annotations["__dashboardUid__"]; ok {
		var found bool
		for _, d := range dashboards {
			if d.UID != uid {
				continue
			}
			for _, p := range d.AllPanels() {
				if fmt.Sprint(p.ID) == r.Annotations["__panelId__"] {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s: __dashboardUid__ %s / __panelId__ %s is not a provisioned panel", where, uid, r.Annotations["__panelId__"])
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------- notification routing

type contactPointsFile struct {
	APIVersion    int `yaml:"apiVersion"`
	ContactPoints []struct {
		OrgID     int    `yaml:"orgId"`
		Name      string `yaml:"name"`
		Receivers []struct {
			UID                   string         `yaml:"uid"`
			Type                  string         `yaml:"type"`
			DisableResolveMessage bool           `yaml:"disableResolveMessage"`
			Settings              map[string]any `yaml:"settings"`
		} `yaml:"receivers"`
	} `yaml:"contactPoints"`
}

type route struct {
	Receiver       string     `yaml:"receiver"`
	GroupBy        []string   `yaml:"group_by"`
	ObjectMatchers [][]string `yaml:"object_matchers"`
	GroupWait      string     `yaml:"group_wait"`
	GroupInterval  string     `yaml:"group_interval"`
	RepeatInterval string     `yaml:"repeat_interval"`
	Continue       bool       `yaml:"continue"`
	Routes         []route    `yaml:"routes"`
}

type policiesFile struct {
	APIVersion int `yaml:"apiVersion"`
	Policies   []struct {
		OrgID int `yaml:"orgId"`
		route `yaml:",inline"`
	} `yaml:"policies"`
}

func (r route) matches(labels map[string]string) bool {
	for _, m := range r.ObjectMatchers {
		if len(m) != 3 {
			return false
		}
		v := labels[m[0]]
		switch m[1] {
		case "=":
			if v != m[2] {
				return false
			}
		case "!=":
			if v == m[2] {
				return false
			}
		case "=~", "!~":
			ok := regexp.MustCompile("^(?:" + m[2] + ")$").MatchString(v)
			if ok != (m[1] == "=~") {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// resolved is a route with inherited settings filled in.
type resolvedRoute struct {
	Receiver, RepeatInterval string
	GroupBy                  []string
	Path                     []int
}

// routeFor walks the policy tree like Alertmanager: the first matching
// child (no "continue" in this tree) handles the alert, else the parent.
func routeFor(r route, labels map[string]string, inherited resolvedRoute) resolvedRoute {
	cur := inherited
	if r.Receiver != "" {
		cur.Receiver = r.Receiver
	}
	if r.RepeatInterval != "" {
		cur.RepeatInterval = r.RepeatInterval
	}
	if r.GroupBy != nil {
		cur.GroupBy = r.GroupBy
	}
	for i, c := range r.Routes {
		if c.matches(labels) {
			next := cur
			next.Path = append(append([]int{}, cur.Path...), i)
			return routeFor(c, labels, next)
		}
	}
	return cur
}

func TestNotificationRouting(t *testing.T) {
	root := repoRoot(t)
	var cp contactPointsFile
	if err := decodeYAMLFile(filepath.Join(root, "provisioning", "alerting", "contact-points.yaml"), &cp); err != nil {
		t.Fatal(err)
	}
	receivers := map[string]bool{"grafana-default-email": true} // exists in every Grafana
	types := map[string]map[string]bool{}
	for _, c := range cp.ContactPoints {
		receivers[c.Name] = true
		types[c.Name] = map[string]bool{}
		for _, r := range c.Receivers {
			types[c.Name][r.Type] = true
			if r.UID == "" || len(r.UID) > 40 {
				t.Errorf("contact point %s: receiver uid %q", c.Name, r.UID)
			}
			switch r.Type {
			case "webhook":
				if r.Settings["url"] != "$AUDITLOG_ALERT_WEBHOOK_URL" {
					t.Errorf("contact point %s: webhook url %v, want $AUDITLOG_ALERT_WEBHOOK_URL", c.Name, r.Settings["url"])
				}
			case "email":
				if r.Settings["addresses"] != "$AUDITLOG_ALERT_EMAIL" {
					t.Errorf("contact point %s: addresses %v, want $AUDITLOG_ALERT_EMAIL", c.Name, r.Settings["addresses"])
				}
			default:
				t.Errorf("contact point %s: unexpected type %s", c.Name, r.Type)
			}
		}
	}
	var pf policiesFile
	if err := decodeYAMLFile(filepath.Join(root, "provisioning", "alerting", "policies.yaml"), &pf); err != nil {
		t.Fatal(err)
	}
	if len(pf.Policies) != 1 {
		t.Fatalf("policies.yaml: %d policy trees, want 1", len(pf.Policies))
	}
	tree := pf.Policies[0].route
	var walk func(r route)
	walk = func(r route) {
		if r.Receiver != "" && !receivers[r.Receiver] {
			t.Errorf("policies.yaml: receiver %q is not a contact point", r.Receiver)
		}
		for _, d := range []string{r.GroupWait, r.GroupInterval, r.RepeatInterval} {
			if d != "" {
				if _, err := time.ParseDuration(d); err != nil {
					t.Errorf("policies.yaml: %v", err)
				}
			}
		}
		for _, c := range r.Routes {
			walk(c)
		}
	}
	walk(tree)

	groups, err := LoadAlertRules(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			labels := map[string]string{"alertname": r.Title, "grafana_folder": g.Folder}
			for k, v := range r.Labels {
				labels[k] = v
			}
			got := routeFor(tree, labels, resolvedRoute{})
			where := fmt.Sprintf("rule %q (notify=%s)", r.Title, r.Labels["notify"])
			if len(got.Path) != 2 {
				t.Errorf("%s: routed to depth %d, want a child of the team=security route", where, len(got.Path))
			}
			if !slices.Contains(got.GroupBy, "user") || !slices.Contains(got.GroupBy, "action") {
				t.Errorf("%s: grouped by %v, want user and action", where, got.GroupBy)
			}
			repeat, _ := time.ParseDuration(got.RepeatInterval)
			switch r.Labels["notify"] {
			case "once":
				if repeat < 365*24*time.Hour {
					t.Errorf("%s: repeat_interval %s; send-once rules must effectively never repeat", where, got.RepeatInterval)
				}
				if !types[got.Receiver]["webhook"] || types[got.Receiver]["email"] {
					t.Errorf("%s: goes to %q; send-once goes to the chat webhook only", where, got.Receiver)
				}
			case "repeat":
				if repeat != 4*time.Hour {
					t.Errorf("%s: repeat_interval %s, want 4h", where, got.RepeatInterval)
				}
				if !types[got.Receiver]["webhook"] || !types[got.Receiver]["email"] {
					t.Errorf("%s: goes to %q, want webhook and e-mail", where, got.Receiver)
				}
			}
		}
	}
	// Alerts of other teams stay at the root.
	if got := routeFor(tree, map[string]string{"team": "ops"}, resolvedRoute{}); got.Receiver != tree.Receiver || len(got.Path) != 0 {
		t.Errorf("an alert without team=security is routed to %+v", got)
	}
}

// Every env var the provisioning files read is set by each Grafana of
// docker-compose.yaml (empty contact point settings fail provisioning).
func TestProvisioningEnvVars(t *testing.T) {
	root := repoRoot(t)
	refs := map[string][]string{}
	err := filepath.WalkDir(filepath.Join(root, "provisioning"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || (filepath.Ext(p) != ".yaml" && filepath.Ext(p) != ".yml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			return err
		}
		for _, s := range yamlStrings(v, "") {
			if strings.Contains(s.path, "annotations") { // not expanded by Grafana
				continue
			}
			for _, m := range envRefRe.FindAllStringSubmatch(s.value, -1) {
				if name := firstNonEmpty(m[1], m[2]); name != "" {
					refs[name] = append(refs[name], rel(root, p)+":"+s.path)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"AUDITLOG_ALERT_WEBHOOK_URL", "AUDITLOG_ALERT_EMAIL", "AUDITLOG_CLICKHOUSE_PASSWORD", "AUDITLOG_GEOIP_CITY_PATH"} {
		if refs[want] == nil {
			t.Errorf("provisioning never reads $%s", want)
		}
	}
	c := loadCompose(t, root)
	for _, svc := range grafanaServices(c) {
		env := c.Services[svc].env()
		for name, where := range refs {
			if _, ok := env[name]; !ok {
				t.Errorf("compose service %s does not set %s (read by %v)", svc, name, where)
			}
		}
		for _, name := range []string{"AUDITLOG_ALERT_WEBHOOK_URL", "AUDITLOG_ALERT_EMAIL"} {
			if env[name] == "" {
				t.Errorf("compose service %s: %s is empty; Grafana rejects an empty contact point", svc, name)
			}
		}
	}
}

type yamlString struct{ path, value string }

func yamlStrings(v any, path string) []yamlString {
	var out []yamlString
	switch v := v.(type) {
	case string:
		out = append(out, yamlString{path, v})
	case map[string]any:
		for k, x := range v {
			out = append(out, yamlStrings(x, path+"."+k)...)
		}
	case []any:
		for i, x := range v {
			out = append(out, yamlStrings(x, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

// ---------------------------------------------------------------- dashboards provider

func TestDashboardProvider(t *testing.T) {
	root := repoRoot(t)
	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name    string `yaml:"name"`
			OrgID   int    `yaml:"orgId"`
			Type    string `yaml:"type"`
			Folder  string `yaml:"folder"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := decodeYAMLFile(filepath.Join(root, "provisioning", "dashboards", "dashboards.yaml"), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Providers) != 1 {
		t.Fatalf("dashboards.yaml: %d providers, want 1", len(f.Providers))
	}
	p := f.Providers[0]
	if p.Type != "file" || p.Folder != "Auditlog" || p.OrgID != 1 {
		t.Errorf("provider: type %q folder %q orgId %d, want file, Auditlog, 1", p.Type, p.Folder, p.OrgID)
	}
	if p.Options.Path != "/etc/grafana/provisioning/dashboards" {
		t.Errorf("provider path %q, want /etc/grafana/provisioning/dashboards", p.Options.Path)
	}
	// The path, seen through each compose Grafana's mounts, is the directory
	// holding the dashboards.
	c := loadCompose(t, root)
	want := filepath.Join(root, "provisioning", "dashboards")
	for _, svc := range grafanaServices(c) {
		host, ok := c.Services[svc].hostPath(root, p.Options.Path)
		if !ok || filepath.Clean(host) != want {
			t.Errorf("compose service %s: provider path %s maps to %q, want %s", svc, p.Options.Path, host, want)
		}
		home := c.Services[svc].env()["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
		if home != "" {
			hp, ok := c.Services[svc].hostPath(root, home)
			if _, err := os.Stat(hp); !ok || err != nil {
				t.Errorf("compose service %s: home dashboard %s is not a provisioned file (%s)", svc, home, hp)
			}
		}
	}
}
