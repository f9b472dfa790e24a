package geoip

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/auditlog/auditlog/pkg/geoip/geoiptest"
)

// A lookup that started on the old generation must be able to finish after
// a reload; the old readers are closed only when it lets go.
func TestRetiredGenerationClosedAfterLastUser(t *testing.T) {
	city, _ := geoiptest.Standard(t)
	r, err := Open(Config{CityPath: city})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ip := netip.MustParseAddr("81.2.69.142")

	inFlight := r.acquire() // as Lookup holds it
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if r.cur.Load() == inFlight {
		t.Fatal("Reload did not swap generations")
	}
	if n := inFlight.refs.Load(); n != 1 {
		t.Fatalf("retired generation refs = %d, want 1 (the in-flight lookup)", n)
	}
	if g, outcome := inFlight.city.lookupCity(ip); outcome != ResultHit || g.City != "London" {
		t.Fatalf("in-flight lookup on retired generation = %v %q, want London hit", g, outcome)
	}
	if err := inFlight.release(); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, err := inFlight.city.reader.City(ip); err == nil {
		t.Error("retired reader still open after its last user released it")
	}
	// The new generation is untouched.
	if g := r.Lookup(ip).Geo; g == nil || g.City != "London" {
		t.Errorf("current generation lookup = %v", g)
	}
}

// A failed reload records the files it saw, so polling retries only after
// the files change again instead of on every tick.
func TestFailedReloadNotRetriedUntilChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "city.mmdb")
	geoiptest.WriteCity(t, path, geoiptest.StandardCity())
	r, err := Open(Config{CityPath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.filesChanged() {
		t.Fatal("filesChanged right after Open")
	}
	geoiptest.WriteASN(t, path, geoiptest.StandardASN()) // wrong type for the role
	if !r.filesChanged() {
		t.Fatal("replacement not noticed")
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload accepted an ASN database as city")
	}
	if r.filesChanged() {
		t.Error("failed reload would be retried without a further change")
	}
	geoiptest.WriteCity(t, path, geoiptest.StandardCity())
	if !r.filesChanged() {
		t.Error("second replacement not noticed")
	}
}

func TestRoutable(t *testing.T) {
	for ip, want := range map[string]bool{
		"81.2.69.142": true, "2a02:2e0::1": true, "100.63.255.255": true, "100.128.0.0": true,
		"10.0.0.1": false, "172.16.0.1": false, "192.168.0.1": false, "127.0.0.1": false,
		"::1": false, "fe80::1": false, "fc00::1": false, "169.254.0.1": false,
		"0.0.0.0": false, "::": false, "224.0.0.1": false, "ff02::1": false,
		"100.64.0.1": false, "100.127.255.255": false,
	} {
		if got := routable(netip.MustParseAddr(ip)); got != want {
			t.Errorf("routable(%s) = %v, want %v", ip, got, want)
		}
	}
	if routable(netip.Addr{}) {
		t.Error("zero Addr is routable")
	}
}
