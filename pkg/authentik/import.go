package authentik

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Sink stores a page of events given as JSON objects (authentik's form).
type Sink interface {
	Send(ctx context.Context, events [][]byte) (Sent, error)
}

// Sent is what a sink did with a page.
type Sent struct {
	Accepted, Duplicates int
	// Rejected lists the events the sink refused as invalid, by index in
	// the page, with the reason.
	Rejected []Rejection
}

// Rejection is one refused event.
type Rejection struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// Importer copies events from authentik to a sink.
type Importer struct {
	Client *Client
	Sink   Sink
	// CursorPath is where progress is kept; "" keeps none.
	CursorPath string
	// Since skips events created at or before it.
	Since time.Time
	// KeepExpires keeps authentik's expiry on each event. By default it is
	// dropped so that Auditlog's own retention applies: moving the log out
	// of authentik is usually done to keep it longer.
	KeepExpires bool
	// Progress gets a progress bar (done/total, rate); nil for none.
	Progress io.Writer
	Logger   *slog.Logger
}

// Stats sums up a run.
type Stats struct {
	Pages, Fetched, Accepted, Duplicates, Rejected int
}

// Run imports until authentik has no newer events, or until the first
// failure. The cursor is saved after every stored page, so running again
// after a failure resumes where it stopped.
func (im *Importer) Run(ctx context.Context) (Stats, error) {
	var st Stats
	log := im.Logger
	if log == nil {
		log = slog.Default()
	}
	cur, found, err := Cursor{}, false, error(nil)
	if im.CursorPath != "" {
		if cur, found, err = LoadCursor(im.CursorPath); err != nil {
			return st, err
		}
		if found && cur.URL != im.Client.BaseURL {
			return st, fmt.Errorf("authentik: cursor %s belongs to %s, not %s; give another --cursor file", im.CursorPath, cur.URL, im.Client.BaseURL)
		}
	}
	cur.URL = im.Client.BaseURL

	// after is the created__gt filter. Resuming, it sits just before the
	// cursor's event, so events sharing its microsecond are not skipped;
	// the one already stored comes again and is deduplicated.
	after := im.Since
	if found && cur.Created.After(after) {
		after = cur.Created.Add(-time.Microsecond)
		log.Info("authentik: resuming", "after", cur.Created, "imported", cur.Imported)
	}
	// tie holds the pks sent so far that share the cursor's created time.
	tie := map[string]bool{}
	if found {
		tie[cur.PK] = true
	}
	prog := newProgress(im.Progress)
	defer prog.finish()
	page, total := 1, -1
	for {
		p, err := im.Client.Events(ctx, after, page)
		if err != nil {
			return st, err
		}
		st.Pages++
		first := total < 0
		if first {
			total = p.Pagination.Count
		}
		if len(p.Results) == 0 {
			break
		}
		// Events of the cursor's microsecond come again at the start of
		// each page (the filter sits a microsecond before them); those
		// already sent are skipped, the rest of the tie is not lost.
		results := p.Results
		for len(results) > 0 {
			var head struct {
				PK      string `json:"pk"`
				Created string `json:"created"`
			}
			_ = json.Unmarshal(results[0], &head)
			c, err := time.Parse(time.RFC3339Nano, head.Created)
			if err != nil || !c.Equal(cur.Created) || !tie[head.PK] {
				break
			}
			results = results[1:]
			if first {
				total--
			}
		}
		var last struct {
			PK      string `json:"pk"`
			Created string `json:"created"`
		}
		if len(results) == 0 {
			if p.Pagination.Next == 0 {
				break
			}
			page++
			continue
		}
		events := make([][]byte, len(results))
		for i, raw := range results {
			events[i] = raw
			if !im.KeepExpires {
				events[i] = withoutExpires(raw)
			}
		}
		if err := json.Unmarshal(results[len(results)-1], &last); err != nil {
			return st, fmt.Errorf("authentik: page %d: last event: %w", page, err)
		}
		lastCreated, err := time.Parse(time.RFC3339Nano, last.Created)
		if err != nil {
			return st, fmt.Errorf("authentik: page %d: last event's created %q: %w", page, last.Created, err)
		}

		sent, err := im.Sink.Send(ctx, events)
		if err != nil {
			return st, fmt.Errorf("authentik: store page %d (events after %s): %w", page, timeParam(after), err)
		}
		st.Fetched += len(events)
		st.Accepted += sent.Accepted
		st.Duplicates += sent.Duplicates
		st.Rejected += len(sent.Rejected)
		for _, r := range sent.Rejected {
			log.Warn("authentik: event rejected", "pk", pkOf(results, r.Index), "error", r.Error)
		}

		if !lastCreated.Equal(cur.Created) {
			clear(tie)
		}
		for _, raw := range results {
			var e struct {
				PK      string `json:"pk"`
				Created string `json:"created"`
			}
			if json.Unmarshal(raw, &e) == nil {
				if c, err := time.Parse(time.RFC3339Nano, e.Created); err == nil && c.Equal(lastCreated) {
					tie[e.PK] = true
				}
			}
		}
		cur.Created, cur.PK, cur.Updated = lastCreated, last.PK, time.Now().UTC()
		cur.Imported += int64(sent.Accepted)
		if im.CursorPath != "" {
			if err := cur.Save(im.CursorPath); err != nil {
				return st, err
			}
		}
		prog.update(st.Fetched, total)

		if p.Pagination.Next == 0 {
			break
		}
		// Move the filter rather than the page number, so events that
		// expire at the start of the list meanwhile cannot shift pages
		// under us. Only when a whole page shares one microsecond does the
		// filter not move, and then the page number does.
		if next := lastCreated.Add(-time.Microsecond); next.After(after) {
			after, page = next, 1
		} else {
			page++
		}
	}
	return st, nil
}

// withoutExpires drops the "expires" key. An event that does not parse is
// passed on as is, for the sink to reject with a proper message.
func withoutExpires(raw json.RawMessage) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	if _, ok := m["expires"]; !ok {
		return raw
	}
	delete(m, "expires")
	b, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return b
}

func pkOf(results []json.RawMessage, i int) string {
	if i < 0 || i >= len(results) {
		return ""
	}
	var e struct {
		PK string `json:"pk"`
	}
	_ = json.Unmarshal(results[i], &e)
	return e.PK
}

// progress draws "[=====>    ] 1200/5400 events 22% 850/s" on one line.
type progress struct {
	w           io.Writer
	start       time.Time
	last        time.Time
	drawn       bool
	done, total int
	pending     bool // the latest state is not on screen yet
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

func (p *progress) update(done, total int) {
	if p.w == nil {
		return
	}
	p.done, p.total = done, total
	now := time.Now()
	if p.drawn && now.Sub(p.last) < 100*time.Millisecond && done < total {
		p.pending = true
		return
	}
	p.draw(now)
}

func (p *progress) draw(now time.Time) {
	done, total := p.done, p.total
	p.last, p.drawn, p.pending = now, true, false
	if total < done {
		total = done // events created during the import
	}
	const width = 30
	filled := width
	pct := 100.0
	if total > 0 {
		filled = done * width / total
		pct = float64(done) * 100 / float64(total)
	}
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r[%s] %d/%d events %3.0f%% %.0f/s ", bar, done, total, pct, rate)
}

func (p *progress) finish() {
	if p.w != nil && p.pending {
		p.draw(time.Now())
	}
	if p.w != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
}
