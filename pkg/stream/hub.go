// Package stream fans newly stored events out to live-tail subscribers:
// the plugin's RunStream, the standalone server's NDJSON endpoint and,
// through that, `auditlog tail`. Ingest must never wait for a reader, so
// every subscriber has a bounded buffer and a slow one loses events (and
// counts them) instead of slowing the writer.
package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auditlog/auditlog/pkg/event"
)

// Matcher selects the events a subscriber wants; *query.Matcher is one.
type Matcher interface {
	Match(e *event.Event) bool
}

// Options tune a Hub. Zero values take the defaults.
type Options struct {
	// Buffer is how many events a subscriber may fall behind before it
	// starts losing them (default 1024).
	Buffer int
	// MaxSubscribers bounds concurrent subscribers (default 100, Grafana
	// Live's default connection limit).
	MaxSubscribers int
}

// ErrTooManySubscribers is returned by Subscribe at the subscriber cap.
var ErrTooManySubscribers = errors.New("stream: too many live-tail subscribers")

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("stream: the hub is closed")

// Hub is the fan-out point. The zero value is not usable; call NewHub.
type Hub struct {
	opts    Options
	mu      sync.RWMutex
	subs    map[*Subscription]struct{}
	closed  bool
	dropped atomic.Uint64
}

// NewHub returns an empty hub.
func NewHub(o Options) *Hub {
	if o.Buffer <= 0 {
		o.Buffer = 1024
	}
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = 100
	}
	return &Hub{opts: o, subs: map[*Subscription]struct{}{}}
}

// Subscription is one subscriber's feed.
type Subscription struct {
	// C delivers matching events in publish order. It is closed when the
	// subscription ends (Close, the Subscribe context, or Hub.Close).
	C <-chan event.Event

	c       chan event.Event
	m       Matcher
	hub     *Hub
	once    sync.Once
	done    chan struct{}
	dropped atomic.Uint64
}

// Subscribe starts a feed of the events m matches (all events if m is
// nil). It ends when ctx does or Close is called.
func (h *Hub) Subscribe(ctx context.Context, m Matcher) (*Subscription, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if len(h.subs) >= h.opts.MaxSubscribers {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w (the limit is %d)", ErrTooManySubscribers, h.opts.MaxSubscribers)
	}
	c := make(chan event.Event, h.opts.Buffer)
	s := &Subscription{C: c, c: c, m: m, hub: h, done: make(chan struct{})}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// Close ends the subscription and closes C. It is safe to call more than
// once and from any goroutine.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.hub.mu.Lock()
		delete(s.hub.subs, s)
		// Under the write lock no Publish is sending, so closing is safe.
		close(s.c)
		s.hub.mu.Unlock()
		close(s.done)
	})
}

// Dropped counts the events this subscriber lost because it was behind.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Publish offers a batch of stored events to every subscriber. It never
// blocks: a subscriber whose buffer is full loses the event. Its signature
// fits ingest.WriterOptions.OnStored.
func (h *Hub) Publish(evs []event.Event) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		for i := range evs {
			if s.m != nil && !s.m.Match(&evs[i]) {
				continue
			}
			select {
			case s.c <- evs[i]:
			default:
				s.dropped.Add(1)
				h.dropped.Add(1)
			}
		}
	}
}

// Subscribers is the number of live subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// Dropped counts the events lost by all subscribers so far, for metrics.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Close ends every subscription and refuses new ones, for shutdown.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	subs := make([]*Subscription, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
}

// Tail runs a subscription until ctx ends, handing matching events to
// send in batches: at most maxBatch events (default 500), sent as soon as
// maxWait (default 250 ms) has passed since the first of them. It is the
// loop of the plugin's RunStream:
//
//	hub.Tail(ctx, m, 0, 0, func(evs []event.Event) error {
//		return sender.SendFrame(query.LogsFrame(evs), data.IncludeAll)
//	})
//
// It returns nil when ctx ends, ErrClosed when the hub closes, or
// send's error.
func (h *Hub) Tail(ctx context.Context, m Matcher, maxBatch int, maxWait time.Duration, send func([]event.Event) error) error {
	if maxBatch <= 0 {
		maxBatch = 500
	}
	if maxWait <= 0 {
		maxWait = 250 * time.Millisecond
	}
	sub, err := h.Subscribe(ctx, m)
	if err != nil {
		return err
	}
	defer sub.Close()
	var (
		batch []event.Event
		timer *time.Timer
		due   <-chan time.Time
	)
	flush := func() error {
		if timer != nil {
			timer.Stop()
			timer, due = nil, nil
		}
		if len(batch) == 0 {
			return nil
		}
		b := batch
		batch = nil
		return send(b)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-sub.C:
			if !ok {
				if err := flush(); err != nil {
					return err
				}
				if ctx.Err() != nil {
					return nil
				}
				return ErrClosed
			}
			batch = append(batch, e)
			if len(batch) >= maxBatch {
				if err := flush(); err != nil {
					return err
				}
			} else if timer == nil {
				timer = time.NewTimer(maxWait)
				due = timer.C
			}
		case <-due:
			if err := flush(); err != nil {
				return err
			}
		}
	}
}
