package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
)

// dataset is the generated events, kept on disk as NDJSON (authentik's API
// JSON, one event a line) so that ten million of them cost no memory, and
// what the queries need to know about them.
type dataset struct {
	path     string
	n        int
	bytes    int64
	from, to time.Time
	// ids are sampled evenly from the events, for lookups by id.
	ids []string
	// user is a busy (but not the busiest) user of the last 7 days'
	// logins, so a filtered read must skip most rows.
	user string
	// rareTerm occurs in a handful of events; commonTerm in most.
	rareTerm, commonTerm string
	rareCount            int
}

// sampleIDs is how many ids by_id cycles through.
const sampleIDs = 1000

// light is the part of an authentik event the generator pass reads back.
type light struct {
	PK     string `json:"pk"`
	Action string `json:"action"`
	User   struct {
		Username string `json:"username"`
	} `json:"user"`
}

var ticketMark = []byte("support ticket #")

// generate writes n events over [from, to) to dir/events.ndjson.
func generate(dir string, seed int64, n int, from, to time.Time) (*dataset, error) {
	ds := &dataset{path: dir + "/events.ndjson", n: n, from: from, to: to, commonTerm: "firefox"}
	f, err := os.Create(ds.path)
	if err != nil {
		return nil, fmt.Errorf("bench: create data file: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	every := max(1, n/sampleIDs)
	week := to.Add(-7 * 24 * time.Hour)
	logins := map[string]int{}
	tickets := map[string]int{}
	var ticketOrder []string
	i := 0
	err = demo.Stream(seed, n, from, to, func(t time.Time, raw []byte) error {
		if _, err := w.Write(raw); err != nil {
			return err
		}
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
		ds.bytes += int64(len(raw)) + 1
		var l light
		if i%every == 0 || !t.Before(week) {
			if err := json.Unmarshal(raw, &l); err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
		}
		if i%every == 0 && len(ds.ids) < sampleIDs {
			ds.ids = append(ds.ids, l.PK)
		}
		if !t.Before(week) && l.Action == "login" {
			logins[l.User.Username]++
		}
		if k := bytes.Index(raw, ticketMark); k >= 0 {
			j := k + len(ticketMark)
			for j < len(raw) && raw[j] >= '0' && raw[j] <= '9' {
				j++
			}
			term := "ticket " + string(raw[k+len(ticketMark)-1:j])
			if tickets[term] == 0 {
				ticketOrder = append(ticketOrder, term)
			}
			tickets[term]++
		}
		i++
		return nil
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("bench: generate events: %w", err)
	}
	// The 5th busiest user: busy enough to fill a page in a week, not so
	// busy that the newest 100 are all in the last minutes.
	type uc struct {
		u string
		c int
	}
	var us []uc
	for u, c := range logins {
		us = append(us, uc{u, c})
	}
	sort.Slice(us, func(a, b int) bool {
		if us[a].c != us[b].c {
			return us[a].c > us[b].c
		}
		return us[a].u < us[b].u
	})
	if len(us) > 0 {
		ds.user = us[min(4, len(us)-1)].u
	} else {
		ds.user = "akadmin"
	}
	// The rare term is an impersonation's ticket number from the middle of
	// the stream: a search an admin really makes, matching a few events.
	ds.rareTerm, ds.rareCount = "ticket #no-such-ticket", 0
	if len(ticketOrder) > 0 {
		ds.rareTerm = ticketOrder[len(ticketOrder)/2]
		ds.rareCount = tickets[ds.rareTerm]
	}
	return ds, nil
}

// each reads the data file and calls fn with every raw event (which fn
// must not keep), in order, up to limit events (0 for all).
func (ds *dataset) each(limit int, fn func(i int, raw []byte) error) error {
	f, err := os.Open(ds.path)
	if err != nil {
		return fmt.Errorf("bench: open data file: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for i := 0; limit <= 0 || i < limit; i++ {
		line, err := r.ReadSlice('\n')
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("bench: read data file: %w", err)
		}
		if err := fn(i, bytes.TrimSuffix(line, []byte{'\n'})); err != nil {
			return err
		}
	}
	return nil
}

// prepare decodes a raw event and readies it as ingest would: normalized,
// validated, with the retention's expiry, received now.
func prepare(raw []byte, ret event.Retention, now time.Time) (event.Event, error) {
	e, err := event.Decode(raw)
	if err != nil {
		return e, err
	}
	event.Normalize(&e, now)
	if err := event.Validate(&e); err != nil {
		return e, err
	}
	ret.Apply(&e)
	e.ReceivedAt = now
	return e, nil
}
