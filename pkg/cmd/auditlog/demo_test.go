package main

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
	"github.com/auditlog/auditlog/pkg/geoip"
	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
)

func TestPreferDatabaseGeo(t *testing.T) {
	city, asn := geoiptest.Standard(t)
	r, err := geoip.Open(geoip.Config{CityPath: city, ASNPath: asn})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	now := time.Now()
	evs := demo.Generate(3, 500, now.Add(-time.Hour), now)
	preferDatabaseGeo(r, evs)
	dropped, kept := 0, 0
	for _, e := range evs {
		ip, err := netip.ParseAddr(e.ClientIP)
		known := err == nil && r.Lookup(ip).Geo != nil
		var ctx map[string]json.RawMessage
		_ = json.Unmarshal(e.Context, &ctx)
		_, ctxGeo := ctx["geo"]
		switch {
		case known && (e.Geo != nil || ctxGeo):
			t.Fatalf("%s resolves in the database but kept its own geo", e.ClientIP)
		case known:
			dropped++
		case e.Geo != nil:
			kept++
		}
	}
	if dropped == 0 || kept == 0 {
		t.Errorf("dropped %d, kept %d: want both (the test database does not know every demo network)", dropped, kept)
	}
}

// TestDemoCommand runs auditlog demo with a GeoIP database and checks the
// seeded history, the example URL it prints, readiness and the live
// trickle.
func TestDemoCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP demo command test in -short mode: it builds and runs the server")
	}
	city, asn := geoiptest.Standard(t)
	data := filepath.Join(t.TempDir(), "data")
	p := start(t, "demo", "--listen", "127.0.0.1:0", "--data", data, "--events", "3000", "--seed", "7",
		"--live-interval", "100ms", "--geoip-city", city, "--geoip-asn", asn)
	p.waitLine(t, "demo: seeded 3000 events over 30 days", 60*time.Second)
	line := p.waitLine(t, "an event:", 10*time.Second)
	url := regexp.MustCompile(`http://127\.0\.0\.1:\d+/api/v1/events/[0-9a-f-]{36}`).FindString(line)
	if url == "" {
		t.Fatalf("no event URL in %q", line)
	}
	var e event.Event
	if code := getJSON(t, url, &e); code != 200 || e.Action == "" || e.ReceivedAt.IsZero() {
		t.Fatalf("GET %s: %d %+v", url, code, e)
	}
	var ready struct {
		Status string
		GeoIP  struct {
			Configured bool
			Databases  []struct {
				Role   string
				Loaded bool
			}
		}
	}
	if code := getJSON(t, p.url+"/readyz", &ready); code != 200 || !ready.GeoIP.Configured || len(ready.GeoIP.Databases) != 2 {
		t.Fatalf("readyz %d %+v", code, ready)
	}
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(p.stderr.String(), "demo: live events") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no live events within 20s; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr.String())
	}
	if c := countRows(t, data, nil); c.Total < 3003 {
		t.Errorf("%d events stored, want the 3000 seeded plus live ones", c.Total)
	}

	// A second start does not seed again.
	p = start(t, "demo", "--listen", "127.0.0.1:0", "--data", data, "--events", "3000", "--live-interval", "0")
	p.waitLine(t, "not seeding again", 30*time.Second)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestDemoFlagErrors(t *testing.T) {
	if code, _, errOut := runCLI(t, "demo", "--events", "-1"); code != 2 || !strings.Contains(errOut, "must not be negative") {
		t.Errorf("%d %q", code, errOut)
	}
}
