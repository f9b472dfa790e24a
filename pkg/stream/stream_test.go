package stream_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/query"
	"github.com/auditlog/auditlog/pkg/stream"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ev(n int, tenant, action, user string) event.Event {
	e := event.Event{ID: fmt.Sprintf("0195a000-0000-7000-8000-%012d", n), Tenant: tenant, Action: action,
		User: event.User{Username: user}, Time: t0.Add(time.Duration(n) * time.Second), ClientIP: "81.2.69.142",
		Geo: &event.Geo{CountryCode: "GB", City: "London"}}
	event.Normalize(&e, e.Time)
	return e
}

func matcher(t *testing.T, f query.Filters, tenant string) stream.Matcher {
	t.Helper()
	m, err := query.NewMatcher(f, tenant)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// next waits a bounded time for the subscription's next event.
func next(t *testing.T, c <-chan event.Event) event.Event {
	t.Helper()
	select {
	case e, ok := <-c:
		if !ok {
			t.Fatal("subscription closed")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return event.Event{}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSubscriberSeesOnlyMatchingEventsPublishedAfterSubscribing(t *testing.T) {
	h := stream.NewHub(stream.Options{})
	h.Publish([]event.Event{ev(1, "acme", "login_failed", "early")})
	sub, err := h.Subscribe(context.Background(), matcher(t, query.Filters{Actions: []string{"login_failed"}}, "acme"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	h.Publish([]event.Event{
		ev(2, "acme", "login", "alice"),            // wrong action
		ev(3, "globex", "login_failed", "mallory"), // wrong tenant
		ev(4, "acme", "login_failed", "alice"),
	})
	h.Publish([]event.Event{ev(5, "acme", "login_failed", "bob")})
	// Events arrive in publish order, so if anything unwanted had been
	// delivered it would come before these two.
	if got := next(t, sub.C); got.User.Username != "alice" || got.Tenant != "acme" {
		t.Errorf("first event %s/%s/%s, want acme/login_failed/alice", got.Tenant, got.Action, got.User.Username)
	}
	if got := next(t, sub.C); got.User.Username != "bob" {
		t.Errorf("second event by %s, want bob", got.User.Username)
	}
	if sub.Dropped() != 0 {
		t.Errorf("dropped %d", sub.Dropped())
	}
}

func TestNilMatcherSeesEverything(t *testing.T) {
	h := stream.NewHub(stream.Options{})
	sub, err := h.Subscribe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	h.Publish([]event.Event{ev(1, "a", "login", "x"), ev(2, "b", "logout", "y")})
	if a, b := next(t, sub.C), next(t, sub.C); a.Tenant != "a" || b.Tenant != "b" {
		t.Errorf("got %s, %s", a.Tenant, b.Tenant)
	}
}

// TestSlowSubscriberDoesNotBlockPublish: a subscriber that never reads
// loses events past its buffer; Publish returns regardless, and a reading
// subscriber next to it still gets everything its buffer holds.
func TestSlowSubscriberDoesNotBlockPublish(t *testing.T) {
	h := stream.NewHub(stream.Options{Buffer: 4})
	slow, _ := h.Subscribe(context.Background(), nil)
	defer slow.Close()
	batch := make([]event.Event, 1000)
	for i := range batch {
		batch[i] = ev(i, "acme", "login", "u")
	}
	done := make(chan struct{})
	go func() {
		h.Publish(batch)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	if slow.Dropped() != 996 || h.Dropped() != 996 {
		t.Errorf("dropped %d (hub %d), want 996", slow.Dropped(), h.Dropped())
	}
	for i := range 4 {
		if e := next(t, slow.C); e.ID != batch[i].ID {
			t.Errorf("kept event %d is %s, want the oldest ones in order", i, e.ID)
		}
	}
}

func TestSubscriberCap(t *testing.T) {
	h := stream.NewHub(stream.Options{MaxSubscribers: 2})
	a, err1 := h.Subscribe(context.Background(), nil)
	_, err2 := h.Subscribe(context.Background(), nil)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	_, err := h.Subscribe(context.Background(), nil)
	if !errors.Is(err, stream.ErrTooManySubscribers) || !strings.Contains(err.Error(), "limit is 2") {
		t.Fatalf("third subscriber: %v", err)
	}
	if h.Subscribers() != 2 {
		t.Errorf("Subscribers() = %d", h.Subscribers())
	}
	a.Close()
	a.Close() // twice is fine
	if _, err := h.Subscribe(context.Background(), nil); err != nil {
		t.Errorf("after one left: %v", err)
	}
}

func TestSubscriptionEndsWithContextAndHub(t *testing.T) {
	h := stream.NewHub(stream.Options{})
	cctx, cancel := context.WithCancel(context.Background())
	sub, _ := h.Subscribe(cctx, nil)
	other, _ := h.Subscribe(context.Background(), nil)
	cancel()
	select {
	case _, ok := <-sub.C:
		if ok {
			t.Fatal("an event arrived on a cancelled subscription")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the context did not close the subscription")
	}
	eventually(t, "one subscriber left", func() bool { return h.Subscribers() == 1 })
	h.Close()
	if _, ok := <-other.C; ok {
		t.Error("Close left a subscription open")
	}
	if _, err := h.Subscribe(context.Background(), nil); !errors.Is(err, stream.ErrClosed) {
		t.Errorf("subscribe after Close: %v", err)
	}
	h.Publish([]event.Event{ev(1, "a", "login", "x")}) // must not panic on closed channels
}

func TestTailBatches(t *testing.T) {
	h := stream.NewHub(stream.Options{})
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var batches [][]event.Event
	errc := make(chan error, 1)
	go func() {
		errc <- h.Tail(cctx, matcher(t, query.Filters{Users: []string{"alice"}}, ""), 3, 20*time.Millisecond, func(b []event.Event) error {
			mu.Lock()
			batches = append(batches, b)
			mu.Unlock()
			return nil
		})
	}()
	eventually(t, "the tail to subscribe", func() bool { return h.Subscribers() == 1 })
	var evs []event.Event
	for i := range 8 {
		user := "alice"
		if i == 4 {
			user = "bob"
		}
		evs = append(evs, ev(i, "acme", "login", user))
	}
	h.Publish(evs)
	total := func() (n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range batches {
			n += len(b)
		}
		return n
	}
	eventually(t, "7 events in batches", func() bool { return total() == 7 })
	mu.Lock()
	var got []string
	for _, b := range batches {
		if len(b) > 3 {
			t.Errorf("batch of %d, max 3", len(b))
		}
		for _, e := range b {
			got = append(got, e.ID[len(e.ID)-1:])
		}
	}
	mu.Unlock()
	if strings.Join(got, "") != "0123567" {
		t.Errorf("delivered %v, want alice's 7 in order", got)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Tail returned %v after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Tail did not return after cancel")
	}

	// A failing sender ends the tail with its error.
	boom := errors.New("client gone")
	go func() {
		errc <- h.Tail(context.Background(), nil, 1, 0, func([]event.Event) error { return boom })
	}()
	eventually(t, "the second tail to subscribe", func() bool { return h.Subscribers() == 1 })
	h.Publish(evs[:1])
	select {
	case err := <-errc:
		if !errors.Is(err, boom) {
			t.Errorf("Tail returned %v, want the sender's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Tail did not stop on a send error")
	}
	eventually(t, "the failed tail to unsubscribe", func() bool { return h.Subscribers() == 0 })
}

func tenantFunc(t string) query.TenantFunc {
	return func(*http.Request) (string, error) { return t, nil }
}

// lines reads a stream's lines into a channel.
func lines(r io.Reader) <-chan string {
	c := make(chan string, 100)
	go func() {
		defer close(c)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c <- sc.Text()
		}
	}()
	return c
}

func nextLine(t *testing.T, c <-chan string, within time.Duration, skipEmpty bool) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-c:
			if !ok {
				t.Fatal("stream ended")
			}
			if skipEmpty && l == "" {
				continue
			}
			return l
		case <-deadline:
			t.Fatalf("no line within %s", within)
		}
	}
}

func TestNDJSONTail(t *testing.T) {
	h := stream.NewHub(stream.Options{})
	srv := httptest.NewServer(h.Handler(tenantFunc("acme"), stream.HandlerOptions{Heartbeat: 30 * time.Millisecond}))
	defer srv.Close()

	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, srv.URL+"/api/v1/tail?action=login_failed&action=logout&country=gb", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("%s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	// The subscription exists once the headers are flushed.
	if h.Subscribers() != 1 {
		t.Fatalf("%d subscribers after the response started", h.Subscribers())
	}
	ls := lines(resp.Body)
	if l := nextLine(t, ls, time.Second, false); l != "" {
		t.Errorf("first line of an idle stream is %q, want a heartbeat", l)
	}
	want := ev(3, "acme", "login_failed", "alice")
	want.Diff = map[string]event.Change{"email": {Old: json.RawMessage(`"a"`), New: json.RawMessage(`"b"`)}}
	h.Publish([]event.Event{ev(1, "acme", "login", "alice"), ev(2, "globex", "login_failed", "alice"), want})
	line := nextLine(t, ls, time.Second, true)
	var got event.Event
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("line is not an event: %v: %s", err, line)
	}
	wj, _ := json.Marshal(want)
	if line != string(wj) {
		t.Errorf("got  %s\nwant %s", line, wj)
	}

	cancel()
	eventually(t, "the handler to unsubscribe after the client left", func() bool { return h.Subscribers() == 0 })

	for _, tc := range []struct {
		url    string
		tenant query.TenantFunc
		code   int
		msg    string
	}{
		{"?country=GBR", tenantFunc(""), 400, "two-letter"},
		{"?clientIp=10.0.0.0/40", tenantFunc(""), 400, "not an IP address"},
		{"?colour=red", tenantFunc(""), 400, `unknown filter parameter`},
		{"?search=a&search=b", tenantFunc(""), 400, "given once"},
		{"", func(*http.Request) (string, error) { return "", errors.New("read role required") }, 403, "read role required"},
	} {
		rec := httptest.NewRecorder()
		h.Handler(tc.tenant, stream.HandlerOptions{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/tail"+tc.url, nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.msg) {
			t.Errorf("%s: %d %s, want %d %q", tc.url, rec.Code, rec.Body, tc.code, tc.msg)
		}
	}
}

func TestNDJSONTailAtCap(t *testing.T) {
	h := stream.NewHub(stream.Options{MaxSubscribers: 1})
	sub, _ := h.Subscribe(context.Background(), nil)
	defer sub.Close()
	rec := httptest.NewRecorder()
	h.Handler(tenantFunc(""), stream.HandlerOptions{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/tail", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "too many live-tail subscribers") || rec.Header().Get("Retry-After") == "" {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

func TestFollow(t *testing.T) {
	h := stream.NewHub(stream.Options{})
	var auth string
	var authMu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authMu.Lock()
		auth = r.Header.Get("Authorization")
		authMu.Unlock()
		if r.URL.Path != stream.TailPath {
			http.NotFound(w, r)
			return
		}
		h.Handler(tenantFunc(""), stream.HandlerOptions{}).ServeHTTP(w, r)
	}))
	defer srv.Close()

	cctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- stream.Follow(cctx, srv.URL+"/", "s3cret", url.Values{"user": {"alice"}}, pw)
		pw.Close()
	}()
	ls := lines(pr)
	eventually(t, "Follow to connect", func() bool { return h.Subscribers() == 1 })
	h.Publish([]event.Event{ev(1, "acme", "login", "bob"), ev(2, "acme", "login_failed", "alice")})
	if l := nextLine(t, ls, time.Second, true); l != "2026-03-01T12:00:02.000Z warning acme: alice login_failed from 81.2.69.142 (London, GB)" {
		t.Errorf("line %q", l)
	}
	authMu.Lock()
	if auth != "Bearer s3cret" {
		t.Errorf("Authorization %q", auth)
	}
	authMu.Unlock()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Follow after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after cancel")
	}

	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid token"}`))
	}))
	defer refuse.Close()
	for _, tc := range []struct {
		url    string
		params url.Values
		msg    string
	}{
		{refuse.URL, nil, "401 Unauthorized: invalid token"},
		{"localhost:8080", nil, "not a server URL"},
		{"ftp://host", nil, `scheme "ftp"`},
		{srv.URL, url.Values{"country": {"England"}}, "two-letter"},
	} {
		err := stream.Follow(context.Background(), tc.url, "", tc.params, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Follow(%s, %v) = %v, want %q", tc.url, tc.params, err, tc.msg)
		}
	}
}

// TestNDJSONTailOutlivesServerTimeouts: a server's ReadTimeout and
// WriteTimeout are for ordinary requests; a tail must outlive them.
func TestNDJSONTailOutlivesServerTimeouts(t *testing.T) {
	h := stream.NewHub(stream.Options{})
	srv := httptest.NewUnstartedServer(h.Handler(tenantFunc(""), stream.HandlerOptions{Heartbeat: time.Hour}))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/tail")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ls := lines(resp.Body)
	// Past both timeouts, the stream must still deliver.
	time.Sleep(300 * time.Millisecond)
	if h.Subscribers() != 1 {
		t.Fatalf("the tail ended at the server's timeouts (%d subscribers)", h.Subscribers())
	}
	h.Publish([]event.Event{ev(1, "acme", "login", "alice")})
	if l := nextLine(t, ls, time.Second, true); !strings.Contains(l, `"username":"alice"`) {
		t.Errorf("line %q", l)
	}
}
