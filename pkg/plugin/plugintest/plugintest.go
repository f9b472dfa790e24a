// Package plugintest drives the built plugin binary the way Grafana does:
// it starts the executable, completes the go-plugin handshake and calls the
// plugin's gRPC services.
package plugintest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the plugin executable once per test process.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "auditlog-plugin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gpx_auditlog")
		cmd := exec.Command("go", "build", "-o", binPath, "./pkg")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build plugin: %v\n%s", err, b)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Client is a running plugin process.
type Client struct {
	Diagnostics pluginv2.DiagnosticsClient
	Data        pluginv2.DataClient
	Resource    pluginv2.ResourceClient
	Stream      pluginv2.StreamClient
	client      *goplugin.Client
	stderr      *stderrLog
}

// Stderr is everything the plugin wrote to stderr (its log) so far, for
// tests that check what it logs, or never logs.
func (c *Client) Stderr() string { return c.stderr.String() }

// stderrLog keeps the plugin's stderr and passes it on to the test log.
type stderrLog struct {
	t  testing.TB
	mu sync.Mutex
	b  strings.Builder
}

func (s *stderrLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.b.Write(p)
	s.mu.Unlock()
	return testWriter{s.t}.Write(p)
}

func (s *stderrLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start launches the plugin binary with the handshake Grafana uses and
// stops it when the test ends. env is added to the process environment.
func Start(t testing.TB, env ...string) *Client {
	t.Helper()
	bin := Binary(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	stderr := &stderrLog{t: t}
	c := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  grpcplugin.ProtocolVersion,
			MagicCookieKey:   grpcplugin.MagicCookieKey,
			MagicCookieValue: grpcplugin.MagicCookieValue,
		},
		VersionedPlugins: map[int]goplugin.PluginSet{grpcplugin.ProtocolVersion: {
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
			"data":        &grpcplugin.DataGRPCPlugin{},
			"resource":    &grpcplugin.ResourceGRPCPlugin{},
			"stream":      &grpcplugin.StreamGRPCPlugin{},
		}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Error}),
		Stderr:           stderr,
	})
	t.Cleanup(c.Kill)
	runningMu.Lock()
	running[t] = append(running[t], c)
	runningMu.Unlock()
	rpc, err := c.Client()
	if err != nil {
		t.Fatalf("plugin handshake: %v", err)
	}
	pc := &Client{client: c, stderr: stderr}
	for name, dst := range map[string]any{"diagnostics": &pc.Diagnostics, "data": &pc.Data, "resource": &pc.Resource, "stream": &pc.Stream} {
		raw, err := rpc.Dispense(name)
		if err != nil {
			t.Fatalf("dispense %s: %v", name, err)
		}
		switch d := dst.(type) {
		case *pluginv2.DiagnosticsClient:
			*d = raw.(pluginv2.DiagnosticsClient)
		case *pluginv2.DataClient:
			*d = raw.(pluginv2.DataClient)
		case *pluginv2.ResourceClient:
			*d = raw.(pluginv2.ResourceClient)
		case *pluginv2.StreamClient:
			*d = raw.(pluginv2.StreamClient)
		}
	}
	return pc
}

// testWriter sends the plugin's stderr to the test log, so a failing test
// shows what the plugin said.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Datasource is the datasource part of a plugin context.
type Datasource struct {
	UID      string
	JSONData map[string]any
	Secure   map[string]string
}

// PluginContext builds the context Grafana sends with every call.
func (d Datasource) PluginContext(t testing.TB, role string) *pluginv2.PluginContext {
	t.Helper()
	js, err := json.Marshal(d.JSONData)
	if err != nil {
		t.Fatal(err)
	}
	uid := d.UID
	if uid == "" {
		uid = "auditlog-test"
	}
	pc := &pluginv2.PluginContext{
		OrgId:    1,
		PluginId: "auditlog-events-datasource",
		DataSourceInstanceSettings: &pluginv2.DataSourceInstanceSettings{
			Id: 1, Uid: uid, Name: "Auditlog", JsonData: js, DecryptedSecureJsonData: d.Secure,
			LastUpdatedMS: 1,
		},
	}
	if role != "" {
		pc.User = &pluginv2.User{Login: "tester", Role: role}
	}
	return pc
}

// CheckHealth calls CheckHealth with the datasource's settings.
func (c *Client) CheckHealth(t testing.TB, ds Datasource) *pluginv2.CheckHealthResponse {
	t.Helper()
	res, err := c.Diagnostics.CheckHealth(context.Background(), &pluginv2.CheckHealthRequest{PluginContext: ds.PluginContext(t, "Admin")})
	if err != nil {
		t.Fatalf("CheckHealth: %v", err)
	}
	return res
}

// Resource is the answer to a CallResource call.
type Resource struct {
	Status int
	Body   []byte
}

// CallResource sends one resource request as Grafana forwards
// /api/datasources/uid/<uid>/resources/<path>.
func (c *Client) CallResource(t testing.TB, ds Datasource, role, method, path string, body []byte, headers map[string]string) Resource {
	t.Helper()
	req := &pluginv2.CallResourceRequest{PluginContext: ds.PluginContext(t, role), Path: strings.TrimPrefix(path, "/"),
		Method: method, Url: path, Body: body, Headers: map[string]*pluginv2.StringList{}}
	if i := strings.IndexByte(req.Path, '?'); i >= 0 {
		req.Path = req.Path[:i]
	}
	for k, v := range headers {
		req.Headers[k] = &pluginv2.StringList{Values: []string{v}}
	}
	stream, err := c.Resource.CallResource(context.Background(), req)
	if err != nil {
		t.Fatalf("CallResource %s %s: %v", method, path, err)
	}
	var out Resource
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("CallResource %s %s: %v", method, path, err)
		}
		if msg.Code != 0 {
			out.Status = int(msg.Code)
		}
		out.Body = append(out.Body, msg.Body...)
	}
	return out
}

// QueryData sends queries (each a JSON query model) over the given range,
// as Grafana does for panels and alert rules, and decodes the frames.
func (c *Client) QueryData(t testing.TB, ds Datasource, from, to time.Time, interval time.Duration, queries ...string) *backend.QueryDataResponse {
	t.Helper()
	req := &pluginv2.QueryDataRequest{PluginContext: ds.PluginContext(t, "Viewer")}
	for i, q := range queries {
		var m struct {
			RefID     string `json:"refId"`
			QueryType string `json:"queryType"`
		}
		_ = json.Unmarshal([]byte(q), &m)
		if m.RefID == "" {
			m.RefID = string(rune('A' + i))
		}
		req.Queries = append(req.Queries, &pluginv2.DataQuery{RefId: m.RefID, QueryType: m.QueryType, Json: []byte(q),
			TimeRange:  &pluginv2.TimeRange{FromEpochMS: from.UnixMilli(), ToEpochMS: to.UnixMilli()},
			IntervalMS: interval.Milliseconds(), MaxDataPoints: 1000})
	}
	pb, err := c.Data.QueryData(context.Background(), req)
	if err != nil {
		t.Fatalf("QueryData: %v", err)
	}
	res, err := backend.FromProto().QueryDataResponse(pb)
	if err != nil {
		t.Fatalf("decode QueryData response: %v", err)
	}
	return res
}

// Tail subscribes to the live tail with the given filters as Grafana Live
// does (SubscribeStream, then RunStream on "tail/<base64url JSON>") and
// returns the JSON of each frame the plugin sends; the channel closes
// when the stream ends, at the latest after 30 s or with the test.
func (c *Client) Tail(t testing.TB, pc *pluginv2.PluginContext, filters any) <-chan []byte {
	t.Helper()
	js, err := json.Marshal(filters)
	if err != nil {
		t.Fatal(err)
	}
	path := "tail/" + base64.RawURLEncoding.EncodeToString(js)
	sub, err := c.Stream.SubscribeStream(context.Background(), &pluginv2.SubscribeStreamRequest{PluginContext: pc, Path: path})
	if err != nil || sub.Status != pluginv2.SubscribeStreamResponse_OK {
		t.Fatalf("subscribe %s: %v %v", path, sub, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	stream, err := c.Stream.RunStream(ctx, &pluginv2.RunStreamRequest{PluginContext: pc, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan []byte, 16)
	go func() {
		defer close(out)
		for {
			pkt, err := stream.Recv()
			if err != nil {
				return
			}
			out <- pkt.Data
		}
	}()
	return out
}

var (
	runningMu sync.Mutex
	running   = map[testing.TB][]*goplugin.Client{}
)

// Dir returns a temporary directory for a datasource's data. Unlike
// t.TempDir, whose removal runs before the cleanup of a plugin started
// earlier in the test, it first stops the test's plugin processes, so the
// embedded engine is not still writing into a directory being removed.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "auditlog-plugin-data-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		runningMu.Lock()
		clients := running[t]
		delete(running, t)
		runningMu.Unlock()
		for _, c := range clients {
			c.Kill()
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}
