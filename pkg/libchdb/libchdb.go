// Package libchdb loads embedded ClickHouse (libchdb) at run time with
// purego and runs SQL on it.
//
// It binds the handful of C functions it needs itself instead of importing
// github.com/chdb-io/chdb-go: that package opens the library in an init
// function and panics when it is missing, which would crash the Grafana
// plugin before it could report a health-check error, and would force
// libchdb on users of the ClickHouse-server engine who never need it.
package libchdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Version is the pinned libchdb release (npm @chdb/lib-<platform>).
const Version = "26.5.3"

// EngineMajor is the ClickHouse major version the schema is written for.
const EngineMajor = "26."

// NPMPackage names the npm package that ships libchdb for this platform.
func NPMPackage() (string, error) {
	switch runtime.GOOS + "/" + runtime.GOARCH {
	case "linux/amd64":
		return "@chdb/lib-linux-x64-gnu", nil
	case "linux/arm64":
		return "@chdb/lib-linux-arm64-gnu", nil
	case "darwin/arm64":
		return "@chdb/lib-darwin-arm64", nil
	}
	return "", fmt.Errorf("libchdb: no npm package for %s/%s", runtime.GOOS, runtime.GOARCH)
}

// LibName is the file name of the library on this OS.
func LibName() string {
	if runtime.GOOS == "darwin" {
		return "libchdb.dylib"
	}
	return "libchdb.so"
}

// CacheDir is where setup installs the pinned library, shared by every
// clone on the machine so the 560 MB download happens once.
func CacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "auditlog", "libchdb-"+Version)
}

// ErrNotFound says the library is missing and how to get it.
var ErrNotFound = errors.New("libchdb not found: run `go tool mage setup` to install it, or set CHDB_LIB_PATH to libchdb.so")

// Find returns the library path: the explicit one, else CHDB_LIB_PATH, else
// the setup cache.
func Find(explicit string) (string, error) {
	for _, p := range []string{explicit, os.Getenv("CHDB_LIB_PATH"), filepath.Join(CacheDir(), LibName())} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		if p == explicit || p == os.Getenv("CHDB_LIB_PATH") {
			return "", fmt.Errorf("libchdb: %s does not exist: %w", p, ErrNotFound)
		}
	}
	return "", ErrNotFound
}

type chdbResult struct{ _ unsafe.Pointer }

// lib holds the bound functions. It is loaded once per process: dlopen of a
// 560 MB library is expensive and ClickHouse keeps global state in it.
type lib struct {
	path       string
	connect    func(argc int, argv []*byte) unsafe.Pointer
	closeConn  func(conn unsafe.Pointer)
	query      func(conn unsafe.Pointer, query string, format string) *chdbResult
	queryN     func(conn unsafe.Pointer, query *byte, queryLen uintptr, format *byte, formatLen uintptr) *chdbResult
	destroy    func(r *chdbResult)
	buffer     func(r *chdbResult) unsafe.Pointer
	length     func(r *chdbResult) uintptr
	elapsed    func(r *chdbResult) float64
	rowsRead   func(r *chdbResult) uint64
	bytesRead  func(r *chdbResult) uint64
	errMessage func(r *chdbResult) string
}

var (
	loadMu sync.Mutex
	loaded *lib
)

func load(path string) (*lib, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if loaded != nil {
		if loaded.path != path {
			return nil, fmt.Errorf("libchdb: already loaded from %s, cannot also load %s", loaded.path, path)
		}
		return loaded, nil
	}
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("libchdb: load %s: %v", path, err)
	}
	l := &lib{path: path}
	syms := []struct {
		name string
		fn   any
	}{
		{"chdb_connect", &l.connect},
		{"chdb_close_conn", &l.closeConn},
		{"chdb_query", &l.query},
		{"chdb_query_n", &l.queryN},
		{"chdb_destroy_query_result", &l.destroy},
		{"chdb_result_buffer", &l.buffer},
		{"chdb_result_length", &l.length},
		{"chdb_result_elapsed", &l.elapsed},
		{"chdb_result_rows_read", &l.rowsRead},
		{"chdb_result_bytes_read", &l.bytesRead},
		{"chdb_result_error", &l.errMessage},
	}
	for _, s := range syms {
		// RegisterLibFunc panics on a missing symbol; an old or foreign
		// library must give an error instead.
		if _, err := purego.Dlsym(h, s.name); err != nil {
			return nil, fmt.Errorf("libchdb: %s lacks %s: wrong version, want libchdb %s (run `go tool mage setup`)", path, s.name, Version)
		}
		purego.RegisterLibFunc(s.fn, h, s.name)
	}
	loaded = l
	return l, nil
}

// Stats describes one query's work.
type Stats struct {
	Elapsed   float64
	RowsRead  uint64
	BytesRead uint64
}

// Conn is the process's one embedded ClickHouse session.
type Conn struct {
	lib      *lib
	handle   unsafe.Pointer // chdb_connection* (pointer to the connection)
	conn     unsafe.Pointer // chdb_connection
	DataPath string
	Version  string

	mu     sync.RWMutex
	closed bool
	refs   int
	lock   *os.File
}

var (
	connMu  sync.Mutex
	current *Conn
)

// Open returns the session on dataPath, sharing it when it is already open.
// chDB keeps one database per process, and a second session on another path
// would silently share the first, so that is an error here.
func Open(libPath, dataPath string) (*Conn, error) {
	abs, err := filepath.Abs(dataPath)
	if err != nil {
		return nil, fmt.Errorf("libchdb: data path %q: %w", dataPath, err)
	}
	connMu.Lock()
	defer connMu.Unlock()
	if current != nil {
		if current.DataPath != abs {
			return nil, fmt.Errorf("libchdb: embedded ClickHouse already has data path %s open in this process; one process serves one embedded data path, so %s needs its own process or the same path", current.DataPath, abs)
		}
		current.refs++
		return current, nil
	}
	l, err := load(libPath)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("libchdb: create data path: %w", err)
	}
	if err := checkWritable(abs); err != nil {
		return nil, err
	}
	lock, err := lockDir(abs)
	if err != nil {
		return nil, err
	}
	argv := cStrings("clickhouse", "--path="+abs)
	h := l.connect(len(argv), argv)
	if h == nil || *(*unsafe.Pointer)(h) == nil {
		lock.Close()
		return nil, fmt.Errorf("libchdb: connect to %s failed", abs)
	}
	c := &Conn{lib: l, handle: h, conn: *(*unsafe.Pointer)(h), DataPath: abs, refs: 1, lock: lock}
	out, _, err := c.Query("SELECT version()", "TSVRaw")
	if err != nil {
		c.release()
		return nil, fmt.Errorf("libchdb: version check: %w", err)
	}
	c.Version = strings.TrimSpace(string(out))
	if !strings.HasPrefix(c.Version, EngineMajor) {
		c.release()
		return nil, fmt.Errorf("libchdb: %s is ClickHouse %s, want %sx (libchdb %s; run `go tool mage setup`)", libPath, c.Version, EngineMajor, Version)
	}
	current = c
	return c, nil
}

func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("libchdb: data path %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func cStrings(args ...string) []*byte {
	out := make([]*byte, len(args))
	for i, a := range args {
		b := append([]byte(a), 0)
		out[i] = &b[0]
	}
	return out
}

// Query runs one statement and returns its output in the given ClickHouse
// format. The output is copied out of C memory.
func (c *Conn) Query(sql, format string) ([]byte, Stats, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, Stats{}, errors.New("libchdb: connection is closed")
	}
	return c.result(c.lib.query(c.conn, sql, format))
}

// result copies a query's result out of C memory and frees it.
func (c *Conn) result(r *chdbResult) ([]byte, Stats, error) {
	if r == nil {
		return nil, Stats{}, nil
	}
	defer c.lib.destroy(r)
	if msg := c.lib.errMessage(r); msg != "" {
		return nil, Stats{}, errors.New(strings.TrimSpace(msg))
	}
	st := Stats{Elapsed: c.lib.elapsed(r), RowsRead: c.lib.rowsRead(r), BytesRead: c.lib.bytesRead(r)}
	n := int(c.lib.length(r))
	buf := c.lib.buffer(r)
	if n == 0 || buf == nil {
		return nil, st, nil
	}
	out := make([]byte, n)
	copy(out, unsafe.Slice((*byte)(buf), n))
	return out, st, nil
}

// QueryBytes is Query for a statement given as bytes, which may carry
// binary insert data (RowBinary) after its FORMAT clause: the length is
// passed along, so NUL bytes do not end the statement, and the bytes are
// not copied into a C string first.
func (c *Conn) QueryBytes(sql []byte, format string) ([]byte, Stats, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, Stats{}, errors.New("libchdb: connection is closed")
	}
	if len(sql) == 0 {
		return nil, Stats{}, errors.New("libchdb: empty statement")
	}
	f := []byte(format)
	if len(f) == 0 {
		f = []byte("TSV")
	}
	r := c.lib.queryN(c.conn, &sql[0], uintptr(len(sql)), &f[0], uintptr(len(f)))
	return c.result(r)
}

// Close releases this user of the session; the session closes with its last
// user so that plugin instances sharing a data path do not cut each other off.
func (c *Conn) Close() error {
	connMu.Lock()
	defer connMu.Unlock()
	c.refs--
	if c.refs > 0 {
		return nil
	}
	c.release()
	if current == c {
		current = nil
	}
	return nil
}

func (c *Conn) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.lib.closeConn(c.handle)
		c.lock.Close()
	}
}
