package store_test

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/store"
)

// fakeServer listens on loopback and treats every connection with handle.
type fakeServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newFakeServer(t *testing.T, handle func(net.Conn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			handle(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// TestOpenServerFaults: a ClickHouse address where something accepts and
// hangs up at once, or accepts and never answers, fails OpenServer within
// its dial timeout with a message that says the server is unreachable and
// names it; the hang-up is retried with backoff first.
func TestOpenServerFaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handle  func(net.Conn)
		retried bool
	}{
		{"accepts and closes", func(c net.Conn) { c.Close() }, true},
		{"accepts and never answers", func(net.Conn) {}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, tc.handle)
			cfg := store.ServerConfig{Addr: []string{srv.ln.Addr().String()}, Database: "auditlog", User: "auditlog",
				DialTimeout: 2 * time.Second, Retries: 3, Backoff: 50 * time.Millisecond}
			start := time.Now()
			eng, err := store.OpenServer(context.Background(), cfg)
			took := time.Since(start)
			if err == nil {
				eng.Close()
				t.Fatal("OpenServer succeeded against a server that does not speak")
			}
			if took > cfg.DialTimeout+3*time.Second {
				t.Errorf("OpenServer took %s, past its %s dial timeout", took, cfg.DialTimeout)
			}
			for _, want := range []string{"unreachable", srv.ln.Addr().String(), "auditlog@"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if n := srv.accepted.Load(); tc.retried && n < 2 {
				t.Errorf("%d connection(s) accepted: the failure was not retried", n)
			}
			t.Logf("%s after %s and %d connection(s)", err, took.Round(time.Millisecond), srv.accepted.Load())
		})
	}
}

// halfServer speaks just enough of the native protocol to pass the
// handshake and answer pings, then hangs up on the first statement: a
// server that fails mid-query (a crash, an OOM kill, a load balancer
// cutting the connection).
func halfServer(c net.Conn) {
	go func() {
		defer c.Close()
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err != nil { // the client hello
			return
		}
		// ServerHello at revision 54032, the oldest the client accepts,
		// which needs no time zone or display name.
		hello := []byte{0, 10}
		hello = append(hello, "ClickHouse"...)
		hello = binary.AppendUvarint(hello, 26)
		hello = binary.AppendUvarint(hello, 5)
		hello = binary.AppendUvarint(hello, 54032)
		if _, err := c.Write(hello); err != nil {
			return
		}
		one := make([]byte, 1)
		for {
			if _, err := c.Read(one); err != nil {
				return
			}
			if one[0] != 4 { // anything but a ping: drop the connection
				return
			}
			if _, err := c.Write([]byte{4}); err != nil { // pong
				return
			}
		}
	}()
}

// TestServerFailingMidQuery: a server that connects and answers pings but
// drops every statement. OpenServer succeeds; each statement is retried
// with backoff and then fails with an error naming the attempts, within
// the caller's deadline; store.Open says which step failed.
func TestServerFailingMidQuery(t *testing.T) {
	srv := newFakeServer(t, halfServer)
	cfg := store.ServerConfig{Addr: []string{srv.ln.Addr().String()}, Database: "auditlog",
		DialTimeout: 2 * time.Second, Retries: 3, Backoff: 50 * time.Millisecond}
	eng, err := store.OpenServer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("OpenServer against a server that shakes hands: %v", err)
	}
	defer eng.Close()
	before := srv.accepted.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = eng.Query(ctx, "SELECT 1")
	if err == nil {
		t.Fatal("a statement succeeded on a server that drops it")
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("failing took %s", took)
	}
	if !strings.Contains(err.Error(), "after 4 attempts") {
		t.Errorf("error %q does not say it was retried", err)
	}
	if n := srv.accepted.Load() - before; n < 3 {
		t.Errorf("%d new connection(s) for 4 attempts: the retries did not reconnect", n)
	}
	_, err = store.Open(ctx, eng, store.Options{})
	if err == nil || !strings.Contains(err.Error(), "store: create database auditlog") || !strings.Contains(err.Error(), "after 4 attempts") {
		t.Errorf("store.Open: %v", err)
	}
	t.Logf("%v", err)
}
