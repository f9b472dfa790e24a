package localgrafana

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// fakeGrafana installs a script that records how it was started, standing
// in for a Grafana that cannot be installed on the test machine.
func fakeGrafana(t *testing.T) (home, record string) {
	home = t.TempDir()
	record = filepath.Join(t.TempDir(), "started")
	os.MkdirAll(filepath.Join(home, "bin"), 0o755)
	script := "#!/bin/sh\n{ echo \"ARGS $*\"; env; } > " + record + "\n"
	if err := os.WriteFile(filepath.Join(home, "bin", "grafana"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return home, record
}

func TestFindAndStart(t *testing.T) {
	home, record := fakeGrafana(t)
	t.Setenv("GRAFANA_HOME", home)
	in, err := Find()
	if err != nil || !in.Server || in.Home != home {
		t.Fatalf("Find: %+v %v", in, err)
	}

	repo := t.TempDir()
	os.MkdirAll(filepath.Join(repo, "dist"), 0o755)
	os.WriteFile(filepath.Join(repo, "dist", "plugin.json"), []byte(`{"id":"auditlog-events-datasource"}`), 0o644)
	os.MkdirAll(filepath.Join(repo, "provisioning", "alerting"), 0o755)
	os.WriteFile(filepath.Join(repo, "provisioning", "alerting", "rules.yaml"), []byte("apiVersion: 1\n"), 0o644)
	cfg := Config{Repo: repo, StateDir: t.TempDir(), DataPath: "/data/auditlog", GeoIP: "/geo/city.mmdb", ChdbLib: "/lib/libchdb.so"}
	if err := Prepare(cfg); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(cfg.StateDir, "plugins", PluginID)); err != nil || target != filepath.Join(repo, "dist") {
		t.Errorf("plugin link: %q %v", target, err)
	}
	var ds struct {
		Datasources []struct {
			UID      string         `yaml:"uid"`
			Type     string         `yaml:"type"`
			JSONData map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	b, _ := os.ReadFile(filepath.Join(cfg.StateDir, "provisioning", "datasources", "auditlog.yaml"))
	if err := yaml.Unmarshal(b, &ds); err != nil || len(ds.Datasources) != 1 {
		t.Fatalf("datasource yaml: %v\n%s", err, b)
	}
	if d := ds.Datasources[0]; d.UID != "auditlog" || d.Type != PluginID || d.JSONData["dataPath"] != "/data/auditlog" || d.JSONData["geoipCityPath"] != "/geo/city.mmdb" {
		t.Errorf("datasource: %+v", d)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, "provisioning", "alerting", "rules.yaml")); err != nil {
		t.Errorf("alert rules not copied: %v", err)
	}

	if err := Command(in, cfg).Run(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(record)
	for _, want := range []string{
		"ARGS server --homepath " + home,
		"GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS=" + PluginID,
		"GF_PATHS_PROVISIONING=" + filepath.Join(cfg.StateDir, "provisioning"),
		"GF_PATHS_PLUGINS=" + filepath.Join(cfg.StateDir, "plugins"),
		"GF_SERVER_HTTP_ADDR=127.0.0.1",
		"GF_SERVER_HTTP_PORT=3000",
		"CHDB_LIB_PATH=/lib/libchdb.so",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("grafana started without %q", want)
		}
	}
	if URL(cfg) != "http://127.0.0.1:3000/d/auditlog-overview" {
		t.Errorf("url %s", URL(cfg))
	}
}

func TestNotInstalled(t *testing.T) {
	t.Setenv("GRAFANA_HOME", "")
	t.Setenv("PATH", t.TempDir())
	if _, err := Find(); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "docker compose up") {
		t.Errorf("Find without Grafana: %v", err)
	}
	t.Setenv("GRAFANA_HOME", t.TempDir())
	if _, err := Find(); err == nil || !strings.Contains(err.Error(), "GRAFANA_HOME") {
		t.Errorf("empty GRAFANA_HOME: %v", err)
	}
}

func TestPrepareNeedsBuiltPlugin(t *testing.T) {
	if err := Prepare(Config{Repo: t.TempDir(), StateDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "mage build") {
		t.Errorf("Prepare without dist: %v", err)
	}
}
