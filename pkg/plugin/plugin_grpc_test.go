package plugin_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/auditlog/auditlog/pkg/plugin/plugintest"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
)

// TestCheckHealthOverGRPC launches the built plugin as Grafana does and
// checks the health of an embedded datasource on an empty data path.
func TestCheckHealthOverGRPC(t *testing.T) {
	c := plugintest.Start(t)
	dir := plugintest.Dir(t)

	res := c.CheckHealth(t, plugintest.Datasource{JSONData: map[string]any{"engine": "embedded", "dataPath": dir}})
	if res.Status != pluginv2.CheckHealthResponse_OK {
		t.Fatalf("health on an empty data path: %v %q", res.Status, res.Message)
	}
	for _, want := range []string{"embedded", "26.", "0 events", dir} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("health message %q lacks %q", res.Message, want)
		}
	}
	var details map[string]any
	if err := json.Unmarshal(res.JsonDetails, &details); err != nil || details["engine"] != "embedded" || details["location"] != dir {
		t.Errorf("health details %s (%v)", res.JsonDetails, err)
	}

	cases := []struct {
		name     string
		jsonData map[string]any
		want     string
	}{
		{"bad engine", map[string]any{"engine": "mysql"}, `engine must be "embedded" or "clickhouse", got "mysql"`},
		{"relative data path", map[string]any{"engine": "embedded", "dataPath": "rel/path"}, "must be an absolute path"},
		{"clickhouse without address", map[string]any{"engine": "clickhouse"}, "clickhouseAddr is required"},
		{"bad log level", map[string]any{"logLevel": "loud", "dataPath": dir}, "logLevel must be one of"},
		{"bad retention rule", map[string]any{"dataPath": dir, "retentionRules": []map[string]any{{"action": "Bad Action", "days": 3}}}, "retentionRules[0]"},
		{"bad tenant", map[string]any{"dataPath": dir, "tenant": "a b"}, "tenant"},
		{"second data path in one process", map[string]any{"dataPath": plugintest.Dir(t)}, "already has data path"},
		{"unreachable server", map[string]any{"engine": "clickhouse", "clickhouseAddr": "127.0.0.1:1"}, "unreachable"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := c.CheckHealth(t, plugintest.Datasource{UID: "ds" + string(rune('a'+i)), JSONData: tc.jsonData})
			if res.Status != pluginv2.CheckHealthResponse_ERROR {
				t.Fatalf("status %v, want ERROR (%q)", res.Status, res.Message)
			}
			if !strings.Contains(res.Message, tc.want) {
				t.Errorf("message %q lacks %q", res.Message, tc.want)
			}
		})
	}
}
