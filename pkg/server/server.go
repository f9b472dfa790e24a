// Package server is the standalone HTTP front door: routes, bearer-token
// authentication with tenant scopes, health and readiness, and graceful
// shutdown. The work itself is done by the handlers it mounts (ingest, and
// the query, tail and metrics handlers other packages provide), which read
// the caller from the request context.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/geoip"
	"github.com/auditlog/auditlog/pkg/ingest"
	"github.com/auditlog/auditlog/pkg/store"
)

// APIPrefix is where the API lives. With a token file, every path under it
// needs a bearer token.
const APIPrefix = "/api/v1"

// Store is what the server needs of the event store; *store.Store is one.
type Store interface {
	ingest.Getter
	Stats(ctx context.Context) (store.Stats, error)
	Close() error
}

// GeoIP reports the GeoIP databases in use; *geoip.Resolver is one.
type GeoIP interface {
	Status() geoip.Status
}

// Route is an extra endpoint, such as POST /api/v1/query, GET
// /api/v1/tail or GET /metrics, provided by another package.
type Route struct {
	// Pattern is a full net/http ServeMux pattern, method included, e.g.
	// "POST /api/v1/query". The handler sees the full path.
	Pattern string
	Handler http.Handler
	// Role is what the caller needs. Under APIPrefix a token is always
	// needed when the server has a token file; elsewhere an empty Role
	// makes the route public.
	Role access.Role
}

// Config describes a server. Store and Writer are required.
type Config struct {
	// Tokens authenticates callers. Nil runs the server open: every
	// request acts as an unscoped admin, and Serve refuses to listen on
	// anything but a loopback address.
	Tokens *access.Tokens
	Store  Store
	Writer *ingest.Writer
	// Ingest configures the ingest handler (limits, retention, GeoIP).
	Ingest ingest.Options
	// GeoIP, if set, is reported by /readyz.
	GeoIP  GeoIP
	Routes []Route
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful shutdown (default 30s).
	ShutdownTimeout time.Duration
}

// Server is the HTTP server. Build it with New and run it with Serve.
type Server struct {
	cfg      Config
	log      *slog.Logger
	handler  http.Handler
	tokens   atomic.Pointer[access.Tokens] // nil: open server
	stopping atomic.Bool
}

// New checks the configuration and builds the routes.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Writer == nil {
		return nil, errors.New("server: a Store and a Writer are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Ingest.Logger == nil {
		cfg.Ingest.Logger = cfg.Logger
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.tokens.Store(cfg.Tokens)
	h, err := s.routes()
	if err != nil {
		return nil, err
	}
	s.handler = s.recoverPanics(s.logRequests(h))
	return s, nil
}

// SetTokens replaces the tokens, for rotation without a restart. Requests
// already authenticated keep their principal. A nil t is ignored: an
// authenticated server never turns open.
func (s *Server) SetTokens(t *access.Tokens) {
	if t != nil {
		s.tokens.Store(t)
	}
}

// Handler is the server's full handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() (h http.Handler, err error) {
	mux := http.NewServeMux()
	// ServeMux panics on conflicting patterns; an extra route given by
	// another package must fail New, not the process.
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("server: routes: %v", p)
		}
	}()
	ing := http.StripPrefix(APIPrefix, ingest.NewHandler(s.cfg.Writer, s.cfg.Store, s.cfg.Ingest))
	all := []Route{
		{Pattern: "POST " + APIPrefix + "/events", Handler: ing, Role: access.RoleIngest},
		{Pattern: "GET " + APIPrefix + "/events/{id}", Handler: ing, Role: access.RoleRead},
		{Pattern: "GET /healthz", Handler: http.HandlerFunc(s.healthz)},
		{Pattern: "GET /readyz", Handler: http.HandlerFunc(s.readyz)},
	}
	all = append(all, s.cfg.Routes...)

	// Go's ServeMux answers a wrong method in plain text; a method-less
	// pattern per path makes that a JSON 405 like every other error.
	methods := map[string][]string{}
	for _, rt := range all {
		if rt.Handler == nil {
			return nil, fmt.Errorf("server: route %q has no handler", rt.Pattern)
		}
		method, path, ok := strings.Cut(rt.Pattern, " ")
		if !ok {
			method, path = "", rt.Pattern
		}
		methods[path] = append(methods[path], method)
		mux.Handle(rt.Pattern, s.authenticate(rt.Handler, rt.Role, isAPI(path)))
	}
	paths := make([]string, 0, len(methods))
	for p := range methods {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		ms := methods[path]
		if contains(ms, "") {
			continue
		}
		if contains(ms, "GET") && !contains(ms, "HEAD") {
			ms = append(ms, "HEAD")
		}
		mux.Handle(path, s.authenticate(methodNotAllowed(strings.Join(ms, ", ")), "", isAPI(path)))
	}
	// Unknown API paths need a token too, so that routes cannot be probed.
	if _, taken := methods[APIPrefix+"/"]; !taken {
		mux.Handle(APIPrefix+"/", s.authenticate(notFound(), "", true))
	}
	if _, taken := methods["/"]; !taken {
		mux.Handle("/", notFound())
	}
	return mux, nil
}

func isAPI(path string) bool { return path == APIPrefix || strings.HasPrefix(path, APIPrefix+"/") }

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func notFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ingest.WriteError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		ingest.WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed here; use %s", r.Method, allow))
	})
}

// authenticate puts the caller's principal into the request context and
// answers 401/403 itself. api routes always need a token when the server
// has a token file; other routes only when they name a role.
func (s *Server) authenticate(next http.Handler, need access.Role, api bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		toks := s.tokens.Load()
		if toks == nil {
			if rec, ok := w.(*statusRecorder); ok {
				rec.principal = access.Admin.String()
			}
			next.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), access.Admin)))
			return
		}
		if !api && need == "" {
			next.ServeHTTP(w, r)
			return
		}
		tok, ok := access.BearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="auditlog"`)
			ingest.WriteError(w, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer TOKEN")
			return
		}
		p, ok := toks.Lookup(tok)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="auditlog", error="invalid_token"`)
			ingest.WriteError(w, http.StatusUnauthorized, "unknown bearer token")
			return
		}
		if !p.Has(need) {
			ingest.WriteError(w, http.StatusForbidden, fmt.Sprintf("this token's role %q may not do this; it needs role %q or admin", p.Role, need))
			return
		}
		if rec, ok := w.(*statusRecorder); ok {
			rec.principal = p.String()
		}
		next.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
	})
}

// RequireLoopback refuses an address that is not on loopback. A server
// without a token file gives every caller full access, so it must not be
// reachable from other machines.
func RequireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("server: listen address %q: want host:port: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		what := host
		if host == "" || (ip != nil && ip.IsUnspecified()) {
			what = "all interfaces"
		}
		return fmt.Errorf("server: refusing to listen on %s (%s) without a token file: anyone who can reach it could read and write every event; listen on 127.0.0.1 or give --token-file", addr, what)
	}
	return nil
}

// Serve answers requests on ln until ctx ends, then shuts down
// gracefully: it stops accepting, ends streams, waits for requests in
// flight (whose events are committed before they are answered), drains
// the ingest queue and closes the store. It closes the store and the
// writer in every case.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.tokens.Load() == nil {
		if err := RequireLoopback(ln.Addr().String()); err != nil {
			ln.Close()
			s.closeBackend()
			return err
		}
		s.log.Warn("server: no token file: the API is open to every local user, with admin rights on all tenants; it listens on loopback only", "addr", ln.Addr().String())
	}
	// Request contexts end when shutdown starts, so that streams (live
	// tail) finish; ingest requests wait for their commit regardless.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	srv.RegisterOnShutdown(cancelBase)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	s.log.Info("server: shutting down", "queued", s.cfg.Writer.QueueDepth())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("server: requests still running at the shutdown deadline; closing them", "err", err)
		srv.Close()
	}
	if err := s.cfg.Writer.Close(sctx); err != nil {
		serveErr = errors.Join(serveErr, err)
	}
	if err := s.cfg.Store.Close(); err != nil {
		serveErr = errors.Join(serveErr, fmt.Errorf("server: close store: %w", err))
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	s.log.Info("server: stopped")
	return serveErr
}

func (s *Server) closeBackend() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	_ = s.cfg.Writer.Close(ctx)
	_ = s.cfg.Store.Close()
}

// statusRecorder remembers the status for the request log. It passes
// Flush through, which streaming handlers (live tail) need.
type statusRecorder struct {
	http.ResponseWriter
	status    int
	principal string
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		s.log.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start), "remote", r.RemoteAddr, "principal", rec.principal)
	})
}

// recoverPanics is the last line: a bug must cost one request a 500, not
// the process (and everything queued in it).
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("server: handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			ingest.WriteError(w, http.StatusInternalServerError, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}
