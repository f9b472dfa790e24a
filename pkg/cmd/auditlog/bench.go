package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/auditlog/auditlog/pkg/bench"
)

// Registered here rather than in the commands literal so that this file is
// the whole subcommand.
func init() {
	commands["bench"] = command{"measure ingest, queries, retention, disk and memory against authentik's PostgreSQL: bench [--events N] [--smoke]", runBench}
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "bench [--events N] [--days D] [--smoke] [--no-postgres] [--out FILE]", stderr)
	events := fs.Int("events", 1_000_000, "events in the data set")
	days := fs.Int("days", 30, "days the events cover, up to now")
	seed := fs.Int64("seed", 42, "seed of the data set; the same seed gives the same events")
	clients := fs.Int("clients", 8, "concurrent HTTP clients sending events")
	batch := fs.Int("batch", 5000, "events per HTTP request")
	runs := fs.Int("runs", 20, "timed runs per query")
	smoke := fs.Bool("smoke", false, "run the whole pipeline on 2,000 events, to check the bench rather than the speed")
	noPG := fs.Bool("no-postgres", false, "skip the PostgreSQL baseline")
	out := fs.String("out", "bench/results/latest.json", "where to write the results as JSON (\"\" for nowhere)")
	lib := fs.String("chdb-lib", "", "path of libchdb.so (default: $CHDB_LIB_PATH, then the cache of go tool mage setup)")
	workDir := fs.String("workdir", "", "directory for the temporary data (default: the system temp dir)")
	keep := fs.Bool("keep", false, "keep the temporary data (the engine's data directory) afterwards, to look into it")
	profile := fs.String("cpuprofile", "", "write a Go CPU profile of the HTTP ingest to this file (go tool pprof reads it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *events <= 0 || *days <= 0 || *clients <= 0 || *batch <= 0 || *runs <= 0 {
		return usagef("--events, --days, --clients, --batch and --runs must be positive")
	}
	cfg := bench.Config{
		Events: *events, Span: time.Duration(*days) * 24 * time.Hour, Seed: *seed,
		Clients: *clients, Batch: *batch, Runs: *runs, Postgres: !*noPG,
		LibPath: *lib, WorkDir: *workDir, Keep: *keep, Out: *out, Log: stderr, IngestProfile: *profile,
	}
	if *smoke {
		cfg = bench.Smoke(cfg)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	bench.WriteReport(stdout, res)
	if *out != "" {
		fmt.Fprintf(stdout, "\nResults: %s\n", *out)
	}
	return nil
}
