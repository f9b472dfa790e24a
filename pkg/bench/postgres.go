package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The PostgreSQL baseline is authentik's own storage: one table with
// three jsonb columns, its primary key and the ten secondary indexes of
// authentik's migrations, loaded the way authentik writes (one INSERT per
// event, autocommit) and, for a fair best case, by COPY.

// errNoPostgres means the baseline cannot run here; the bench goes on
// without it and says why.
var errNoPostgres = errors.New("PostgreSQL binaries (initdb, pg_ctl) not found")

// findPostgres returns the directory of initdb and pg_ctl: $PATH first,
// then the Debian/Ubuntu layout, newest version first.
func findPostgres() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errNoPostgres
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// pgCluster is a throwaway cluster in a temp directory, reachable only by
// its unix socket there.
type pgCluster struct {
	bin, dir, data string
	port           int
	asUser         string // "" to run the binaries as ourselves
}

// startPostgres initdb's and starts a cluster under dir. PostgreSQL
// refuses to run as root, so as root it runs as the postgres user.
func startPostgres(ctx context.Context, dir string) (*pgCluster, error) {
	bin, err := findPostgres()
	if err != nil {
		return nil, err
	}
	c := &pgCluster{bin: bin, dir: dir, data: filepath.Join(dir, "data"), port: 5432}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("bench: postgres dir: %w", err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("bench: running as root needs a postgres user for PostgreSQL: %w", err)
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			return nil, fmt.Errorf("bench: running as root needs runuser to start PostgreSQL as postgres: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("bench: postgres dir: %w", err)
		}
		// The postgres user must reach dir through its parents.
		for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
			if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
				_ = os.Chmod(p, st.Mode().Perm()|0o001)
			}
		}
		c.asUser = "postgres"
	}
	if out, err := c.run(ctx, "initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"); err != nil {
		return nil, fmt.Errorf("bench: initdb: %w: %s", err, lastLines(out, 5))
	}
	opts := fmt.Sprintf("-c listen_addresses='' -c unix_socket_directories=%s -c port=%d -c shared_buffers=1GB -c max_wal_size=8GB -c work_mem=64MB", c.dir, c.port)
	if out, err := c.run(ctx, "pg_ctl", "-D", c.data, "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return nil, fmt.Errorf("bench: pg_ctl start: %w: %s %s", err, lastLines(out, 5), lastLines(log, 5))
	}
	return c, nil
}

func (c *pgCluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// stop stops the cluster; the caller removes the directory.
func (c *pgCluster) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := c.run(ctx, "pg_ctl", "-D", c.data, "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("bench: pg_ctl stop: %w: %s", err, lastLines(out, 3))
	}
	return nil
}

func (c *pgCluster) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", c.dir, c.port))
	if err != nil {
		return nil, fmt.Errorf("bench: connect to postgres: %w", err)
	}
	return conn, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// authentikDDL is authentik_events_event with its indexes
// (/work/shared/reference/authentik-events.md): migrations 0007, 0008,
// 0015/0018 and the 2026 user->pk index.
var authentikDDL = []string{
	`CREATE TABLE authentik_events_event (
		event_uuid uuid PRIMARY KEY,
		"user" jsonb NOT NULL,
		action text NOT NULL,
		app text NOT NULL,
		context jsonb NOT NULL,
		client_ip inet NULL,
		created timestamptz NOT NULL,
		expires timestamptz NOT NULL,
		expiring boolean NOT NULL,
		brand jsonb NOT NULL)`,
	`CREATE INDEX authentik_e_action_idx ON authentik_events_event (action)`,
	`CREATE INDEX authentik_e_user_idx ON authentik_events_event ("user")`,
	`CREATE INDEX authentik_e_app_idx ON authentik_events_event (app)`,
	`CREATE INDEX authentik_e_created_idx ON authentik_events_event (created)`,
	`CREATE INDEX authentik_e_client_ip_idx ON authentik_events_event (client_ip)`,
	`CREATE INDEX authentik_e_expires_idx ON authentik_events_event (expires)`,
	`CREATE INDEX authentik_e_expiring_idx ON authentik_events_event (expiring)`,
	`CREATE INDEX authentik_e_expiring_expires_idx ON authentik_events_event (expiring, expires)`,
	`CREATE INDEX authentik_e_ctx_app__idx ON authentik_events_event ((context -> 'authorized_application'))`,
	`CREATE INDEX authentik_e_user_pk__idx ON authentik_events_event (("user" -> 'pk'))`,
}

const pgInsert = `INSERT INTO authentik_events_event (event_uuid, "user", action, app, context, client_ip, created, expires, expiring, brand)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

var pgColumns = []string{"event_uuid", "user", "action", "app", "context", "client_ip", "created", "expires", "expiring", "brand"}

// akEvent is an event in authentik's API JSON, as authentik stores it.
type akEvent struct {
	PK       string          `json:"pk"`
	User     json.RawMessage `json:"user"`
	Action   string          `json:"action"`
	App      string          `json:"app"`
	Context  json.RawMessage `json:"context"`
	ClientIP *string         `json:"client_ip"`
	Created  string          `json:"created"`
	Brand    json.RawMessage `json:"brand"`
}

// pgRow turns a raw event into the table's column values.
func pgRow(raw []byte) ([]any, error) {
	var a akEvent
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	id, err := uuid.Parse(a.PK)
	if err != nil {
		return nil, err
	}
	created, err := time.Parse(time.RFC3339Nano, a.Created)
	if err != nil {
		return nil, err
	}
	var ip any
	if a.ClientIP != nil {
		if addr, err := netip.ParseAddr(*a.ClientIP); err == nil {
			ip = netip.PrefixFrom(addr, addr.BitLen())
		}
	}
	// authentik's default retention: 365 days from creation.
	return []any{[16]byte(id), string(a.User), a.Action, a.App, string(a.Context), ip, created,
		created.Add(365 * 24 * time.Hour), true, string(a.Brand)}, nil
}

// pgResult is the baseline's numbers.
type pgResult struct {
	insertPerS, copyPerS float64
	inserted             int
	bytesPerEvent        float64
	p50                  map[string]float64
}

// runPostgres loads ds into a fresh cluster under dir and times the
// baseline queries. logf reports progress.
func runPostgres(ctx context.Context, dir string, ds *dataset, w *workload, runs int, insertMax int, insertTime, queryBudget time.Duration, logf func(string, ...any)) (*pgResult, error) {
	c, err := startPostgres(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := c.stop(); err != nil {
			logf("%v", err)
		}
	}()
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	for _, s := range authentikDDL {
		if _, err := conn.Exec(ctx, s); err != nil {
			return nil, fmt.Errorf("bench: postgres schema: %w", err)
		}
	}
	res := &pgResult{p50: map[string]float64{}}

	// authentik saves each event on its own: one INSERT, one commit.
	logf("postgres: one INSERT per event (at most %d events or %s)", insertMax, insertTime)
	stop := errors.New("time box reached")
	start := time.Now()
	err = ds.each(insertMax, func(i int, raw []byte) error {
		row, err := pgRow(raw)
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if _, err := conn.Exec(ctx, pgInsert, row...); err != nil {
			return fmt.Errorf("bench: postgres insert: %w", err)
		}
		res.inserted++
		if time.Since(start) > insertTime {
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		return nil, err
	}
	res.insertPerS = float64(res.inserted) / time.Since(start).Seconds()
	if _, err := conn.Exec(ctx, "TRUNCATE authentik_events_event"); err != nil {
		return nil, fmt.Errorf("bench: postgres truncate: %w", err)
	}

	logf("postgres: COPY %d events", ds.n)
	rows := make(chan []any, 1024)
	readErr := make(chan error, 1)
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(rows)
		readErr <- ds.each(0, func(i int, raw []byte) error {
			row, err := pgRow(raw)
			if err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
			select {
			case rows <- row:
				return nil
			case <-cctx.Done():
				return cctx.Err()
			}
		})
	}()
	start = time.Now()
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"authentik_events_event"}, pgColumns, pgx.CopyFromFunc(func() ([]any, error) {
		row, ok := <-rows
		if !ok {
			return nil, nil
		}
		return row, nil
	}))
	took := time.Since(start)
	cancel()
	for range rows {
	}
	if rerr := <-readErr; err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("bench: postgres copy: %w", err)
	}
	if n != int64(ds.n) {
		return nil, fmt.Errorf("bench: postgres copied %d of %d events", n, ds.n)
	}
	res.copyPerS = float64(n) / took.Seconds()
	// authentik's autovacuum would have analyzed the table by the time
	// anyone queries it.
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE authentik_events_event"); err != nil {
		return nil, fmt.Errorf("bench: postgres analyze: %w", err)
	}
	var size int64
	if err := conn.QueryRow(ctx, "SELECT pg_total_relation_size('authentik_events_event')").Scan(&size); err != nil {
		return nil, fmt.Errorf("bench: postgres size: %w", err)
	}
	res.bytesPerEvent = float64(size) / float64(ds.n)

	for _, name := range queryNames {
		logf("postgres: query %s", name)
		t, err := measure(runs, queryBudget, func(i int) (int, error) { return pgQuery(ctx, conn, w, name, i) })
		if err != nil {
			return nil, fmt.Errorf("bench: postgres query %s: %w", name, err)
		}
		res.p50[name] = t.quantile(0.5)
	}
	return res, nil
}

// likePattern is an ILIKE pattern matching text anywhere, with the
// pattern characters of text escaped.
func likePattern(text string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(text) + "%"
}

const pgEventCols = `event_uuid, "user", action, app, context, client_ip, created, expires, brand`

// pgQuery is storeQuery's question asked of authentik's table.
func pgQuery(ctx context.Context, conn *pgx.Conn, w *workload, name string, i int) (int, error) {
	r := rangesAt(time.Now())
	var (
		q    string
		args []any
	)
	switch name {
	case "logs":
		q = "SELECT " + pgEventCols + " FROM authentik_events_event WHERE created >= $1 AND created < $2 ORDER BY created DESC LIMIT 100"
		args = []any{r.month, r.now}
	case "logs_filtered":
		q = "SELECT " + pgEventCols + ` FROM authentik_events_event WHERE created >= $1 AND created < $2 AND action = $3
			AND "user"->>'username' = $4 ORDER BY created DESC LIMIT 100`
		args = []any{r.week, r.now, w.action, w.user}
	case "by_id":
		id, err := uuid.Parse(w.ids[i%len(w.ids)])
		if err != nil {
			return 0, err
		}
		q = "SELECT " + pgEventCols + " FROM authentik_events_event WHERE event_uuid = $1"
		args = []any{[16]byte(id)}
	case "timeseries", "timeseries_minute":
		step, from := 21600, r.month
		if name == "timeseries_minute" {
			step, from = 60, r.day
		}
		q = `SELECT action, floor(extract(epoch FROM created) / $3)::bigint AS b, count(*) FROM authentik_events_event
			WHERE created >= $1 AND created < $2 GROUP BY 1, 2 ORDER BY 1, 2`
		args = []any{from, r.now, step}
	case "geomap":
		q = `SELECT lat, lon, city, cc, sum(c) AS total, (array_agg(action ORDER BY c DESC, action))[1] FROM (
			SELECT context->'geo'->>'lat' AS lat, context->'geo'->>'long' AS lon, context->'geo'->>'city' AS city,
			context->'geo'->>'country' AS cc, action, count(*) AS c FROM authentik_events_event
			WHERE created >= $1 AND created < $2 AND context ? 'geo' GROUP BY 1, 2, 3, 4, 5) s
			GROUP BY 1, 2, 3, 4 ORDER BY total DESC LIMIT 1000`
		args = []any{r.month, r.now}
	case "stats":
		q = `SELECT "user"->>'username' AS u, count(*) AS c, count(DISTINCT "user"->>'username'), min(created), max(created)
			FROM authentik_events_event WHERE created >= $1 AND created < $2 GROUP BY 1 ORDER BY c DESC, u LIMIT 15`
		args = []any{r.month, r.now}
	case "search_common", "search_rare":
		term := w.common
		if name == "search_rare" {
			term = w.rare
		}
		q = "SELECT " + pgEventCols + ` FROM authentik_events_event WHERE created >= $1 AND created < $2
			AND (action || ' ' || app || ' ' || "user"::text || ' ' || coalesce(host(client_ip), '') || ' ' || context::text) ILIKE $3
			ORDER BY created DESC LIMIT 100`
		args = []any{r.month, r.now, likePattern(term)}
	default:
		return 0, fmt.Errorf("unknown query %q", name)
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if name == "by_id" && n != 1 {
		return 0, fmt.Errorf("event %s: %d rows", w.ids[i%len(w.ids)], n)
	}
	return n, nil
}
