package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/server"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var bg = context.Background()

const (
	ingestAcme = "ingest-acme-0123456789"
	readAcme   = "read-acme-0123456789ab"
	ingestAll  = "ingest-all-0123456789a"
	readAll    = "read-all-0123456789abc"
	adminAll   = "admin-all-0123456789ab"
	readGlobex = "read-globex-012345678"
)

const tokenFile = `# role and tenant per token
` + ingestAcme + ` ingest acme
` + readAcme + ` read acme
` + ingestAll + ` ingest *
` + readAll + ` read *
` + adminAll + ` admin *
` + readGlobex + ` read globex
`

var quiet = slog.New(slog.DiscardHandler)

type fixture struct {
	st  *store.Store
	w   *ingest.Writer
	s   *server.Server
	srv *httptest.Server
}

func newFixture(t *testing.T, tokens *access.Tokens, routes ...server.Route) *fixture {
	t.Helper()
	st := storetest.Embedded(t, store.Options{})
	w := ingest.NewWriter(st, ingest.WriterOptions{})
	s, err := server.New(server.Config{Tokens: tokens, Store: st, Writer: w, Routes: routes, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = w.Close(bg)
	})
	return &fixture{st: st, w: w, s: s, srv: srv}
}

func mustTokens(t *testing.T) *access.Tokens {
	t.Helper()
	toks, err := access.ParseTokens(strings.NewReader(tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("status %d: body %q is not JSON", a.status, a.body)
	}
	return m
}

func (f *fixture) do(t *testing.T, method, path, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func TestTokens(t *testing.T) {
	adminOnly := server.Route{Pattern: "GET /api/v1/admin-only", Role: access.RoleAdmin,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := access.FromContext(r.Context())
			ingest.WriteJSON(w, 200, map[string]string{"principal": p.String()})
		})}
	public := server.Route{Pattern: "GET /metrics", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, hasPrincipal := access.FromContext(r.Context())
		fmt.Fprintf(w, "public %v\n", hasPrincipal)
	})}
	f := newFixture(t, mustTokens(t), adminOnly, public)

	acmeID, globexID := event.NewID(time.Now()), event.NewID(time.Now())
	for _, tc := range []struct {
		name, method, path, token, body string
		status                          int
		errPart                         string
	}{
		{"no token", "POST", "/api/v1/events", "", `{"action":"login"}`, 401, "missing bearer token"},
		{"unknown token", "POST", "/api/v1/events", "nope-nope-nope-nope-nope", `{"action":"login"}`, 401, "unknown bearer token"},
		{"read token may not write", "POST", "/api/v1/events", readAcme, `{"action":"login"}`, 403, `role "read"`},
		{"scoped ingest, no tenant named", "POST", "/api/v1/events", ingestAcme, fmt.Sprintf(`{"id":%q,"action":"login"}`, acmeID), 200, ""},
		{"scoped ingest, own tenant", "POST", "/api/v1/events", ingestAcme, `{"action":"login","tenant":"acme"}`, 200, ""},
		{"scoped ingest, other tenant", "POST", "/api/v1/events", ingestAcme, `{"action":"login","tenant":"globex"}`, 403, `may not write events of tenant "globex"`},
		{"unscoped ingest, any tenant", "POST", "/api/v1/events", ingestAll, fmt.Sprintf(`{"id":%q,"action":"login","tenant":"globex"}`, globexID), 200, ""},
		{"admin writes", "POST", "/api/v1/events", adminAll, `{"action":"logout"}`, 200, ""},
		{"ingest token may not read", "GET", "/api/v1/events/" + acmeID, ingestAcme, "", 403, `needs role "read"`},
		{"scoped reader, own event", "GET", "/api/v1/events/" + acmeID, readAcme, "", 200, ""},
		{"scoped reader, other tenant's event", "GET", "/api/v1/events/" + globexID, readAcme, "", 404, "not found"},
		{"other scoped reader", "GET", "/api/v1/events/" + acmeID, readGlobex, "", 404, "not found"},
		{"unscoped reader", "GET", "/api/v1/events/" + globexID, readAll, "", 200, ""},
		{"admin reads", "GET", "/api/v1/events/" + acmeID, adminAll, "", 200, ""},
		{"read without token", "GET", "/api/v1/events/" + acmeID, "", "", 401, "missing bearer token"},
		{"extra admin route, reader", "GET", "/api/v1/admin-only", readAll, "", 403, `needs role "admin"`},
		{"extra admin route, admin", "GET", "/api/v1/admin-only", adminAll, "", 200, ""},
		{"unknown api path needs a token", "GET", "/api/v1/nothing", "", "", 401, "missing bearer token"},
		{"unknown api path", "GET", "/api/v1/nothing", readAll, "", 404, "no such endpoint"},
		{"wrong method", "PUT", "/api/v1/events", adminAll, "", 405, "use POST"},
		{"healthz is public", "GET", "/healthz", "", "", 200, ""},
		{"readyz is public", "GET", "/readyz", "", "", 200, ""},
		{"healthz method", "DELETE", "/healthz", "", "", 405, "use GET, HEAD"},
		{"unknown path", "GET", "/nothing", "", "", 404, "no such endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := f.do(t, tc.method, tc.path, tc.token, tc.body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			m := a.json(t)
			if tc.errPart != "" {
				msg, _ := m["error"].(string)
				if !strings.Contains(msg, tc.errPart) {
					t.Fatalf("error %q does not contain %q", msg, tc.errPart)
				}
			}
			if a.status == 401 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}

	// Events written with the scoped token belong to its tenant; the
	// unscoped token kept the tenant it named.
	for id, tenant := range map[string]string{acmeID: "acme", globexID: "globex"} {
		e, err := f.st.Get(bg, "", id)
		if err != nil || e == nil || e.Tenant != tenant {
			t.Errorf("event %s: %+v %v, want tenant %s", id, e, err, tenant)
		}
	}
	if a := f.do(t, "GET", "/api/v1/admin-only", adminAll, ""); !strings.Contains(string(a.body), "admin@*") {
		t.Errorf("the route did not get the principal: %s", a.body)
	}
	// A public route outside the API needs no token and gets no principal.
	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "public false\n" {
		t.Errorf("public route: %d %q", resp.StatusCode, b)
	}
}

func TestOpenServer(t *testing.T) {
	f := newFixture(t, nil)
	id := event.NewID(time.Now())
	if a := f.do(t, "POST", "/api/v1/events", "", fmt.Sprintf(`{"id":%q,"action":"login","tenant":"globex"}`, id)); a.status != 200 {
		t.Fatalf("open server refused a write: %d %s", a.status, a.body)
	}
	if a := f.do(t, "GET", "/api/v1/events/"+id, "", ""); a.status != 200 {
		t.Fatalf("open server refused a read: %d %s", a.status, a.body)
	}
}

func TestRequireLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.1.2.3:0", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"0.0.0.0:8080", false},
		{":8080", false},
		{"[::]:8080", false},
		{"10.0.0.1:8080", false},
		{"192.168.1.10:80", false},
		{"example.com:80", false},
		{"8080", false},
	} {
		err := server.RequireLoopback(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("RequireLoopback(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
		if err != nil && tc.ok == false && strings.Contains(tc.addr, "0.0.0.0") && !strings.Contains(err.Error(), "--token-file") {
			t.Errorf("the error should say how to fix it: %v", err)
		}
	}
}

// fakeListener claims an address without opening a socket, so the refusal
// can be tested without listening anywhere but loopback.
type fakeListener struct {
	addr   net.Addr
	closed bool
}

func (l *fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l *fakeListener) Close() error              { l.closed = true; return nil }
func (l *fakeListener) Addr() net.Addr            { return l.addr }

func TestServeRefusesOpenNonLoopback(t *testing.T) {
	st := storetest.Embedded(t, store.Options{})
	w := ingest.NewWriter(st, ingest.WriterOptions{})
	s, err := server.New(server.Config{Store: st, Writer: w, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln := &fakeListener{addr: &net.TCPAddr{IP: net.IPv4zero, Port: 8080}}
	err = s.Serve(bg, ln)
	if err == nil || !strings.Contains(err.Error(), "without a token file") {
		t.Fatalf("Serve = %v", err)
	}
	if !ln.closed {
		t.Error("listener left open")
	}
	// With tokens, the same address is fine (closed at once here).
	st2 := storetest.Embedded(t, store.Options{})
	s2, err := server.New(server.Config{Tokens: mustTokens(t), Store: st2, Writer: ingest.NewWriter(st2, ingest.WriterOptions{}), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Serve(bg, &fakeListener{addr: ln.addr}); err == nil || strings.Contains(err.Error(), "token file") {
		t.Fatalf("Serve with tokens = %v, want the listener's error", err)
	}
}

func TestNewRejectsConflictingRoutes(t *testing.T) {
	st := storetest.Embedded(t, store.Options{})
	w := ingest.NewWriter(st, ingest.WriterOptions{})
	defer w.Close(bg)
	h := http.NotFoundHandler()
	for _, rt := range []server.Route{
		{Pattern: "POST /api/v1/events", Handler: h},
		{Pattern: "GET /x", Handler: nil},
	} {
		if _, err := server.New(server.Config{Store: st, Writer: w, Routes: []server.Route{rt}}); err == nil {
			t.Errorf("route %q accepted", rt.Pattern)
		}
	}
}

func TestReadyz(t *testing.T) {
	f := newFixture(t, nil)
	a := f.do(t, "GET", "/readyz", "", "")
	m := a.json(t)
	if a.status != 200 || m["status"] != "ready" {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if s, _ := m["store"].(map[string]any); s["ok"] != true || s["engine"] != "embedded" {
		t.Errorf("store check %v", m["store"])
	}
	if bytes.Contains(a.body, []byte("/tmp")) {
		t.Errorf("readyz shows paths: %s", a.body)
	}
	if a := f.do(t, "GET", "/healthz", "", ""); a.status != 200 || string(a.body) != "{\"status\":\"ok\"}\n" {
		t.Errorf("healthz %d %s", a.status, a.body)
	}

	// A store that does not answer makes the server unready.
	st := storetest.Broken(t)
	w := ingest.NewWriter(st, ingest.WriterOptions{})
	defer w.Close(bg)
	s, err := server.New(server.Config{Store: st, Writer: w, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"status":"not ready"`) || !strings.Contains(rec.Body.String(), "does not answer") {
		t.Fatalf("broken store: %d %s", rec.Code, rec.Body)
	}
}

// blockingInserter holds inserts until released, to fill the queue.
type blockingInserter struct {
	ingest.Inserter
	entered chan struct{}
	release chan struct{}
}

func (b blockingInserter) Insert(ctx context.Context, evs []event.Event) (store.InsertResult, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.Inserter.Insert(ctx, evs)
}

func TestReadyzQueueSaturated(t *testing.T) {
	st := storetest.Embedded(t, store.Options{})
	entered, release := make(chan struct{}, 2), make(chan struct{})
	w := ingest.NewWriter(blockingInserter{st, entered, release}, ingest.WriterOptions{QueueSize: 10, Inserts: 1})
	s, err := server.New(server.Config{Store: st, Writer: w, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	mk := func(n int) []event.Event {
		evs := make([]event.Event, n)
		for i := range evs {
			evs[i] = event.Event{ID: event.NewID(now), Time: now, Action: "login", Tenant: "default", Severity: "info", ReceivedAt: now}
			event.Retention{}.Apply(&evs[i])
		}
		return evs
	}
	done := make(chan error, 2)
	go func() { _, err := w.Write(bg, mk(1)); done <- err }() // taken by the writer, blocks
	<-entered
	deadline := time.Now().Add(10 * time.Second)
	go func() { _, err := w.Write(bg, mk(9)); done <- err }() // queued: 9 of 10
	for w.QueueDepth() != 9 {
		if time.Now().After(deadline) {
			t.Fatal("the second write did not queue")
		}
		time.Sleep(time.Millisecond)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "nearly full") {
		t.Fatalf("saturated queue: %d %s", rec.Code, rec.Body)
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(bg); err != nil {
		t.Fatal(err)
	}
}

// TestGracefulShutdown serves on loopback, keeps a stream open, and
// checks that cancelling the context ends the stream, answers the ingest
// request in flight and returns.
func TestGracefulShutdown(t *testing.T) {
	st := storetest.Embedded(t, store.Options{})
	w := ingest.NewWriter(st, ingest.WriterOptions{})
	streaming := make(chan struct{})
	stream := server.Route{Pattern: "GET /api/v1/stream", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		close(streaming)
		<-r.Context().Done()
	})}
	s, err := server.New(server.Config{Store: st, Writer: w, Routes: []server.Route{stream}, Logger: quiet, ShutdownTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(bg)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	resp, err := http.Get(base + "/api/v1/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-streaming
	id := event.NewID(time.Now())
	r, err := http.Post(base+"/api/v1/events", "application/json", strings.NewReader(fmt.Sprintf(`{"id":%q,"action":"login"}`, id)))
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("post: %v %v", r, err)
	}
	r.Body.Close()

	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return: the open stream held the shutdown")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("shutdown took %s", time.Since(start))
	}
	if _, err := io.ReadAll(resp.Body); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Logf("stream ended with %v", err)
	}
	if e, err := st.Get(bg, "", id); err != nil || e == nil {
		t.Fatalf("acknowledged event missing after shutdown: %v %v", e, err)
	}
	if _, err := w.Write(bg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

func TestSetTokensRotates(t *testing.T) {
	f := newFixture(t, mustTokens(t))
	if a := f.do(t, "GET", "/api/v1/events/"+event.NewID(time.Now()), readAll, ""); a.status != 404 {
		t.Fatalf("old token before rotation: %d", a.status)
	}
	next, err := access.ParseTokens(strings.NewReader("rotated-reader-0123456789 read *\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.s.SetTokens(next)
	if a := f.do(t, "GET", "/api/v1/events/"+event.NewID(time.Now()), readAll, ""); a.status != 401 {
		t.Errorf("old token after rotation: %d, want 401", a.status)
	}
	if a := f.do(t, "GET", "/api/v1/events/"+event.NewID(time.Now()), "rotated-reader-0123456789", ""); a.status != 404 {
		t.Errorf("new token: %d, want 404 (authenticated, absent event)", a.status)
	}
	f.s.SetTokens(nil) // must not open the server
	if a := f.do(t, "GET", "/api/v1/events/"+event.NewID(time.Now()), "", ""); a.status != 401 {
		t.Errorf("after SetTokens(nil): %d, want 401", a.status)
	}
}
