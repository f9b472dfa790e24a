package query

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

// Defaults for the concurrency limit of a Service.
const (
	// DefaultMaxConcurrent is how many queries run at once. The embedded
	// engine shares the process's cores with ingest; a dashboard of twenty
	// panels refreshing at once must queue rather than starve the writer.
	DefaultMaxConcurrent = 8
	// DefaultQueueWait is how long a query waits for a slot before it is
	// refused: long enough to ride out a dashboard's burst, short enough
	// that an overloaded server answers quickly instead of piling up.
	DefaultQueueWait = 2 * time.Second
)

// ErrTooManyQueries is a query refused because every slot stayed taken for
// the whole wait. It is a 429 for the caller: retry shortly.
var ErrTooManyQueries = errors.New("too many concurrent queries")

// slots returns the semaphore, made on first use so that a Service keeps
// working as a plain struct literal.
func (s *Service) slots() chan struct{} {
	s.semOnce.Do(func() {
		n := s.MaxConcurrent
		if n <= 0 {
			n = DefaultMaxConcurrent
		}
		s.sem = make(chan struct{}, n)
	})
	return s.sem
}

// acquire takes a query slot, waiting at most QueueWait. The release func
// must be called once the query is done.
func (s *Service) acquire(ctx context.Context) (release func(), err error) {
	sem := s.slots()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	default:
	}
	wait := s.QueueWait
	if wait <= 0 {
		wait = DefaultQueueWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: %d are running, the most allowed at once, and none finished within %s; retry shortly", ErrTooManyQueries, cap(sem), wait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// engineLimit recognises ClickHouse refusing a query for one of the limits
// the store passes with every read (max_memory_usage,
// max_execution_time), and says which, so the user learns that the query
// was too expensive rather than that the plugin broke. Both engines report
// ClickHouse's own text: the embedded one "… (MEMORY_LIMIT_EXCEEDED)", a
// server "code: 241, message: Memory limit (for query) exceeded …".
func engineLimit(err error) (backend.Status, string, bool) {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "MEMORY_LIMIT_EXCEEDED") || strings.Contains(msg, "Memory limit"):
		return backend.StatusBadRequest, "the query needs more memory than the query memory limit allows (queryMaxMemory, --query-max-memory); narrow the time range or the filters", true
	case strings.Contains(msg, "TIMEOUT_EXCEEDED") || strings.Contains(msg, "Timeout exceeded"):
		return backend.StatusTimeout, "the query ran longer than the query time limit (queryTimeout, --query-timeout); narrow the time range or the filters", true
	}
	return 0, "", false
}
