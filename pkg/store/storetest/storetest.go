// Package storetest gives tests a real store: the embedded engine always,
// and a ClickHouse server when CLICKHOUSE_ADDR is set.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/auditlog/auditlog/pkg/store"
)

var (
	once    sync.Once
	shared  store.Engine
	openErr error
	dir     string
)

// Main runs a package's tests and removes the embedded data directory
// afterwards. Use it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// EmbeddedEngine returns the process's embedded engine. chDB holds one
// database per process, so every test shares it and isolates itself by
// database name instead. A missing libchdb fails the test: the embedded
// engine is the default and must always be tested.
func EmbeddedEngine(t testing.TB) store.Engine {
	t.Helper()
	once.Do(func() {
		dir, openErr = os.MkdirTemp("", "auditlog-test-")
		if openErr != nil {
			return
		}
		var eng store.Engine
		eng, openErr = store.OpenEmbedded("", dir)
		if openErr == nil {
			shared = eng
		}
	})
	if openErr != nil {
		t.Fatalf("embedded engine: %v", openErr)
	}
	return noClose{shared}
}

// noClose lets each test close "its" store without closing the shared engine.
type noClose struct{ store.Engine }

func (noClose) Close() error { return nil }

// DBName returns a fresh database name for one test.
func DBName(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t_%s_%s", name, hex.EncodeToString(b[:]))
}

// Embedded opens a store in a fresh database on the embedded engine.
func Embedded(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	eng := EmbeddedEngine(t)
	if opts.Database == "" {
		opts.Database = DBName(t)
	}
	s, err := store.Open(context.Background(), eng, opts)
	if err != nil {
		t.Fatalf("open embedded store: %v", err)
	}
	t.Cleanup(func() { _ = eng.Exec(context.Background(), "DROP DATABASE IF EXISTS `"+opts.Database+"`") })
	return s
}

// Broken is a store whose database was dropped under it: every read and
// write fails in the engine, as with a full disk or a lost server.
func Broken(t testing.TB) *store.Store {
	t.Helper()
	eng := EmbeddedEngine(t)
	db := DBName(t)
	st, err := store.Open(context.Background(), eng, store.Options{Database: db})
	if err != nil {
		t.Fatalf("open embedded store: %v", err)
	}
	if err := eng.Exec(context.Background(), "DROP DATABASE `"+db+"`"); err != nil {
		t.Fatal(err)
	}
	return st
}

// ServerConfig returns the ClickHouse server named by CLICKHOUSE_ADDR (and
// CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CLICKHOUSE_CLUSTER, CLICKHOUSE_TLS),
// or skips the test saying so.
func ServerConfig(t testing.TB) store.ServerConfig {
	t.Helper()
	addr := os.Getenv("CLICKHOUSE_ADDR")
	if addr == "" {
		t.Skip("SKIP server engine: CLICKHOUSE_ADDR is not set, so the ClickHouse-server path is not tested in this run")
	}
	return store.ServerConfig{
		Addr:     strings.Split(addr, ","),
		User:     os.Getenv("CLICKHOUSE_USER"),
		Password: os.Getenv("CLICKHOUSE_PASSWORD"),
		Cluster:  os.Getenv("CLICKHOUSE_CLUSTER"),
		TLS:      os.Getenv("CLICKHOUSE_TLS") == "true",
	}
}

// Server opens a store in a fresh database on the ClickHouse server, or
// skips the test when none is configured.
func Server(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	cfg := ServerConfig(t)
	if opts.Database == "" {
		opts.Database = DBName(t)
	}
	opts.Cluster = cfg.Cluster
	cfg.Database = opts.Database
	eng, err := store.OpenServer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open server engine: %v", err)
	}
	s, err := store.Open(context.Background(), eng, opts)
	if err != nil {
		eng.Close()
		t.Fatalf("open server store: %v", err)
	}
	t.Cleanup(func() {
		on := ""
		if cfg.Cluster != "" {
			on = " ON CLUSTER `" + cfg.Cluster + "`"
		}
		_ = eng.Exec(context.Background(), "DROP DATABASE IF EXISTS `"+opts.Database+"`"+on+" SYNC")
		s.Close()
	})
	return s
}
