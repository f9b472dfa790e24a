package bench

import (
	"fmt"
	"io"
	"strings"
)

// target is one row of the report: what is measured, the goal, and
// whether lower or higher is better.
type target struct {
	label  string
	query  string // a key of queries, or "" for the top-level numbers
	limit  float64
	higher bool // a rate: more is better
	unit   string
}

// targets are issue #8's speed goals, measured on the reference machine
// (2 cores) with 10M events over 30 days.
var targets = []target{
	{label: "ingest over HTTP (events/s)", limit: 150_000, higher: true, unit: "ev/s"},
	{label: "raw store.Insert (events/s)", unit: "ev/s", higher: true},
	{label: "100 newest events", query: "logs", limit: 3, unit: "ms"},
	{label: "100 newest, action + user, 7 days", query: "logs_filtered", limit: 10, unit: "ms"},
	{label: "event by id", query: "by_id", limit: 5, unit: "ms"},
	{label: "count per action per 6 h, 30 days", query: "timeseries", limit: 50, unit: "ms"},
	{label: "count per action per minute, 24 h", query: "timeseries_minute", limit: 20, unit: "ms"},
	{label: "geomap per city, 30 days", query: "geomap", limit: 50, unit: "ms"},
	{label: "top 15 users, 30 days", query: "stats", limit: 200, unit: "ms"},
	{label: "text search, common term, newest 100", query: "search_common", limit: 100, unit: "ms"},
	{label: "text search, rare term, newest 100", query: "search_rare", limit: 300, unit: "ms"},
	{label: "delete one expired day, by TTL", limit: 100, unit: "ms"},
	{label: "bytes per event on disk", limit: 60, unit: "B"},
	{label: "peak RSS", limit: 1.5 * (1 << 30), unit: "bytes"},
}

// values returns a row's baseline (nil when none) and our number.
func (r *Result) values(t target) (base *float64, ours float64) {
	if t.query != "" {
		q := r.Queries[t.query]
		return q.PostgresP50, q.P50
	}
	switch {
	case strings.HasPrefix(t.label, "ingest"):
		v := r.PostgresInsertEventsPerS
		return v, r.IngestEventsPerS
	case strings.HasPrefix(t.label, "raw"):
		return r.PostgresCopyEventsPerS, r.RawInsertEventsPerS
	case strings.HasPrefix(t.label, "delete"):
		return nil, r.RetentionMs
	case strings.HasPrefix(t.label, "bytes"):
		return r.PostgresBytesPerEvent, r.BytesPerEvent
	}
	return nil, float64(r.PeakRSSBytes)
}

func format(v float64, unit string) string {
	switch unit {
	case "ev/s":
		return fmt.Sprintf("%.0f/s", v)
	case "bytes":
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case "B":
		return fmt.Sprintf("%.1f B", v)
	}
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

// WriteReport prints the result as a markdown table: the PostgreSQL
// baseline, ours (p50 and p99 for queries), how many times better, and
// whether the target is met.
func WriteReport(w io.Writer, r *Result) {
	fmt.Fprintf(w, "\n## Auditlog bench: %d events over %.0f days, %d CPUs, %s %s, schema v%d\n\n",
		r.Events, r.Days, r.CPUs, r.Engine, r.EngineVersion, r.SchemaVersion)
	fmt.Fprintln(w, "| work | PostgreSQL (authentik) | ours p50 | ours p99 | vs PostgreSQL | target | met |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|:---:|")
	for _, t := range targets {
		base, ours := r.values(t)
		b, ratio := "—", "—"
		if base != nil {
			b = format(*base, t.unit)
			if t.label == "raw store.Insert (events/s)" {
				b += " (COPY)"
			} else if strings.HasPrefix(t.label, "ingest") {
				b += " (INSERT each)"
			}
			if ours > 0 && *base > 0 {
				if t.higher {
					ratio = fmt.Sprintf("%.1f×", ours / *base)
				} else {
					ratio = fmt.Sprintf("%.1f×", *base/ours)
				}
			}
		}
		p99 := ""
		if t.query != "" {
			p99 = format(r.Queries[t.query].P99, t.unit)
		}
		goal, met := "—", ""
		if t.limit > 0 {
			if t.higher {
				goal = "≥ " + format(t.limit, t.unit)
				met = yesNo(ours >= t.limit)
			} else {
				goal = "< " + format(t.limit, t.unit)
				met = yesNo(ours < t.limit)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", t.label, b, format(ours, t.unit), p99, ratio, goal, met)
	}
	fmt.Fprintf(w, "\nPostgreSQL: %s.", r.Postgres)
	if r.PostgresCopyEventsPerS != nil {
		fmt.Fprintf(w, " COPY: %.0f events/s.", *r.PostgresCopyEventsPerS)
	}
	fmt.Fprintf(w, " Raw insert: %d events. Retention: %d rows. Peak RSS: %s.\n", r.RawInsertEvents, r.RetentionRows, r.PeakRSSProcess)
	fmt.Fprintf(w, "Workload: %v\n", r.Workload)
	if cpu := r.IngestCPU; cpu.User+cpu.System > 0 {
		fmt.Fprintf(w, "Ingest CPU (the whole process: server, engine and load clients): %.1f µs/event user + %.1f µs/event system, %.2f of %d CPUs busy\n",
			cpu.User, cpu.System, (cpu.User+cpu.System)*r.IngestEventsPerS/1e6, r.CPUs)
	}
	if si := r.SearchIndex; si.Partitions > 0 {
		fmt.Fprintf(w, "Search index, built after the ingest (as a server does once a partition settles): %d partitions in %.1f s, %.1f µs/event user + %.1f µs/event system\n",
			si.Partitions, si.Seconds, si.CPU.User, si.CPU.System)
	}
	if len(r.LoadAvg) == 2 {
		fmt.Fprintf(w, "Load average before / after the queries: %s / %s (on %d CPUs; more than that means other work shared the machine)\n", r.LoadAvg[0], r.LoadAvg[1], r.CPUs)
	}
	if len(r.HostCheckMs) == 2 {
		fmt.Fprintf(w, "Host check (SHA-256 over 32 MiB, best of 3) at the start / after the queries: %.1f / %.1f ms (longer than usual, or than in the runs compared with, means this process got less CPU than usual)\n",
			r.HostCheckMs[0], r.HostCheckMs[1])
	}
	if len(r.Tables) > 0 {
		fmt.Fprint(w, "Disk:")
		for _, t := range r.Tables {
			fmt.Fprintf(w, " %s %.1f B/event (%d rows);", t.Table, t.BytesPerEvent, t.Rows)
		}
		fmt.Fprintln(w)
	}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
