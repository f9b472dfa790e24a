// Package authentiktest serves authentik's events API from memory, for
// tests of importers.
package authentiktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server answers GET /api/v3/events/events/ like authentik: bearer-token
// auth, ordering=created, created__gt, page and page_size, and authentik's
// pagination JSON.
type Server struct {
	*httptest.Server
	Token string

	mu       sync.Mutex
	events   []json.RawMessage // oldest first
	created  []time.Time
	queries  []url.Values
	failFrom int
}

// New serves events (authentik API JSON, oldest first) on a loopback
// address until the test ends.
func New(t testing.TB, token string, events [][]byte) *Server {
	t.Helper()
	s := &Server{Token: token}
	for _, r := range events {
		var e struct{ Created string }
		if err := json.Unmarshal(r, &e); err != nil {
			t.Fatalf("authentiktest: event %s: %v", r, err)
		}
		c, err := time.Parse(time.RFC3339Nano, e.Created)
		if err != nil {
			t.Fatalf("authentiktest: created %q: %v", e.Created, err)
		}
		s.events = append(s.events, r)
		s.created = append(s.created, c)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// FailFrom makes request n (1-based) and every later one answer 500, as an
// authentik whose database went away; 0 stops failing.
func (s *Server) FailFrom(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failFrom = n
}

// Requests returns the query of every request so far.
func (s *Server) Requests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.queries...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fail := func(status int, body string) {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
	if r.URL.Path != "/api/v3/events/events/" {
		fail(404, `{"detail":"Not found."}`)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		fail(403, `{"detail":"Authentication credentials were not provided."}`)
		return
	}
	q := r.URL.Query()
	s.queries = append(s.queries, q)
	if s.failFrom > 0 && len(s.queries) >= s.failFrom {
		fail(500, `{"detail":"database is restarting"}`)
		return
	}
	if q.Get("ordering") != "created" {
		fail(400, `{"detail":"authentiktest only does ordering=created"}`)
		return
	}
	var after time.Time
	if v := q.Get("created__gt"); v != "" {
		var err error
		if after, err = time.Parse(time.RFC3339Nano, v); err != nil {
			fail(400, `{"created__gt":["Enter a valid date/time."]}`)
			return
		}
	}
	var sel []json.RawMessage
	for i, e := range s.events {
		if after.IsZero() || s.created[i].After(after) {
			sel = append(sel, e)
		}
	}
	size, err := strconv.Atoi(q.Get("page_size"))
	if err != nil || size <= 0 {
		size = 20
	}
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil {
		page = 1
	}
	pages := max(1, (len(sel)+size-1)/size)
	if page < 1 || page > pages {
		fail(404, `{"detail":"Invalid page."}`)
		return
	}
	lo, hi := (page-1)*size, min(page*size, len(sel))
	next := 0
	if page < pages {
		next = page + 1
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"pagination": map[string]any{"next": next, "previous": page - 1, "count": len(sel), "current": page,
			"total_pages": pages, "start_index": lo + 1, "end_index": hi},
		"results": sel[lo:hi],
	})
}
