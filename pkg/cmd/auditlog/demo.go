package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/geoip"
)

type demoFlags struct {
	serveFlags
	seed   int64
	events int
	days   int
	live   time.Duration
	reseed bool
	// seedOnly seeds and exits, for one-shot seeders (docker compose, the
	// local Grafana of `mage run`).
	seedOnly bool
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f demoFlags
	fs := newFlagSet("demo", "demo [flags]", stderr)
	f.register(fs, "auditlog-demo-data")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the generator: the same seed gives the same events")
	fs.IntVar(&f.events, "events", 50_000, "events to seed, spread over --days")
	fs.IntVar(&f.days, "days", 30, "days of history to seed, ending now")
	fs.DurationVar(&f.live, "live-interval", 3*time.Second, "how often a few live events arrive (0 for none)")
	fs.BoolVar(&f.reseed, "reseed", false, "seed even if the data directory already has events")
	fs.BoolVar(&f.seedOnly, "seed-only", false, "seed the history, then exit instead of serving")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.events < 0 || f.days <= 0 || f.live < 0 {
		return usagef("--events, --days and --live-interval must not be negative (and --days not zero)")
	}
	r, err := f.start(ctx, stderr)
	if err != nil {
		return err
	}
	if f.seedOnly {
		r.ln.Close()
		defer r.close()
		_, err := f.seedHistory(ctx, r, stdout)
		return err
	}
	fmt.Fprintf(stdout, "auditlog: listening on %s (engine %s, %s)\n", r.url, r.store.Engine(), location(&f.backendFlags))

	// The server answers while the history is seeded; the seeding and the
	// live trickle go through the same ingest path as any sender.
	go func() {
		example, err := f.seedHistory(ctx, r, stdout)
		if err != nil {
			r.log.Error("demo: seeding failed", "err", err)
			return
		}
		printDemoHelp(stdout, r, example, &f)
		if f.live > 0 {
			f.trickle(ctx, r)
		}
	}()
	return r.serve(ctx, f.tokenFile)
}

// seedHistory ingests the demo history unless the store has events
// already, and returns an event id to show.
func (f *demoFlags) seedHistory(ctx context.Context, r *running, stdout io.Writer) (string, error) {
	st, err := r.store.Stats(ctx)
	if err != nil {
		return "", err
	}
	if st.Events > 0 && !f.reseed {
		fmt.Fprintf(stdout, "demo: the store has %d events already; not seeding again (--reseed to add more)\n", st.Events)
		return "<id>", nil
	}
	now := time.Now().UTC()
	evs := demo.Generate(f.seed, f.events, now.Add(-time.Duration(f.days)*24*time.Hour), now)
	if len(evs) == 0 {
		return "<id>", nil
	}
	example := evs[len(evs)-1].ID
	if r.geo != nil {
		preferDatabaseGeo(r.geo, evs)
	}
	start := time.Now()
	accepted := 0
	for len(evs) > 0 {
		n := min(len(evs), 5000)
		res, err := r.ingester.Ingest(ctx, access.Admin, evs[:n])
		if err != nil {
			return "", err
		}
		accepted += res.Accepted
		evs = evs[n:]
	}
	fmt.Fprintf(stdout, "demo: seeded %d events over %d days in %s\n", accepted, f.days, time.Since(start).Round(time.Millisecond))
	return example, nil
}

// preferDatabaseGeo drops the events' own geo where the configured
// database knows the address, so that the map shows what the database
// says and GeoIP enrichment is exercised; the others keep the geo they
// bring, as authentik events do.
func preferDatabaseGeo(geo *geoip.Resolver, evs []event.Event) {
	for i := range evs {
		ip, err := netip.ParseAddr(evs[i].ClientIP)
		if err != nil {
			continue
		}
		if res := geo.Lookup(ip); res.Geo != nil {
			demo.DropGeo(&evs[i])
		}
	}
}

// trickle sends a few live events every interval until ctx ends or the
// server stops, so that the live tail has something to show.
func (f *demoFlags) trickle(ctx context.Context, r *running) {
	g := demo.NewGenerator(f.seed + 1)
	tick := time.NewTicker(f.live)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now().UTC()
		evs := make([]event.Event, 1+n%3)
		for i := range evs {
			evs[i] = g.Event(now.Add(time.Duration(i) * time.Millisecond))
		}
		if r.geo != nil {
			preferDatabaseGeo(r.geo, evs)
		}
		res, err := r.ingester.Ingest(ctx, access.Admin, evs)
		if err != nil {
			r.log.Debug("demo: live events stopped", "err", err)
			return
		}
		n++
		r.log.Info("demo: live events", "accepted", res.Accepted, "first", evs[0].ID, "action", evs[0].Action)
	}
}

func printDemoHelp(w io.Writer, r *running, exampleID string, f *demoFlags) {
	auth := ""
	if r.tokens != nil {
		auth = "-H 'Authorization: Bearer TOKEN' "
	}
	fmt.Fprintf(w, `
Auditlog demo is running on %[1]s
  health:       curl %[1]s/readyz
  an event:     curl %[2]s'%[1]s/api/v1/events/%[3]s'
  send one:     curl %[2]s-H 'Content-Type: application/json' -d '{"action":"login","user":{"username":"me"}}' %[1]s/api/v1/events
  authentik:    curl %[2]s-H 'Content-Type: application/x-ndjson' --data-binary @events.ndjson %[1]s/api/v1/events
  store:        %[4]s
`, r.url, auth, exampleID, grafanaHint(&f.backendFlags))
}

func grafanaHint(b *backendFlags) string {
	if b.engine == "clickhouse" {
		return "ClickHouse " + b.chAddr + ", database " + b.chDatabase
	}
	return "embedded, data directory " + b.data
}
