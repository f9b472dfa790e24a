package geoip_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/geoip"
	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
)

var probeIP = netip.MustParseAddr("81.2.69.142")

// writeCityNamed writes a City database mapping 81.2.69.0/24 (and, in IPv6,
// 2a02:2e0::/32) to the given city, so generations are easy to tell apart.
// openAlpha writes a city database naming every address "Alpha" into a
// fresh directory and opens a reader on it, closed when the test ends.
func openAlpha(t testing.TB, opts ...geoip.Option) (*geoip.Resolver, string) {
	t.Helper()
	city := filepath.Join(t.TempDir(), "city.mmdb")
	writeCityNamed(t, city, "Alpha")
	r, err := geoip.Open(geoip.Config{CityPath: city}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, city
}

func writeCityNamed(t testing.TB, path, city string) {
	t.Helper()
	geoiptest.WriteCity(t, path, []geoiptest.CityRecord{
		{Network: "81.2.69.0/24", City: city, Country: "United Kingdom", CountryCode: "GB", Continent: "EU", Lat: 51.5, Lon: -0.1},
		{Network: "2a02:2e0::/32", City: city, Country: "Germany", CountryCode: "DE", Continent: "EU", Lat: 50.1, Lon: 8.7},
	})
}

func writeASNNumbered(t testing.TB, path string, n uint32) {
	t.Helper()
	geoiptest.WriteASN(t, path, []geoiptest.ASNRecord{{Network: "81.2.69.0/24", Number: n, Org: "Test AS"}})
}

// replaceWithGarbage swaps path for a non-database file the way a broken
// download would land: by rename.
func replaceWithGarbage(t testing.TB, path string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Repeat("garbage", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func cityOf(r *geoip.Resolver, ip netip.Addr) string {
	if g := r.Lookup(ip).Geo; g != nil {
		return g.City
	}
	return ""
}

// waitFor polls cond until it holds or the deadline passes; timing only
// bounds the wait, it is never the assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	asn := filepath.Join(dir, "asn.mmdb")
	writeCityNamed(t, city, "Alpha")
	writeASNNumbered(t, asn, 64500)

	var reloads []error
	r, err := geoip.Open(geoip.Config{CityPath: city, ASNPath: asn}, geoip.OnReload(func(err error) { reloads = append(reloads, err) }))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := cityOf(r, probeIP); got != "Alpha" {
		t.Fatalf("city = %q, want Alpha", got)
	}
	loadedA := r.Status().LoadedAt

	writeCityNamed(t, city, "Bravo")
	writeASNNumbered(t, asn, 64501)
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	res := r.Lookup(probeIP)
	if res.Geo == nil || res.Geo.City != "Bravo" || res.ASN == nil || res.ASN.Number != 64501 {
		t.Fatalf("after reload: Geo %+v ASN %+v, want Bravo/64501", res.Geo, res.ASN)
	}
	if st := r.Status(); st.LastError != "" || st.LoadedAt.Before(loadedA) {
		t.Errorf("Status after good reload = %+v", st)
	}

	// A broken ASN file fails the whole reload: no half-updated generation.
	writeCityNamed(t, city, "Charlie")
	replaceWithGarbage(t, asn)
	err = r.Reload()
	if err == nil {
		t.Fatal("Reload of a corrupt file succeeded")
	}
	if want := `geoip: open asn database "` + asn + `"`; !strings.Contains(err.Error(), want) {
		t.Errorf("Reload error %q does not contain %q", err, want)
	}
	res = r.Lookup(probeIP)
	if res.Geo == nil || res.Geo.City != "Bravo" || res.ASN == nil || res.ASN.Number != 64501 {
		t.Errorf("after failed reload: Geo %+v ASN %+v, want old Bravo/64501", res.Geo, res.ASN)
	}
	if got := r.LastError(); got == nil || got.Error() != err.Error() {
		t.Errorf("LastError = %v, want %v", got, err)
	}
	st := r.Status()
	if st.LastError != err.Error() {
		t.Errorf("Status.LastError = %q, want %q", st.LastError, err)
	}
	for _, d := range st.Databases {
		if !d.Loaded {
			t.Errorf("Status: %s not loaded after failed reload: %+v", d.Role, d)
		}
	}

	writeASNNumbered(t, asn, 64502)
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload after repair: %v", err)
	}
	if got := cityOf(r, probeIP); got != "Charlie" {
		t.Errorf("city = %q, want Charlie", got)
	}
	if r.LastError() != nil || r.Status().LastError != "" {
		t.Errorf("error not cleared by a good reload: %v", r.LastError())
	}

	if len(reloads) != 3 || reloads[0] != nil || reloads[1] == nil || reloads[2] != nil {
		t.Errorf("OnReload saw %v, want [nil, error, nil]", reloads)
	}
}

func TestReloadMissingFile(t *testing.T) {
	r, city := openAlpha(t)
	if err := os.Remove(city); err != nil {
		t.Fatal(err)
	}
	err := r.Reload()
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), city) {
		t.Errorf("Reload = %v, want not-exist error naming %s", err, city)
	}
	if got := cityOf(r, probeIP); got != "Alpha" {
		t.Errorf("city = %q, want Alpha", got)
	}
}

func TestWatchPolling(t *testing.T) {
	var reloads atomic.Int32
	r, city := openAlpha(t, geoip.OnReload(func(error) { reloads.Add(1) }))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.Watch(ctx, geoip.WatchOptions{Interval: 10 * time.Millisecond})
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()

	writeCityNamed(t, city, "Bravo")
	waitFor(t, "Watch to load Bravo", func() bool { return cityOf(r, probeIP) == "Bravo" })

	replaceWithGarbage(t, city)
	waitFor(t, "Watch to report the corrupt file", func() bool { return r.LastError() != nil })
	if err := r.LastError(); !strings.Contains(err.Error(), `geoip: open city database "`+city+`"`) {
		t.Errorf("LastError = %v, want it to name %s", err, city)
	}
	if got := cityOf(r, probeIP); got != "Bravo" {
		t.Errorf("city after corrupt update = %q, want Bravo", got)
	}
	if st := r.Status(); st.LastError == "" || !st.Databases[0].Loaded {
		t.Errorf("Status = %+v", st)
	}

	writeCityNamed(t, city, "Charlie")
	waitFor(t, "Watch to load Charlie", func() bool { return cityOf(r, probeIP) == "Charlie" })
	waitFor(t, "error to clear", func() bool { return r.LastError() == nil })
	// The hook runs after the swap, so it may trail the lookup by a moment.
	waitFor(t, "OnReload for all three reloads", func() bool { return reloads.Load() >= 3 })
}

func TestWatchStopsOnClose(t *testing.T) {
	city, _ := geoiptest.Standard(t)
	r, err := geoip.Open(geoip.Config{CityPath: city})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		r.Watch(context.Background(), geoip.WatchOptions{Interval: time.Millisecond})
		close(done)
	}()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Watch only notices Close when it tries to reload, so give it a change.
	geoiptest.WriteCity(t, city, geoiptest.StandardCity())
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after Close")
	}
}

// Lookups racing with reloads (explicit and polled), status reads and
// finally Close must always see one whole generation: the address is in
// every generation, so a lookup may never come back empty before Close.
func TestConcurrentLookupsDuringReload(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	asn := filepath.Join(dir, "asn.mmdb")
	writeCityNamed(t, city, "gen0")
	writeASNNumbered(t, asn, 1)
	r, err := geoip.Open(geoip.Config{CityPath: city, ASNPath: asn}, geoip.OnLookup(func(string, string) {}))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.Watch(ctx, geoip.WatchOptions{Interval: time.Millisecond})
	}()

	var closed atomic.Bool
	var lookups atomic.Int64
	errs := make(chan string, 8)
	ips := []netip.Addr{probeIP, netip.MustParseAddr("2a02:2e0::1"), netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("8.8.8.8")}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				ip := ips[i%len(ips)]
				res := r.Lookup(ip)
				lookups.Add(1)
				// closed is read after the lookup: an empty result caused by
				// Close implies the flag was already set.
				if ip == probeIP && (res.Geo == nil || !strings.HasPrefix(res.Geo.City, "gen") || res.ASN == nil) && !closed.Load() {
					select {
					case errs <- "lookup during reload returned " + geoString(res.Geo):
					default:
					}
					return
				}
				if i%64 == 0 {
					_ = r.Status()
				}
			}
		}()
	}

	for gen := 1; gen <= 40; gen++ {
		writeCityNamed(t, city, "gen"+string(rune('0'+gen%10)))
		writeASNNumbered(t, asn, uint32(gen))
		if err := r.Reload(); err != nil {
			t.Errorf("Reload %d: %v", gen, err)
		}
	}
	// Keep going until the workers have done real work alongside reloads.
	waitFor(t, "lookups to run", func() bool { return lookups.Load() > 10000 })
	closed.Store(true)
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	cancel()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
