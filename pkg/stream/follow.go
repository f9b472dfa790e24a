package stream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/query"
)

// TailPath is where the server mounts Handler.
const TailPath = "/api/v1/tail"

// maxLine bounds one NDJSON line: an event is at most a few hundred KB
// (context ≤ 256 KB plus bounded fields and diff).
const maxLine = 8 << 20

// FollowEvents connects to a server's tail endpoint and calls fn for each
// event as it arrives, until ctx ends (nil), the server ends the stream
// (an error saying so) or fn fails. baseURL is the server ("http://host:8080")
// or the full tail URL; token, if set, is sent as a bearer token; params
// are the filters (action, user, app, country, clientIp, search).
func FollowEvents(ctx context.Context, baseURL, token string, params url.Values, fn func(event.Event) error) error {
	u, err := tailURL(baseURL, params)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("stream: tail %s: %w", baseURL, err)
	}
	req.Header.Set("Accept", "application/x-ndjson")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// No client timeout: a tail is supposed to stay open. ctx ends it.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("stream: tail %s: %w", redact(u), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e struct{ Error string }
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return fmt.Errorf("stream: tail %s: %s: %s", redact(u), resp.Status, msg)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue // heartbeat
		}
		var e event.Event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("stream: tail: bad event line: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("stream: tail: %w", err)
	}
	return errors.New("stream: tail: the server ended the stream")
}

// Follow prints each event of the tail as one line, as `auditlog tail`
// shows them:
//
//	2026-03-01T12:00:30.000Z warning acme: alice login_failed from 81.2.69.142 (London, GB)
func Follow(ctx context.Context, baseURL, token string, params url.Values, out io.Writer) error {
	return FollowEvents(ctx, baseURL, token, params, func(e event.Event) error {
		_, err := fmt.Fprintln(out, FormatLine(&e))
		return err
	})
}

// FormatLine is Follow's line for one event.
func FormatLine(e *event.Event) string {
	return e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00") + " " + query.Level(e.Severity) + " " + e.Tenant + ": " + query.Summary(e)
}

// tailURL appends the tail path unless baseURL has it, and the filters,
// which it checks first so a typo fails before connecting.
func tailURL(baseURL string, params url.Values) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("stream: tail: %q is not a server URL like http://localhost:8080", baseURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("stream: tail: URL scheme %q: want http or https", u.Scheme)
	}
	if _, err := query.FiltersFromURL(params); err != nil {
		return "", fmt.Errorf("stream: tail: %w", err)
	}
	if !strings.HasSuffix(u.Path, TailPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + TailPath
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// redact drops user info from a URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
