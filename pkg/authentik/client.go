// Package authentik pulls events from authentik's API
// (GET /api/v3/events/events/) and imports them into Auditlog, page by
// page, with a resumable cursor.
package authentik

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client reads authentik's events API.
type Client struct {
	// BaseURL is the authentik instance, e.g. https://auth.example.com.
	BaseURL string
	// Token is an API token (Directory > Tokens) of a user allowed to view
	// events.
	Token string
	// HTTP is the client (default: one with a 1-minute timeout).
	HTTP *http.Client
	// PageSize is the page size asked for (default 100).
	PageSize int
	// Retries is how often a page is retried after a network error, a 5xx
	// or a 429 (default 3); Backoff is the first wait, doubled each time
	// (default 1s).
	Retries int
	Backoff time.Duration
}

// NewClient checks the URL and returns a client with defaults.
func NewClient(baseURL, token string) (*Client, error) {
	if !isHTTPURL(baseURL) {
		return nil, fmt.Errorf("authentik: URL %q: want http(s)://host[:port]", baseURL)
	}
	if token == "" {
		return nil, errors.New("authentik: an API token is required")
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token}, nil
}

// isHTTPURL says whether s is an absolute http(s) URL with a host, the
// only kind the importer can reach.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Pagination is authentik's page information.
type Pagination struct {
	Next       int `json:"next"` // 0 on the last page
	Previous   int `json:"previous"`
	Count      int `json:"count"` // events matching the filter
	Current    int `json:"current"`
	TotalPages int `json:"total_pages"`
	StartIndex int `json:"start_index"`
	EndIndex   int `json:"end_index"`
}

// Page is one page of events, each kept as the JSON authentik sent.
type Page struct {
	Pagination Pagination        `json:"pagination"`
	Results    []json.RawMessage `json:"results"`
}

// APIError is an answer other than 200.
type APIError struct {
	Status int
	Detail string
}

func (e *APIError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = " (check the token and that its user may view events)"
	case http.StatusNotFound:
		hint = " (is the URL an authentik instance?)"
	}
	return fmt.Sprintf("authentik: HTTP %d: %s%s", e.Status, e.Detail, hint)
}

func (e *APIError) retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// maxPageBytes bounds one page's body; 100 events are far below it.
const maxPageBytes = 64 << 20

// timeParam is how created filters are sent: microseconds, authentik's
// precision.
func timeParam(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

// Events fetches one page of events created after `after` (all when
// zero), oldest first.
func (c *Client) Events(ctx context.Context, after time.Time, page int) (*Page, error) {
	size := c.PageSize
	if size <= 0 {
		size = 100
	}
	q := url.Values{}
	q.Set("ordering", "created")
	q.Set("page_size", strconv.Itoa(size))
	q.Set("page", strconv.Itoa(page))
	if !after.IsZero() {
		q.Set("created__gt", timeParam(after))
	}
	u := c.BaseURL + "/api/v3/events/events/?" + q.Encode()

	retries, wait := c.Retries, c.Backoff
	if retries <= 0 {
		retries = 3
	}
	if wait <= 0 {
		wait = time.Second
	}
	var err error
	for attempt := 0; ; attempt++ {
		var p *Page
		p, err = c.get(ctx, u)
		if err == nil {
			return p, nil
		}
		var ae *APIError
		if ctx.Err() != nil || (errors.As(err, &ae) && !ae.retryable()) || attempt >= retries {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	return nil, fmt.Errorf("authentik: page %d: %w", page, err)
}

func (c *Client) get(ctx context.Context, u string) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &APIError{Status: resp.StatusCode, Detail: detail(body, resp.Status)}
	}
	if len(body) > maxPageBytes {
		return nil, fmt.Errorf("page larger than %d bytes; use a smaller page size", maxPageBytes)
	}
	var p Page
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("answer is not an authentik events page: %w", err)
	}
	return &p, nil
}

// detail takes authentik's {"detail": "…"} or a short piece of the body.
func detail(body []byte, status string) string {
	var d struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &d) == nil && d.Detail != "" {
		return d.Detail
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return status
	}
	return s
}
