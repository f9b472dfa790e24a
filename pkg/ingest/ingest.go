// Package ingest turns request bodies into stored events: it decodes
// (one object, an array, NDJSON; native and authentik JSON), assigns the
// tenant, normalizes, validates, applies retention, enriches with GeoIP and
// commits through a group-committing Writer. Its HTTP handler is shared by
// the standalone server and the Grafana plugin.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"time"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/event"
)

// Defaults for Options.
const (
	DefaultMaxBody   = 10 << 20
	DefaultMaxEvents = 10_000
)

// Options tune an Ingester. Zero values take the defaults.
type Options struct {
	// Retention sets each event's expiry unless it brings its own.
	Retention event.Retention
	// Enricher adds geo and ASN data for public client IPs; nil for none.
	Enricher Enricher
	// MaxBody bounds a request body in bytes, after decompression
	// (default 10 MiB).
	MaxBody int64
	// MaxEvents bounds the events of one request (default 10,000).
	MaxEvents int
	// RetryAfter is what a 429 tells the client to wait (default 1s).
	RetryAfter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger gets store failures and similar (default slog.Default()).
	Logger *slog.Logger
	// Observe, when set, is told the status and result of every POST
	// (for metrics; the result is zero when the request failed as a whole).
	Observe func(status int, res Result)
}

// Ingester prepares events and hands them to a Writer.
type Ingester struct {
	w *Writer
	o Options
}

// New returns an Ingester writing through w.
func New(w *Writer, o Options) *Ingester {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Ingester{w: w, o: o}
}

// Result is the outcome of one request.
type Result struct {
	// Accepted counts the events stored by this request.
	Accepted int `json:"accepted"`
	// Duplicates counts valid events whose id the tenant already had.
	Duplicates int `json:"duplicates"`
	// Rejected lists the invalid events, which were not stored.
	Rejected []Rejection `json:"rejected"`
}

// Rejection is one invalid event of a request.
type Rejection struct {
	Index int    `json:"index"` // position in the request, from 0
	Error string `json:"error"`
}

// batch collects one request's prepared events.
type batch struct {
	p        access.Principal
	now      time.Time
	events   []event.Event
	rejected []Rejection
}

func (in *Ingester) newBatch(p access.Principal) *batch {
	return &batch{p: p, now: in.o.Now().UTC().Truncate(time.Millisecond), rejected: []Rejection{}}
}

// addRaw decodes one element. An invalid event becomes a rejection; an
// event of a tenant the principal may not write fails the whole request,
// because that is a credentials mistake, not a data one, and storing the
// rest would hide it.
func (in *Ingester) addRaw(b *batch, i int, raw []byte) error {
	e, err := event.Decode(raw)
	if err != nil {
		b.rejected = append(b.rejected, Rejection{Index: i, Error: err.Error()})
		return nil
	}
	return in.add(b, i, e)
}

func (in *Ingester) add(b *batch, i int, e event.Event) error {
	tenant, err := b.p.TenantFor(e.Tenant)
	if err != nil {
		return &ForbiddenError{Index: i, Err: err}
	}
	e.Tenant = tenant
	event.Normalize(&e, b.now)
	if err := event.Validate(&e); err != nil {
		b.rejected = append(b.rejected, Rejection{Index: i, Error: err.Error()})
		return nil
	}
	in.o.Retention.Apply(&e)
	in.enrich(&e)
	e.ReceivedAt = b.now
	if len(b.events) == cap(b.events) {
		// append grows a slice this large by a quarter at a time, which for
		// a batch of thousands of 300-byte events allocates and copies it
		// about five times over; doubling does it twice.
		grown := make([]event.Event, len(b.events), max(8, 2*cap(b.events)))
		copy(grown, b.events)
		b.events = grown
	}
	b.events = append(b.events, e)
	return nil
}

// ForbiddenError is an event the principal may not write (HTTP 403).
type ForbiddenError struct {
	Index int
	Err   error
}

func (e *ForbiddenError) Error() string { return fmt.Sprintf("event %d: %v", e.Index, e.Err) }
func (e *ForbiddenError) Unwrap() error { return e.Err }

// cgnat (RFC 6598) is shared address space, as unlocatable as a private
// range; netip does not count it as private.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func (in *Ingester) enrich(e *event.Event) {
	if in.o.Enricher == nil || e.ClientIP == "" || (e.Geo != nil && e.ASN != nil) {
		return
	}
	ip, err := netip.ParseAddr(e.ClientIP)
	if err != nil {
		return
	}
	ip = ip.Unmap()
	// IsGlobalUnicast also rules out authentik's 255.255.255.255 stand-in
	// for "no client IP".
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || cgnat.Contains(ip) {
		return
	}
	geo, asn := in.o.Enricher.Lookup(ip)
	if geo != nil && !finite(geo.Lat, geo.Lon) {
		// A damaged database record must not poison the whole insert.
		geo = nil
	}
	if e.Geo == nil {
		e.Geo = geo
	}
	if e.ASN == nil {
		e.ASN = asn
	}
}

func finite(fs ...float64) bool {
	for _, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

// commit writes the batch and counts the outcome.
func (in *Ingester) commit(ctx context.Context, b *batch) (Result, error) {
	res := Result{Rejected: b.rejected}
	if len(b.events) == 0 {
		return res, nil
	}
	dup, err := in.w.Write(ctx, b.events)
	if err != nil {
		return res, err
	}
	for _, d := range dup {
		if d {
			res.Duplicates++
		} else {
			res.Accepted++
		}
	}
	return res, nil
}

// Ingest prepares and stores events that are already decoded, as the demo
// seeder does. Invalid events are rejected by index; the error is for the
// request as a whole (a *ForbiddenError, ErrQueueFull, ErrClosed, a
// *StoreError or ctx's error), and then nothing was acknowledged.
func (in *Ingester) Ingest(ctx context.Context, p access.Principal, evs []event.Event) (Result, error) {
	if !p.CanWrite() {
		return Result{}, fmt.Errorf("ingest: principal %s may not write events", p)
	}
	b := in.newBatch(p)
	for i := range evs {
		if err := in.add(b, i, evs[i]); err != nil {
			return Result{}, err
		}
	}
	return in.commit(ctx, b)
}

// IngestRaw is Ingest for events as JSON objects in either form, as an
// importer has them.
func (in *Ingester) IngestRaw(ctx context.Context, p access.Principal, raws [][]byte) (Result, error) {
	if !p.CanWrite() {
		return Result{}, fmt.Errorf("ingest: principal %s may not write events", p)
	}
	if len(raws) > in.o.MaxEvents {
		return Result{}, tooMany(in.o.MaxEvents)
	}
	b := in.newBatch(p)
	for i, raw := range raws {
		if err := in.addRaw(b, i, raw); err != nil {
			return Result{}, err
		}
	}
	return in.commit(ctx, b)
}

// Retryable tells whether err is one a client should retry later: a full
// queue, a shutdown or a store failure.
func Retryable(err error) bool {
	var se *StoreError
	return errors.Is(err, ErrQueueFull) || errors.Is(err, ErrClosed) || errors.As(err, &se)
}
