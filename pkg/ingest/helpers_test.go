package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/store"
	"github.com/auditlog/auditlog/pkg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var (
	bg    = context.Background()
	quiet = slog.New(slog.DiscardHandler)
)

// env is an ingest handler over a real embedded store, mounted under
// /api/v1 like the server mounts it.
type env struct {
	st  *store.Store
	w   *ingest.Writer
	srv *httptest.Server
}

type envConfig struct {
	opts   ingest.Options
	wopts  ingest.WriterOptions
	st     *store.Store
	insert func(ingest.Inserter) ingest.Inserter // wraps the store, for tests that gate or break inserts
}

// principalHeader names the caller in tests: "role@tenant". The real front
// doors authenticate; the handler only reads the context.
const principalHeader = "X-Test-Principal"

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	st := cfg.st
	if st == nil {
		st = storetest.Embedded(t, store.Options{})
	}
	var ins ingest.Inserter = st
	if cfg.insert != nil {
		ins = cfg.insert(st)
		// Tests that gate inserts reason about one busy insert and the
		// requests queued behind it.
		if cfg.wopts.Inserts == 0 {
			cfg.wopts.Inserts = 1
		}
	}
	w := ingest.NewWriter(ins, cfg.wopts)
	h := http.StripPrefix("/api/v1", ingest.NewHandler(w, st, cfg.opts))
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get(principalHeader); v != "" {
			role, tenant, _ := strings.Cut(v, "@")
			r = r.WithContext(access.WithPrincipal(r.Context(), access.Principal{Role: access.Role(role), Tenant: tenant}))
		}
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(bg, 30*time.Second)
		defer cancel()
		if err := w.Close(ctx); err != nil {
			t.Errorf("close writer: %v", err)
		}
	})
	return &env{st: st, w: w, srv: srv}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// result decodes a 200/400 ingest answer.
func (r response) result(t testing.TB) ingest.Result {
	t.Helper()
	var res ingest.Result
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatalf("status %d, body %s is not an ingest result: %v", r.status, r.body, err)
	}
	if res.Rejected == nil {
		t.Fatalf("rejected must be a list, even when empty: %s", r.body)
	}
	return res
}

// errorMsg decodes {"error": …} and fails unless the body is exactly that.
func (r response) errorMsg(t testing.TB) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d: body %q is not JSON: %v", r.status, r.body, err)
	}
	msg, ok := m["error"].(string)
	if !ok || len(m) != 1 || msg == "" {
		t.Fatalf("status %d: body %s is not {\"error\": \"…\"}", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	return msg
}

func (e *env) do(t testing.TB, method, path, principal string, header map[string]string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if principal != "" {
		req.Header.Set(principalHeader, principal)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

const admin = "admin@*"

var (
	adminPrincipal = access.Principal{Tenant: "*", Role: access.RoleAdmin}
	readPrincipal  = access.Principal{Tenant: "*", Role: access.RoleRead}
)

func (e *env) post(t testing.TB, contentType, body string) response {
	t.Helper()
	return e.do(t, "POST", "/api/v1/events", admin, map[string]string{"Content-Type": contentType}, []byte(body))
}

func (e *env) get(t testing.TB, principal, id string) response {
	t.Helper()
	return e.do(t, "GET", "/api/v1/events/"+id, principal, nil, nil)
}

// stored returns the events with these ids, all tenants.
func (e *env) stored(t testing.TB, ids ...string) []event.Event {
	t.Helper()
	var out []event.Event
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		evs, err := e.st.Events(bg, store.Filter{IDs: ids[:n]}, store.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
		ids = ids[n:]
	}
	return out
}

func ndjson(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
