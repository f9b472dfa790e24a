package stream

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/auditlog/auditlog/pkg/query"
)

// DefaultHeartbeat is how often an idle tail writes an empty line, so
// proxies and load balancers do not cut a quiet stream and a client
// notices a dead server.
const DefaultHeartbeat = 15 * time.Second

// HandlerOptions tune the tail endpoint.
type HandlerOptions struct {
	Heartbeat time.Duration // default DefaultHeartbeat
}

// Handler serves GET /api/v1/tail?action=…&user=…&app=…&country=…&clientIp=…&search=…
// (each repeatable but search): an NDJSON stream of the native JSON of
// every matching event stored from now on, one per line and flushed at
// once, with an empty line as heartbeat. It ends when the client goes
// away. The filters mean what they mean in a query; tenant scopes it.
func (h *Hub) Handler(tenant query.TenantFunc, o HandlerOptions) http.Handler {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		if tenant == nil {
			writeError(w, http.StatusInternalServerError, "no tenant resolver is configured")
			return
		}
		t, err := tenant(r)
		if err != nil {
			writeError(w, http.StatusForbidden, err.Error())
			return
		}
		f, err := query.FiltersFromURL(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, "tail: "+err.Error())
			return
		}
		m, err := query.NewMatcher(f, t)
		if err != nil {
			writeError(w, http.StatusBadRequest, "tail: "+err.Error())
			return
		}
		sub, err := h.Subscribe(r.Context(), m)
		if err != nil {
			status := http.StatusServiceUnavailable
			if errors.Is(err, ErrTooManySubscribers) {
				w.Header().Set("Retry-After", "30")
			}
			writeError(w, status, err.Error())
			return
		}
		defer sub.Close()

		rc := http.NewResponseController(w)
		// Server-wide read and write timeouts are for ordinary requests; a
		// tail is meant to outlive them. Not every ResponseWriter supports
		// this, and then the stream lasts as long as the server allows.
		_ = rc.SetWriteDeadline(time.Time{})
		_ = rc.SetReadDeadline(time.Time{})
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		w.WriteHeader(http.StatusOK)
		if rc.Flush() != nil {
			return // cannot stream through this writer
		}
		beat := time.NewTicker(o.Heartbeat)
		defer beat.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case e, ok := <-sub.C:
				if !ok {
					return
				}
				b, err := json.Marshal(e)
				if err != nil {
					continue // cannot happen for a stored event; skip rather than end the stream
				}
				if _, err := w.Write(append(b, '\n')); err != nil {
					return
				}
				if rc.Flush() != nil {
					return
				}
				beat.Reset(o.Heartbeat)
			case <-beat.C:
				if _, err := w.Write([]byte("\n")); err != nil || rc.Flush() != nil {
					return
				}
			}
		}
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
