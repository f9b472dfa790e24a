// Package localgrafana starts a Grafana installed on this machine with the
// plugin from dist/, the provisioned dashboards and alert rules, and a
// datasource on seeded demo data, for `go tool mage run`.
package localgrafana

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// PluginID is the plugin's id, allowed unsigned.
const PluginID = "auditlog-events-datasource"

// ErrNotInstalled says no Grafana was found.
var ErrNotInstalled = errors.New("no local Grafana: set GRAFANA_HOME or put grafana on PATH; without one, `docker compose up` gives Grafana with the plugin on http://127.0.0.1:3000")

// Install is a Grafana found on this machine.
type Install struct {
	Bin  string // grafana (or the older grafana-server)
	Home string // the homepath holding conf/defaults.ini
	// Server is true for the "grafana server" form of the newer binary.
	Server bool
}

// Find looks for Grafana in GRAFANA_HOME, then on PATH.
func Find() (Install, error) {
	if home := os.Getenv("GRAFANA_HOME"); home != "" {
		for _, name := range []string{"grafana", "grafana-server"} {
			p := filepath.Join(home, "bin", name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return Install{Bin: p, Home: home, Server: name == "grafana"}, nil
			}
		}
		return Install{}, fmt.Errorf("GRAFANA_HOME=%s has no bin/grafana or bin/grafana-server", home)
	}
	for _, name := range []string{"grafana", "grafana-server"} {
		if p, err := exec.LookPath(name); err == nil {
			return Install{Bin: p, Home: guessHome(p), Server: name == "grafana"}, nil
		}
	}
	return Install{}, ErrNotInstalled
}

// guessHome finds the homepath of a Grafana binary: Debian's packages keep
// it in /usr/share/grafana, tarballs one level above bin/.
func guessHome(bin string) string {
	real, err := filepath.EvalSymlinks(bin)
	if err == nil {
		if h := filepath.Dir(filepath.Dir(real)); exists(filepath.Join(h, "conf", "defaults.ini")) {
			return h
		}
	}
	return "/usr/share/grafana"
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// Config is what the local Grafana gets.
type Config struct {
	Repo     string // the checkout: dist/ and provisioning/ come from it
	StateDir string // Grafana's data, logs, plugins and provisioning go here
	DataPath string // the embedded engine's data path for the datasource
	GeoIP    string // optional City database path
	ChdbLib  string // libchdb path for the plugin process
	Addr     string // host, default 127.0.0.1
	Port     string // default 3000
}

// Prepare lays out StateDir: a plugins dir linking to dist/, and a
// provisioning tree whose datasource points at DataPath. The dashboards and
// alert rules are the repository's own files.
func Prepare(c Config) error {
	if !exists(filepath.Join(c.Repo, "dist", "plugin.json")) {
		return fmt.Errorf("localgrafana: %s has no built plugin: run `go tool mage build`", filepath.Join(c.Repo, "dist"))
	}
	prov := filepath.Join(c.StateDir, "provisioning")
	if err := os.RemoveAll(prov); err != nil {
		return fmt.Errorf("localgrafana: %w", err)
	}
	for _, d := range []string{"plugins", "data", "logs", "provisioning/datasources", "provisioning/dashboards", "provisioning/alerting", "provisioning/plugins"} {
		if err := os.MkdirAll(filepath.Join(c.StateDir, d), 0o755); err != nil {
			return fmt.Errorf("localgrafana: %w", err)
		}
	}
	link := filepath.Join(c.StateDir, "plugins", PluginID)
	_ = os.Remove(link)
	if err := os.Symlink(filepath.Join(c.Repo, "dist"), link); err != nil {
		return fmt.Errorf("localgrafana: link plugin: %w", err)
	}
	ds := fmt.Sprintf(`apiVersion: 1
datasources:
  - name: Auditlog
    uid: auditlog
    type: %s
    access: proxy
    isDefault: true
    editable: true
    jsonData:
      engine: embedded
      dataPath: %q
      geoipCityPath: %q
      retentionDays: 365
      retentionRules:
        - {action: login_failed, days: 30}
        - {action: model_deleted, days: 1825}
`, PluginID, c.DataPath, c.GeoIP)
	if err := os.WriteFile(filepath.Join(prov, "datasources", "auditlog.yaml"), []byte(ds), 0o644); err != nil {
		return fmt.Errorf("localgrafana: %w", err)
	}
	dashDir := filepath.Join(c.Repo, "provisioning", "dashboards")
	provider := fmt.Sprintf(`apiVersion: 1
providers:
  - name: Auditlog
    folder: Auditlog
    type: file
    options:
      path: %q
`, dashDir)
	if err := os.WriteFile(filepath.Join(prov, "dashboards", "auditlog.yaml"), []byte(provider), 0o644); err != nil {
		return fmt.Errorf("localgrafana: %w", err)
	}
	return copyDir(filepath.Join(c.Repo, "provisioning", "alerting"), filepath.Join(prov, "alerting"))
}

// Command returns the Grafana process for the prepared StateDir.
func Command(in Install, c Config) *exec.Cmd {
	args := []string{"--homepath", in.Home}
	if in.Server {
		args = append([]string{"server"}, args...)
	}
	cmd := exec.Command(in.Bin, args...)
	addr, port := c.Addr, c.Port
	if addr == "" {
		addr = "127.0.0.1"
	}
	if port == "" {
		port = "3000"
	}
	cmd.Env = append(os.Environ(),
		"GF_PATHS_DATA="+filepath.Join(c.StateDir, "data"),
		"GF_PATHS_LOGS="+filepath.Join(c.StateDir, "logs"),
		"GF_PATHS_PLUGINS="+filepath.Join(c.StateDir, "plugins"),
		"GF_PATHS_PROVISIONING="+filepath.Join(c.StateDir, "provisioning"),
		"GF_SERVER_HTTP_ADDR="+addr,
		"GF_SERVER_HTTP_PORT="+port,
		"GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS="+PluginID,
		"GF_AUTH_ANONYMOUS_ENABLED=true",
		"GF_AUTH_ANONYMOUS_ORG_ROLE=Admin",
		"GF_LOG_MODE=file",
		"CHDB_LIB_PATH="+c.ChdbLib,
		// The alert contact points read these; harmless defaults keep
		// provisioning from failing on empty values.
		"AUDITLOG_ALERT_WEBHOOK_URL="+envOr("AUDITLOG_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/auditlog-alerts"),
		"AUDITLOG_ALERT_EMAIL="+envOr("AUDITLOG_ALERT_EMAIL", "security@example.invalid"),
	)
	return cmd
}

// URL is where the prepared Grafana answers.
func URL(c Config) string {
	addr, port := c.Addr, c.Port
	if addr == "" {
		addr = "127.0.0.1"
	}
	if port == "" {
		port = "3000"
	}
	return "http://" + addr + ":" + port + "/d/auditlog-overview"
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
}
