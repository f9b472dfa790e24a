package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/store"
)

// Getter reads one stored event; *store.Store is one. tenant "" means any
// tenant.
type Getter interface {
	Get(ctx context.Context, tenant, id string) (*event.Event, error)
}

// NewHandler returns the ingest HTTP handler; see (*Ingester).Handler.
func NewHandler(w *Writer, g Getter, o Options) http.Handler {
	return New(w, o).Handler(g)
}

// Handler serves, relative to wherever it is mounted (strip the prefix):
//
//	POST /events       store events; 200 {"accepted","duplicates","rejected"}
//	GET  /events/{id}  one stored event in native JSON
//
// It takes the caller from the request context (access.WithPrincipal), so
// every front door authenticates its own way and shares the rest. Errors
// are JSON: {"error": "…"}.
func (in *Ingester) Handler(g Getter) http.Handler {
	h := &handler{in: in, g: g}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /events", h.post)
	mux.HandleFunc("GET /events/{id}", h.get)
	mux.Handle("/events", methodNotAllowed("POST"))
	mux.Handle("/events/{id}", methodNotAllowed("GET, HEAD"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

type handler struct {
	in *Ingester
	g  Getter
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed here; use %s", r.Method, allow))
	})
}

// principal answers 401/403 itself and returns ok=false when the request
// may not go on.
func principal(w http.ResponseWriter, r *http.Request, need access.Role) (access.Principal, bool) {
	p, ok := access.FromContext(r.Context())
	if !ok {
		WriteError(w, http.StatusUnauthorized, "authentication required")
		return p, false
	}
	if !p.Has(need) {
		WriteError(w, http.StatusForbidden, fmt.Sprintf("this token's role %q may not do this; it needs role %q or admin", p.Role, need))
		return p, false
	}
	return p, true
}

func (h *handler) post(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	res := h.postEvents(rec, r)
	if h.in.o.Observe != nil {
		h.in.o.Observe(rec.status, res)
	}
}

func (h *handler) postEvents(w http.ResponseWriter, r *http.Request) Result {
	p, ok := principal(w, r, access.RoleIngest)
	if !ok {
		return Result{}
	}
	res, err := h.in.ingestBody(r.Context(), p, w, r)
	if err != nil {
		h.writeIngestError(w, err)
		return Result{}
	}
	status := http.StatusOK
	if res.Accepted+res.Duplicates == 0 {
		status = http.StatusBadRequest
	}
	WriteJSON(w, status, res)
	return res
}

// statusRecorder remembers the status a handler wrote, for Observe.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// ingestBody reads, prepares and commits a request body.
func (in *Ingester) ingestBody(ctx context.Context, p access.Principal, w http.ResponseWriter, r *http.Request) (Result, error) {
	format, err := ParseContentType(r.Header.Get("Content-Type"))
	if err != nil {
		return Result{}, err
	}
	if r.Body == nil {
		// net/http's server never passes a nil body, but the plugin SDK's
		// resource adapter does for an empty one.
		r.Body = http.NoBody
	}
	body, closeBody, err := decodedBody(http.MaxBytesReader(w, r.Body, in.o.MaxBody), r.Header.Get("Content-Encoding"), in.o.MaxBody)
	if err != nil {
		return Result{}, err
	}
	defer closeBody()
	b := in.newBatch(p)
	err = readEvents(body, format, in.o.MaxEvents, func(i int, raw []byte) error {
		return in.addRaw(b, i, raw)
	})
	if err != nil {
		return Result{}, err
	}
	// Once queued, the events will be stored whatever the client does, so
	// the handler waits for the outcome even if the request context ends
	// (client gone, server shutting down): the wait is bounded by the
	// writer's insert timeout, and a shutdown then still answers 200 for
	// what it stored instead of a 503 that would make the client resend.
	return in.commit(context.WithoutCancel(ctx), b)
}

func (h *handler) writeIngestError(w http.ResponseWriter, err error) {
	var re *RequestError
	var fe *ForbiddenError
	var se *StoreError
	switch {
	case errors.As(err, &re):
		WriteError(w, re.Status, re.Msg)
	case isTooLarge(err):
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes; split the batch", h.in.o.MaxBody))
	case errors.As(err, &fe):
		WriteError(w, http.StatusForbidden, fe.Error())
	case errors.Is(err, ErrQueueFull):
		w.Header().Set("Retry-After", strconv.Itoa(int((h.in.o.RetryAfter+999e6)/1e9)))
		WriteError(w, http.StatusTooManyRequests, "the write queue is full; retry later, nothing of this request was stored")
	case errors.Is(err, ErrClosed):
		w.Header().Set("Retry-After", "5")
		WriteError(w, http.StatusServiceUnavailable, "the server is shutting down; retry later, nothing of this request was acknowledged")
	case errors.As(err, &se):
		h.in.o.Logger.Error("ingest: store failed", "err", se.Err)
		w.Header().Set("Retry-After", "5")
		why := ""
		if r := FailureReason(se.Err); r != "" {
			why = " (" + r + ")"
		}
		WriteError(w, http.StatusServiceUnavailable, "the event store is unavailable"+why+"; retry later, nothing of this request was acknowledged")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client is gone; its events are still queued and will be
		// stored, and a retry will be deduplicated.
		WriteError(w, http.StatusServiceUnavailable, "the request ended before its events were stored; retry, duplicates are ignored")
	default:
		// A read error of the body: the client's connection broke.
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("reading the request body: %v", err))
	}
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r, access.RoleRead)
	if !ok {
		return
	}
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("event id %q is not a UUID", truncate(raw, 64)))
		return
	}
	e, err := h.g.Get(r.Context(), p.ReadTenant(), id.String())
	if errors.Is(err, store.ErrBadFilter) {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		h.in.o.Logger.Error("ingest: read event", "id", id.String(), "err", err)
		WriteError(w, http.StatusServiceUnavailable, "the event store is unavailable; retry later")
		return
	}
	// Another tenant's event is "not found", not "forbidden": a scoped
	// token must not learn which ids exist elsewhere.
	if e == nil {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("event %s not found", id))
		return
	}
	WriteJSON(w, http.StatusOK, e)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// WriteError writes {"error": msg}, the shape of every error response.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}
