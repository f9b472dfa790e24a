package authentik

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTPSink sends events to a running Auditlog server's ingest API.
type HTTPSink struct {
	// URL is the server, e.g. http://127.0.0.1:8080.
	URL string
	// Token is a bearer token with the ingest role ("" for an open server).
	Token string
	HTTP  *http.Client
	// Retries bounds the retries of a page the server is too busy for
	// (429, 503) or cannot be reached (default 5).
	Retries int
	// MaxWait caps one wait between retries (default 30s).
	MaxWait time.Duration
}

// NewHTTPSink checks the URL.
func NewHTTPSink(target, token string) (*HTTPSink, error) {
	if !isHTTPURL(target) {
		return nil, fmt.Errorf("authentik: target %q: want http(s)://host:port of an Auditlog server", target)
	}
	return &HTTPSink{URL: strings.TrimRight(target, "/"), Token: token}, nil
}

// Send posts the events as NDJSON and waits until the server has stored
// them.
func (s *HTTPSink) Send(ctx context.Context, events [][]byte) (Sent, error) {
	var body bytes.Buffer
	for _, e := range events {
		body.Write(bytes.TrimSpace(e))
		body.WriteByte('\n')
	}
	retries, maxWait := s.Retries, s.MaxWait
	if retries <= 0 {
		retries = 5
	}
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	wait := time.Second
	for attempt := 0; ; attempt++ {
		sent, retryAfter, err := s.post(ctx, hc, body.Bytes())
		if err == nil || retryAfter < 0 || attempt >= retries {
			return sent, err
		}
		if retryAfter > 0 {
			wait = retryAfter
		}
		select {
		case <-ctx.Done():
			return Sent{}, ctx.Err()
		case <-time.After(min(wait, maxWait)):
		}
		wait *= 2
	}
}

// post returns retryAfter >= 0 for errors worth retrying (0: use backoff)
// and -1 for final ones.
func (s *HTTPSink) post(ctx context.Context, hc *http.Client, body []byte) (Sent, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/v1/events", bytes.NewReader(body))
	if err != nil {
		return Sent{}, -1, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Sent{}, -1, ctx.Err()
		}
		return Sent{}, 0, fmt.Errorf("send to %s: %w", s.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return Sent{}, 0, fmt.Errorf("read answer of %s: %w", s.URL, err)
	}
	var res struct {
		Accepted   *int        `json:"accepted"`
		Duplicates int         `json:"duplicates"`
		Rejected   []Rejection `json:"rejected"`
		Error      string      `json:"error"`
	}
	_ = json.Unmarshal(b, &res)
	if res.Accepted != nil && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadRequest) {
		// 400 with a result: every event was invalid, which is the data's
		// problem, not the transfer's.
		return Sent{Accepted: *res.Accepted, Duplicates: res.Duplicates, Rejected: res.Rejected}, -1, nil
	}
	msg := res.Error
	if msg == "" {
		msg = strings.TrimSpace(string(b))
	}
	err = fmt.Errorf("auditlog server %s: HTTP %d: %s", s.URL, resp.StatusCode, msg)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return Sent{}, time.Duration(max(ra, 0)) * time.Second, err
	}
	return Sent{}, -1, err
}
