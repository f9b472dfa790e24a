package demo

import (
	"bytes"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
)

func collect(t *testing.T, seed int64, n int) ([]time.Time, [][]byte) {
	t.Helper()
	var ts []time.Time
	var raws [][]byte
	if err := Stream(seed, n, from, to, func(at time.Time, raw []byte) error {
		ts = append(ts, at)
		raws = append(raws, raw)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ts, raws
}

func TestStreamIsDeterministicOrderedAndValid(t *testing.T) {
	const n = 3000
	ta, a := collect(t, 3, n)
	_, b := collect(t, 3, n)
	if len(a) != n || len(b) != n {
		t.Fatalf("got %d and %d events, want %d", len(a), len(b), n)
	}
	ids := map[string]bool{}
	burst := 0
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("event %d differs between runs", i)
		}
		if i > 0 && ta[i].Before(ta[i-1]) {
			t.Fatalf("event %d is older than event %d", i, i-1)
		}
		if ta[i].Before(from) || !ta[i].Before(to) {
			t.Fatalf("event %d at %s is outside the range", i, ta[i])
		}
		e, err := event.Decode(a[i])
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !e.Time.Equal(ta[i].UTC().Truncate(time.Microsecond)) && !e.Time.Equal(ta[i].UTC().Truncate(time.Millisecond)) {
			t.Fatalf("event %d: time %s, stream said %s", i, e.Time, ta[i])
		}
		event.Normalize(&e, to)
		if err := event.Validate(&e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ids[e.ID] {
			t.Fatalf("id %s twice", e.ID)
		}
		ids[e.ID] = true
		if e.User.Username == "AnonymousUser" && e.ClientIP != "" && bytes.Contains(a[i], []byte("185.220.101.")) {
			burst++
		}
	}
	if burst < n/50 {
		t.Errorf("%d events from the Tor range, want at least the %d of the burst", burst, n/50)
	}
}

func TestStreamStopsOnError(t *testing.T) {
	calls := 0
	stop := bytes.ErrTooLarge
	err := Stream(1, 1000, from, to, func(time.Time, []byte) error {
		calls++
		if calls == 10 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 10 {
		t.Fatalf("err %v after %d calls, want the callback's error after 10", err, calls)
	}
}
