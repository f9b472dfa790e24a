package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ServerConfig describes a ClickHouse server or cluster.
type ServerConfig struct {
	Addr     []string // host:port of the native protocol (9000, or 9440 with TLS)
	Database string
	User     string
	Password string
	TLS      bool
	Cluster  string
	// DialTimeout bounds connecting; Retries and Backoff govern retrying a
	// statement that failed because the connection did.
	DialTimeout time.Duration
	Retries     int
	Backoff     time.Duration
}

// String leaves the password out, so a config can be logged.
func (c ServerConfig) String() string {
	return fmt.Sprintf("clickhouse://%s@%s/%s tls=%v cluster=%q", c.User, strings.Join(c.Addr, ","), c.Database, c.TLS, c.Cluster)
}

type clickhouseEngine struct {
	conn driver.Conn
	cfg  ServerConfig
}

// OpenServer connects to a ClickHouse server over the native protocol.
func OpenServer(ctx context.Context, cfg ServerConfig) (Engine, error) {
	if len(cfg.Addr) == 0 {
		return nil, errors.New("store: clickhouse engine needs an address (host:port)")
	}
	for _, a := range cfg.Addr {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("store: clickhouse address %q: want host:port", a)
		}
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	user := cfg.User
	if user == "" {
		user = "default"
	}
	opts := &clickhouse.Options{
		Addr:        cfg.Addr,
		Auth:        clickhouse.Auth{Username: user, Password: cfg.Password},
		DialTimeout: cfg.DialTimeout,
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
		ClientInfo:  clickhouse.ClientInfo{Products: []struct{ Name, Version string }{{Name: "auditlog", Version: "1"}}},
	}
	if cfg.TLS {
		opts.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("store: clickhouse %s: %w", cfg, err)
	}
	e := &clickhouseEngine{conn: conn, cfg: cfg}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if err := e.retry(pctx, func(ctx context.Context) error { return conn.Ping(ctx) }); err != nil {
		conn.Close()
		return nil, fmt.Errorf("store: clickhouse %s unreachable: %w", cfg, err)
	}
	return e, nil
}

func (e *clickhouseEngine) Name() string     { return "clickhouse" }
func (e *clickhouseEngine) Location() string { return strings.Join(e.cfg.Addr, ",") }

// retry repeats fn while the failure is the connection's, not the query's:
// a server that restarts or a load balancer that drops idle connections
// should not fail an insert that would succeed a moment later.
func (e *clickhouseEngine) retry(ctx context.Context, fn func(context.Context) error) error {
	var err error
	wait := e.cfg.Backoff
	for attempt := 0; attempt <= e.cfg.Retries; attempt++ {
		if err = fn(ctx); err == nil || !retryable(err) {
			return err
		}
		if attempt == e.cfg.Retries {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %d attempts)", err, attempt+1)
		case <-time.After(wait):
		}
		wait *= 2
	}
	return fmt.Errorf("%w (after %d attempts)", err, e.cfg.Retries+1)
}

func retryable(err error) bool {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return false // the server answered: the statement itself failed
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return true
}

func (e *clickhouseEngine) Exec(ctx context.Context, sql string) error {
	return e.retry(ctx, func(ctx context.Context) error { return e.conn.Exec(ctx, sql) })
}

// Insert sends the rows inline after the statement's FORMAT clause: the
// server reads inline insert data as it is, binary included.
func (e *clickhouseEngine) Insert(ctx context.Context, in Insertion) error {
	head := in.statement() + "\n"
	sql := make([]byte, 0, len(head)+len(in.Rows))
	sql = append(append(sql, head...), in.Rows...)
	return e.Exec(ctx, string(sql))
}

func (e *clickhouseEngine) Query(ctx context.Context, sql string) (Rows, error) {
	var rows driver.Rows
	err := e.retry(ctx, func(ctx context.Context) error {
		var err error
		rows, err = e.conn.Query(ctx, sql)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (e *clickhouseEngine) Version(ctx context.Context) (string, error) {
	v, err := e.conn.ServerVersion()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d.%d.%d", v.Version.Major, v.Version.Minor, v.Version.Patch), nil
}

func (e *clickhouseEngine) Close() error { return e.conn.Close() }
