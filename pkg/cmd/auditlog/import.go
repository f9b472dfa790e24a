package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/authentik"
	"github.com/auditlog/auditlog/pkg/ingest"
)

// importSources are the systems import can read; one entry per source.
var importSources = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"authentik": runImportAuthentik,
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: auditlog import SOURCE [flags]\n\nSources:\n  authentik  events from authentik's API (auditlog import authentik -h)")
		if len(args) == 0 {
			return usagef("name a source, e.g. auditlog import authentik")
		}
		return nil
	}
	src, ok := importSources[args[0]]
	if !ok {
		return usagef("unknown source %q; known: authentik", args[0])
	}
	return src(ctx, args[1:], stdout, stderr)
}

func runImportAuthentik(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		b                                     backendFlags
		akURL, akToken, since, target, tToken string
		cursorPath                            string
		pageSize                              int
		keepExpires, quiet                    bool
	)
	fs := newFlagSet("import authentik",
		"import authentik --url URL [--token TOKEN] [--since TIME] (--target URL [--target-token T] | --data DIR) [flags]", stderr)
	fs.StringVar(&akURL, "url", "", "authentik's base URL, e.g. https://auth.example.com")
	fs.StringVar(&akToken, "token", os.Getenv("AUTHENTIK_TOKEN"), "authentik API token (default $AUTHENTIK_TOKEN, which keeps it out of the process list)")
	fs.StringVar(&since, "since", "", "only events created after this: RFC 3339 time, date, or an age like 30d (a saved cursor later than it wins)")
	fs.StringVar(&target, "target", "", "a running Auditlog server to send to, e.g. http://127.0.0.1:8080")
	fs.StringVar(&tToken, "target-token", os.Getenv("AUDITLOG_TOKEN"), "bearer token with the ingest role for --target (default $AUDITLOG_TOKEN)")
	fs.StringVar(&cursorPath, "cursor", "", "resumable cursor file (default "+authentik.DefaultCursorFile+" in --data, or in the current directory with --target)")
	fs.IntVar(&pageSize, "page-size", 100, "events per authentik API page")
	fs.BoolVar(&keepExpires, "keep-expires", false, "keep authentik's expiry on each event instead of applying --retention")
	fs.BoolVar(&quiet, "no-progress", false, "do not draw the progress bar on stderr")
	b.register(fs, "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if akURL == "" {
		return usagef("--url is required")
	}
	if akToken == "" {
		return usagef("--token (or $AUTHENTIK_TOKEN) is required")
	}
	local := b.data != "" || b.engine == "clickhouse"
	if (target != "") == local {
		return usagef("give either --target URL (a running server) or --data DIR / --engine clickhouse (write the store directly)")
	}
	if pageSize <= 0 || pageSize > ingest.DefaultMaxEvents {
		return usagef("--page-size must be between 1 and %d", ingest.DefaultMaxEvents)
	}
	sinceT, err := parseSince(since, time.Now())
	if err != nil {
		return usagef("%v", err)
	}
	client, err := authentik.NewClient(akURL, akToken)
	if err != nil {
		return usagef("%v", err)
	}
	client.PageSize = pageSize

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var sink authentik.Sink
	log, err := newLogger(stderr, b.logLevel, b.logFormat)
	if err != nil {
		return usagef("%v", err)
	}
	if target != "" {
		if sink, err = authentik.NewHTTPSink(target, tToken); err != nil {
			return usagef("%v", err)
		}
		if cursorPath == "" {
			cursorPath = authentik.DefaultCursorFile
		}
	} else {
		be, err := b.open(ctx, stderr)
		if err != nil {
			return err
		}
		defer be.close()
		log = be.log
		in := ingest.New(be.writer, ingest.Options{Retention: be.retention, Enricher: be.enricher(), Logger: be.log})
		sink = localSink{in}
		if cursorPath == "" {
			cursorPath = authentik.DefaultCursorFile
			if b.engine == "embedded" {
				cursorPath = filepath.Join(b.data, authentik.DefaultCursorFile)
			}
		}
	}
	im := &authentik.Importer{Client: client, Sink: sink, CursorPath: cursorPath, Since: sinceT, KeepExpires: keepExpires, Logger: log}
	if !quiet {
		im.Progress = stderr
	}
	start := time.Now()
	st, err := im.Run(ctx)
	fmt.Fprintf(stdout, "import: %d events in %s: %d new, %d already stored, %d rejected\n",
		st.Fetched, time.Since(start).Round(time.Millisecond), st.Accepted, st.Duplicates, st.Rejected)
	if err != nil {
		return fmt.Errorf("%w (progress is saved in %s; run the same command again to resume)", err, cursorPath)
	}
	return nil
}

// close drains the writer and closes the store and GeoIP.
func (be *backend) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := be.writer.Close(ctx); err != nil {
		be.log.Error("close writer", "err", err)
	}
	if err := be.store.Close(); err != nil {
		be.log.Error("close store", "err", err)
	}
	be.closeGeo()
}

// localSink writes into the store through the same ingest path as the
// server, without HTTP.
type localSink struct{ in *ingest.Ingester }

func (s localSink) Send(ctx context.Context, events [][]byte) (authentik.Sent, error) {
	res, err := s.in.IngestRaw(ctx, access.Admin, events)
	if err != nil {
		return authentik.Sent{}, err
	}
	sent := authentik.Sent{Accepted: res.Accepted, Duplicates: res.Duplicates}
	for _, r := range res.Rejected {
		sent.Rejected = append(sent.Rejected, authentik.Rejection{Index: r.Index, Error: r.Error})
	}
	return sent, nil
}
