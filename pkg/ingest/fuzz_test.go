package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/event"
)

// fuzzNow fixes the clock, so that an event without a time decodes the
// same in every framing.
var fuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// readBody runs a body through what the HTTP handler does before the
// commit: readEvents, then per-element decode, tenant, normalize and
// validate into a batch. It never touches a store.
func readBody(body []byte, f Format, maxEvents int) (b *batch, indexes []int, raws [][]byte, err error) {
	in := New(nil, Options{MaxEvents: maxEvents, Now: func() time.Time { return fuzzNow }})
	b = in.newBatch(access.Admin)
	err = readEvents(bytes.NewReader(body), f, maxEvents, func(i int, raw []byte) error {
		indexes = append(indexes, i)
		raws = append(raws, bytes.Clone(raw)) // raw is only valid during the call
		return in.addRaw(b, i, raw)
	})
	return b, indexes, raws, err
}

// FuzzReadEvents feeds arbitrary bodies to the body reader in both
// formats. Properties:
//   - no panic, and a failure of the body as a whole is a *RequestError
//     (the reader is in memory, so no read error can happen);
//   - elements are numbered 0, 1, 2, … and there are never more than
//     maxEvents of them;
//   - every element is either stored or rejected exactly once, and each
//     rejection carries its element's index and a message;
//   - an element that decodes to a valid event decodes identically alone,
//     as the only element of an array, and as one NDJSON line.
func FuzzReadEvents(f *testing.F) {
	// The seeds also live in testdata/fuzz/FuzzReadEvents; these few keep
	// the target meaningful if that directory is lost.
	f.Add([]byte(`{"action":"login","user":{"username":"alice"}}`), false, uint8(3))
	f.Add([]byte(`[{"action":"login"},{"action":"Bad"},{"action":"logout"}]`), false, uint8(2))
	f.Add([]byte("{\"action\":\"a\"}\n\n{\"action\":\"b\"}\n{bad\n"), true, uint8(5))
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool, max uint8) {
		maxEvents := int(max%16) + 1
		format := FormatJSON
		if ndjson {
			format = FormatNDJSON
		}
		b, indexes, raws, err := readBody(body, format, maxEvents)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("body error is %T, want *RequestError: %v", err, err)
			}
			if re.Status < 400 || re.Status > 499 || re.Msg == "" {
				t.Fatalf("body error %d %q: want a 4xx with a message", re.Status, re.Msg)
			}
		}
		if len(indexes) > maxEvents {
			t.Fatalf("%d elements read with a limit of %d", len(indexes), maxEvents)
		}
		for i, n := range indexes {
			if n != i {
				t.Fatalf("element %d was numbered %d", i, n)
			}
		}
		if got := len(b.events) + len(b.rejected); got != len(indexes) {
			t.Fatalf("%d elements read, but %d stored + %d rejected", len(indexes), len(b.events), len(b.rejected))
		}
		last := -1
		for _, r := range b.rejected {
			if r.Index <= last || r.Index >= len(indexes) {
				t.Fatalf("rejection index %d after %d, with %d elements", r.Index, last, len(indexes))
			}
			if strings.TrimSpace(r.Error) == "" {
				t.Fatalf("rejection %d has no message", r.Index)
			}
			last = r.Index
		}
		if err != nil {
			return
		}
		rejected := map[int]bool{}
		for _, r := range b.rejected {
			rejected[r.Index] = true
		}
		k := 0
		for i, raw := range raws {
			if rejected[i] {
				continue
			}
			sameInEveryFraming(t, raw, &b.events[k])
			k++
		}
	})
}

// sameInEveryFraming re-sends the element of an accepted event alone, as
// the only element of an array and as one NDJSON line, and wants the same
// event back each time.
func sameInEveryFraming(t *testing.T, raw []byte, want *event.Event) {
	t.Helper()
	// An array element may span lines; NDJSON needs it on one.
	var line bytes.Buffer
	if err := json.Compact(&line, raw); err != nil {
		t.Fatalf("an accepted element is not valid JSON: %v\n%q", err, raw)
	}
	for _, fr := range []struct {
		name   string
		format Format
		body   []byte
	}{
		{"alone", FormatJSON, raw},
		{"array", FormatJSON, append(append([]byte("[\n"), raw...), "\n]"...)},
		{"ndjson", FormatNDJSON, append(append([]byte("\n"), line.Bytes()...), "\r\n"...)},
	} {
		b, _, _, err := readBody(fr.body, fr.format, 1)
		if err != nil {
			t.Fatalf("%s: %v\n%s", fr.name, err, fr.body)
		}
		if len(b.events) != 1 {
			t.Fatalf("%s: an accepted event was rejected: %+v\n%s", fr.name, b.rejected, fr.body)
		}
		got := b.events[0]
		// Retention, enrichment and receipt time are applied again on
		// purpose; compare what the sender controls.
		got.ReceivedAt = want.ReceivedAt
		if d, _ := event.Decode(raw); d.ID == "" {
			got.ID = want.ID // generated, so random each time
		}
		if !reflect.DeepEqual(canonical(t, &got), canonical(t, want)) {
			t.Fatalf("%s: decoded differently:\n got %s\nwant %s\nfrom %q", fr.name, mustMarshal(&got), mustMarshal(want), raw)
		}
	}
}

func canonical(t *testing.T, e *event.Event) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(mustMarshal(e), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustMarshal(e *event.Event) []byte {
	b, _ := json.Marshal(e)
	return b
}
