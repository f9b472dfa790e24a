// Package geoip enriches client IPs with location, autonomous system and
// anonymiser data from MaxMind DB files (GeoIP2/GeoLite2 City, ASN and
// Anonymous-IP, or compatible DB-IP files).
//
// A Resolver is safe for concurrent use. Its databases can be replaced while
// it serves lookups (Reload, Watch): a broken replacement never displaces
// working databases, and a replaced reader is closed only once no lookup uses
// it any more.
//
// Database files must be replaced by writing a new file and renaming it over
// the old one (as geoipupdate does). Readers memory-map their file, so a file
// rewritten in place changes under the reader that is serving lookups.
package geoip

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	geoip2 "github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/auditlog/auditlog/pkg/event"
)

// Database roles, as passed to the OnLookup hook and reported by Status.
const (
	DBCity      = "city"
	DBASN       = "asn"
	DBAnonymous = "anonymous"
)

// Lookup outcomes, as passed to the OnLookup hook.
const (
	// ResultHit: the database had data for the address.
	ResultHit = "hit"
	// ResultMiss: the database has no (usable) data for the address.
	ResultMiss = "miss"
	// ResultSkip: the address is private, loopback or otherwise not worth
	// looking up, so the database was not consulted.
	ResultSkip = "skip"
	// ResultError: the record could not be decoded (corrupt database).
	ResultError = "error"
)

// ErrClosed is returned by Reload after Close.
var ErrClosed = errors.New("geoip: resolver closed")

// Config names the database files. Empty paths are not used; a Config with
// no paths gives a Resolver that enriches nothing, so callers need no special
// case for "GeoIP not configured".
type Config struct {
	// CityPath is a City database (a Country database works too, without
	// city names).
	CityPath string
	// ASNPath is an ASN database (an ISP database works too).
	ASNPath string
	// AnonymousPath is an Anonymous-IP database.
	AnonymousPath string
}

// Option configures a Resolver.
type Option func(*options)

type options struct {
	onLookup   func(db, result string)
	onReload   func(err error)
	skipVerify bool
}

// OnLookup sets a hook called once per configured database per Lookup, with
// db one of DBCity, DBASN, DBAnonymous and result one of ResultHit,
// ResultMiss, ResultSkip, ResultError. It lets callers count lookups without
// this package depending on a metrics library. It runs on the lookup path:
// it must be fast and safe for concurrent use.
func OnLookup(fn func(db, result string)) Option {
	return func(o *options) { o.onLookup = fn }
}

// OnReload sets a hook called after every Reload (explicit, polled or on
// SIGHUP) with its outcome; err is nil on success. It is not called for the
// initial Open.
func OnReload(fn func(err error)) Option {
	return func(o *options) { o.onReload = fn }
}

// WithoutVerify skips the full integrity check of each file on open and
// reload. The check walks the whole search tree and decodes every record
// once (well under a second for a full City database); skipping it makes
// loading faster but lets a file with a corrupt record through, which then
// shows up as ResultError for the addresses that hit that record.
func WithoutVerify() Option {
	return func(o *options) { o.skipVerify = true }
}

// Result is what Lookup found. Nil Geo/ASN and false flags mean "nothing
// known", never an error.
type Result struct {
	Geo *event.Geo
	ASN *event.ASN

	// Anonymiser flags from the Anonymous-IP database. Anonymous is set for
	// any of the more specific kinds.
	Anonymous        bool
	AnonymousVPN     bool
	HostingProvider  bool
	PublicProxy      bool
	ResidentialProxy bool
	TorExitNode      bool
}

// Resolver looks up IP addresses in the configured databases.
type Resolver struct {
	cfg  Config
	opts options

	// cur is the set serving lookups; nil after Close.
	cur atomic.Pointer[dbSet]

	// reloadMu serialises loading, so that concurrent Reloads (poll, SIGHUP
	// and an explicit call) do not race each other to the swap. It is held
	// for the whole load, which is why the state below has its own mutex:
	// Status and LastError must not wait for a slow verify.
	reloadMu sync.Mutex

	stateMu    sync.Mutex
	closed     bool
	lastErr    error
	lastReload time.Time
	// stamps describe the files as they were just before the latest load
	// attempt, successful or not. Watch compares against them so that a
	// broken file is retried once per change rather than on every tick.
	stamps []fileStamp
}

// Open opens every database named in cfg. Any missing, corrupt or wrongly
// typed file fails Open with an error naming the role and the path; nothing
// stays open then.
func Open(cfg Config, opts ...Option) (*Resolver, error) {
	r := &Resolver{cfg: cfg}
	for _, o := range opts {
		if o != nil {
			o(&r.opts)
		}
	}
	stamps := statAll(cfg)
	set, err := load(cfg, r.opts)
	if err != nil {
		return nil, err
	}
	r.cur.Store(set)
	r.stamps = stamps
	r.lastReload = set.loadedAt
	return r, nil
}

// Lookup returns what the databases know about ip. IPv4-mapped IPv6
// addresses are looked up as IPv4. Addresses that cannot be in a GeoIP
// database (invalid, private, loopback, link-local, multicast, unspecified,
// carrier-grade NAT) are not looked up and give an empty Result.
func (r *Resolver) Lookup(ip netip.Addr) Result {
	var res Result
	ip = ip.Unmap().WithZone("")
	if !routable(ip) {
		// Decided without touching the databases, so without the shared
		// reference count either: private addresses are common in audit
		// logs and should cost next to nothing.
		if r.opts.onLookup != nil && r.cur.Load() != nil {
			r.observeConfigured(ResultSkip)
		}
		return res
	}
	s := r.acquire()
	if s == nil {
		return res
	}
	defer func() { _ = s.release() }()

	if s.city != nil {
		geo, outcome := s.city.lookupCity(ip)
		res.Geo = geo
		r.observe(DBCity, outcome)
	}
	if s.asn != nil {
		asn, outcome := s.asn.lookupASN(ip)
		res.ASN = asn
		r.observe(DBASN, outcome)
	}
	if s.anon != nil {
		r.observe(DBAnonymous, s.anon.lookupAnonymous(ip, &res))
	}
	return res
}

func (r *Resolver) observe(db, outcome string) {
	if r.opts.onLookup != nil {
		r.opts.onLookup(db, outcome)
	}
}

// observeConfigured reports outcome for every configured role. The roles of
// a Resolver never change (reloads reopen the same paths), so the Config
// answers this without a database generation.
func (r *Resolver) observeConfigured(outcome string) {
	if r.cfg.CityPath != "" {
		r.opts.onLookup(DBCity, outcome)
	}
	if r.cfg.ASNPath != "" {
		r.opts.onLookup(DBASN, outcome)
	}
	if r.cfg.AnonymousPath != "" {
		r.opts.onLookup(DBAnonymous, outcome)
	}
}

// cgnat (RFC 6598) is not covered by netip's IsPrivate but is just as
// unroutable; tailnets such as Tailscale hand out addresses from it.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func routable(ip netip.Addr) bool {
	return ip.IsValid() &&
		!ip.IsUnspecified() &&
		!ip.IsLoopback() &&
		!ip.IsPrivate() &&
		!ip.IsLinkLocalUnicast() &&
		!ip.IsLinkLocalMulticast() &&
		!ip.IsInterfaceLocalMulticast() &&
		!ip.IsMulticast() &&
		!cgnat.Contains(ip)
}

// Close closes the databases once running lookups have finished. Lookups
// after Close return empty Results; Reload returns ErrClosed.
func (r *Resolver) Close() error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	r.stateMu.Lock()
	r.closed = true
	r.stateMu.Unlock()
	if old := r.cur.Swap(nil); old != nil {
		return old.release()
	}
	return nil
}

// dbSet is one generation of opened databases. refs counts the owner (the
// Resolver, while the set is current) plus every lookup in flight; the
// readers are closed when it drops to zero, so a reload never unmaps a file
// under a running lookup.
type dbSet struct {
	refs     atomic.Int64
	city     *database
	asn      *database
	anon     *database
	loadedAt time.Time
}

// acquire returns the current set with a reference taken, or nil after
// Close. A set whose count already reached zero is closed (or closing) and
// must not be revived; since the pointer is swapped before the owner's
// reference is dropped, loading the pointer again then yields its successor.
func (r *Resolver) acquire() *dbSet {
	for {
		s := r.cur.Load()
		if s == nil {
			return nil
		}
		n := s.refs.Load()
		if n > 0 && s.refs.CompareAndSwap(n, n+1) {
			return s
		}
		if n <= 0 && r.cur.Load() == s {
			// Cannot happen while the invariant holds (the current set always
			// has its owner reference); bail out rather than spin forever.
			return nil
		}
	}
}

func (s *dbSet) release() error {
	if s.refs.Add(-1) == 0 {
		return s.close()
	}
	return nil
}

func (s *dbSet) close() error {
	var errs []error
	for _, d := range []*database{s.city, s.asn, s.anon} {
		if d != nil {
			if err := d.reader.Close(); err != nil {
				errs = append(errs, fmt.Errorf("geoip: close %s database %q: %w", d.role, d.path, err))
			}
		}
	}
	return errors.Join(errs...)
}

// load opens a fresh set of databases for cfg. On error, everything it
// opened is closed again.
func load(cfg Config, o options) (*dbSet, error) {
	s := &dbSet{loadedAt: time.Now()}
	s.refs.Store(1)
	var err error
	if s.city, err = openDB(DBCity, cfg.CityPath, o); err == nil {
		if s.asn, err = openDB(DBASN, cfg.ASNPath, o); err == nil {
			s.anon, err = openDB(DBAnonymous, cfg.AnonymousPath, o)
		}
	}
	if err != nil {
		_ = s.close()
		return nil, err
	}
	return s, nil
}

// database is one opened file in one role.
type database struct {
	role   string
	path   string
	reader *geoip2.Reader
	meta   maxminddb.Metadata
}

func openDB(role, path string, o options) (*database, error) {
	if path == "" {
		return nil, nil
	}
	d, err := openChecked(role, path, o)
	if err != nil {
		return nil, fmt.Errorf("geoip: open %s database %q: %w", role, path, err)
	}
	return d, nil
}

// openChecked opens path and makes sure it is intact and of a type that can
// serve role. The reader library is not guaranteed to be panic-free on
// hostile input, and a database file is exactly that if it got truncated or
// corrupted, so a panic becomes an error here rather than taking the process
// down.
func openChecked(role, path string, o options) (d *database, err error) {
	var reader *geoip2.Reader
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt database: reader panicked: %v", p)
		}
		if err != nil && reader != nil {
			_ = reader.Close()
		}
	}()

	if !o.skipVerify {
		if err := verifyFile(path); err != nil {
			return nil, err
		}
	}
	// geoip2.Open returns the reader together with an error for database
	// types it does not know; the deferred Close covers that case.
	reader, err = geoip2.Open(path)
	if err != nil {
		return nil, err
	}
	d = &database{role: role, path: path, reader: reader, meta: reader.Metadata()}
	if err := d.probe(); err != nil {
		return nil, err
	}
	return d, nil
}

func verifyFile(path string) error {
	// A separate short-lived reader: geoip2.Reader does not expose Verify.
	// Both map the same file, so this costs address space, not a copy.
	r, err := maxminddb.Open(path, maxminddb.DisableStringCache())
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	if err := r.Verify(); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}

// probeAddrs are looked up once per open: the first call tells whether the
// database type can serve the role at all, and the decodes catch corruption
// that slipped past (or was not checked by) Verify.
var probeAddrs = []netip.Addr{
	netip.MustParseAddr("1.1.1.1"),
	netip.MustParseAddr("8.8.8.8"),
	netip.MustParseAddr("2001:4860:4860::8888"),
	netip.MustParseAddr("2a00:1450::1"),
}

func (d *database) probe() error {
	for _, ip := range probeAddrs {
		if ip.Is6() && d.meta.IPVersion == 4 {
			continue
		}
		var err error
		switch d.role {
		case DBCity:
			_, err = d.reader.City(ip)
		case DBASN:
			_, err = d.reader.ASN(ip)
		case DBAnonymous:
			_, err = d.reader.AnonymousIP(ip)
		}
		var wrongType geoip2.InvalidMethodError
		if errors.As(err, &wrongType) {
			return fmt.Errorf("database type %q cannot serve %s lookups", d.meta.DatabaseType, d.role)
		}
		if err != nil {
			return fmt.Errorf("probe lookup of %s: %w", ip, err)
		}
	}
	return nil
}

// The lookup methods turn decode errors and panics into ResultError: a
// single corrupt record must cost one enrichment, not the ingest path.

func (d *database) lookupCity(ip netip.Addr) (geo *event.Geo, outcome string) {
	defer func() {
		if recover() != nil {
			geo, outcome = nil, ResultError
		}
	}()
	if ip.Is6() && d.meta.IPVersion == 4 {
		return nil, ResultMiss
	}
	rec, err := d.reader.City(ip)
	if err != nil {
		return nil, ResultError
	}
	hasLoc := rec.Location.HasCoordinates()
	if !hasLoc && rec.Country.ISOCode == "" && rec.Country.Names.English == "" {
		return nil, ResultMiss
	}
	geo = &event.Geo{
		Country:     rec.Country.Names.English,
		CountryCode: rec.Country.ISOCode,
		City:        rec.City.Names.English,
		Continent:   rec.Continent.Code,
	}
	if hasLoc {
		geo.Lat, geo.Lon = *rec.Location.Latitude, *rec.Location.Longitude
	}
	return geo, ResultHit
}

func (d *database) lookupASN(ip netip.Addr) (asn *event.ASN, outcome string) {
	defer func() {
		if recover() != nil {
			asn, outcome = nil, ResultError
		}
	}()
	if ip.Is6() && d.meta.IPVersion == 4 {
		return nil, ResultMiss
	}
	rec, err := d.reader.ASN(ip)
	if err != nil || rec.AutonomousSystemNumber > math.MaxUint32 {
		return nil, ResultError
	}
	if !rec.HasData() {
		return nil, ResultMiss
	}
	asn = &event.ASN{
		Number: uint32(rec.AutonomousSystemNumber),
		Org:    rec.AutonomousSystemOrganization,
	}
	if rec.Network.IsValid() {
		asn.Network = rec.Network.String()
	}
	return asn, ResultHit
}

func (d *database) lookupAnonymous(ip netip.Addr, res *Result) (outcome string) {
	defer func() {
		if recover() != nil {
			outcome = ResultError
		}
	}()
	if ip.Is6() && d.meta.IPVersion == 4 {
		return ResultMiss
	}
	rec, err := d.reader.AnonymousIP(ip)
	if err != nil {
		return ResultError
	}
	if !rec.HasData() {
		return ResultMiss
	}
	// Anonymous is implied by every specific flag even if a third-party
	// database forgot to set it.
	res.Anonymous = rec.IsAnonymous || rec.IsAnonymousVPN || rec.IsHostingProvider ||
		rec.IsPublicProxy || rec.IsResidentialProxy || rec.IsTorExitNode
	res.AnonymousVPN = rec.IsAnonymousVPN
	res.HostingProvider = rec.IsHostingProvider
	res.PublicProxy = rec.IsPublicProxy
	res.ResidentialProxy = rec.IsResidentialProxy
	res.TorExitNode = rec.IsTorExitNode
	return ResultHit
}
