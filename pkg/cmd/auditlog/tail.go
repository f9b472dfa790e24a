package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/stream"
)

// Registered here rather than in the commands literal so that this file is
// the whole subcommand.
func init() {
	commands["tail"] = command{"follow new events live: tail --url URL [--token T] [--action A] [--user U] …", runTail}
}

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", "tail [--url URL] [--token TOKEN] [--action A]… [--user U]… [--app A]… [--country CC]… [--client-ip IP|CIDR]… [--search TEXT] [--json]", stderr)
	base := fs.String("url", tailEnv("AUDITLOG_URL", "http://127.0.0.1:8080"), "server URL (env AUDITLOG_URL)")
	token := fs.String("token", os.Getenv("AUDITLOG_TOKEN"), "bearer token with the read role (env AUDITLOG_TOKEN)")
	var actions, users, apps, countries, ips listFlag
	fs.Var(&actions, "action", "only this action (repeatable)")
	fs.Var(&users, "user", "only this username, email or user id (repeatable)")
	fs.Var(&apps, "app", "only this app (repeatable)")
	fs.Var(&countries, "country", "only this ISO country code (repeatable)")
	fs.Var(&ips, "client-ip", "only this client IP or CIDR (repeatable)")
	search := fs.String("search", "", "only events containing this text (case-insensitive)")
	asJSON := fs.Bool("json", false, "print each event's native JSON instead of a readable line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	params := url.Values{}
	for k, vs := range map[string]listFlag{"action": actions, "user": users, "app": apps, "country": countries, "clientIp": ips} {
		for _, v := range vs {
			params.Add(k, v)
		}
	}
	if *search != "" {
		params.Set("search", *search)
	}
	// Ctrl-C is the normal way to stop following: exit 0.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !*asJSON {
		return stream.Follow(ctx, *base, *token, params, stdout)
	}
	enc := json.NewEncoder(stdout)
	return stream.FollowEvents(ctx, *base, *token, params, func(e event.Event) error {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	})
}

func tailEnv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
