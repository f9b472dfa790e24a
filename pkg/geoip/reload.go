package geoip

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Reload re-opens every configured file. On success the new databases
// replace the old ones atomically and the old readers are closed as soon as
// the lookups using them finish. On failure the old databases stay in use
// and the error is returned and kept for LastError and Status until the next
// successful reload.
func (r *Resolver) Reload() error {
	r.reloadMu.Lock()
	err := r.reloadLocked()
	r.reloadMu.Unlock()
	if r.opts.onReload != nil && !errors.Is(err, ErrClosed) {
		r.opts.onReload(err)
	}
	return err
}

func (r *Resolver) reloadLocked() error {
	r.stateMu.Lock()
	closed := r.closed
	r.stateMu.Unlock()
	if closed {
		return ErrClosed
	}

	// Stat before opening: if the file changes in between, the stamps are
	// older than what got loaded and Watch merely reloads once more, whereas
	// the other order could miss a change.
	stamps := statAll(r.cfg)
	set, err := load(r.cfg, r.opts)

	r.stateMu.Lock()
	r.stamps = stamps
	r.lastReload = time.Now()
	r.lastErr = err
	r.stateMu.Unlock()
	if err != nil {
		return err
	}
	if old := r.cur.Swap(set); old != nil {
		// Close errors of a retired generation are of no use to the caller,
		// whose reload did succeed.
		_ = old.release()
	}
	return nil
}

// LastError is the error of the latest reload, or nil if it succeeded (or
// none was attempted since Open).
func (r *Resolver) LastError() error {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.lastErr
}

// WatchOptions say what makes Watch reload.
type WatchOptions struct {
	// Interval is how often the files' size, modification time and identity
	// are checked; a change triggers a reload. Zero or negative disables
	// polling.
	Interval time.Duration
	// SIGHUP makes the process's SIGHUP trigger a reload. It installs a
	// process-wide signal handler, which embedders such as a Grafana plugin
	// or tests may not want, hence opt-in.
	SIGHUP bool
}

// Watch reloads the databases when their files change or, if enabled, on
// SIGHUP, until ctx is done or the Resolver is closed. It blocks; run it in
// its own goroutine. Reload outcomes go to the OnReload hook and LastError.
// A failed reload is not retried on every tick: polling tries again once the
// files change again, while SIGHUP and Reload always try.
func (r *Resolver) Watch(ctx context.Context, opts WatchOptions) {
	var tick <-chan time.Time
	if opts.Interval > 0 {
		t := time.NewTicker(opts.Interval)
		defer t.Stop()
		tick = t.C
	}
	var hup chan os.Signal
	if opts.SIGHUP {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if !r.filesChanged() {
				continue
			}
			err = r.Reload()
		case <-hup:
			err = r.Reload()
		}
		if errors.Is(err, ErrClosed) {
			return
		}
	}
}

func (r *Resolver) filesChanged() bool {
	cur := statAll(r.cfg)
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	if len(cur) != len(r.stamps) {
		return true
	}
	for i := range cur {
		if !cur[i].same(r.stamps[i]) {
			return true
		}
	}
	return false
}

// fileStamp identifies one version of a file. Identity (device and inode)
// is part of it because a rename-replace can keep size and, on coarse
// file systems, modification time.
type fileStamp struct {
	info os.FileInfo // nil if the file could not be stat'ed
}

func (a fileStamp) same(b fileStamp) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil
	}
	return a.info.Size() == b.info.Size() &&
		a.info.ModTime().Equal(b.info.ModTime()) &&
		os.SameFile(a.info, b.info)
}

func statAll(cfg Config) []fileStamp {
	var out []fileStamp
	for _, p := range []string{cfg.CityPath, cfg.ASNPath, cfg.AnonymousPath} {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			fi = nil
		}
		out = append(out, fileStamp{info: fi})
	}
	return out
}

// Status is a snapshot for health checks and admin pages.
type Status struct {
	// Databases lists the configured roles, in the order city, asn,
	// anonymous.
	Databases []DatabaseStatus `json:"databases"`
	// LoadedAt is when the databases in use were opened.
	LoadedAt time.Time `json:"loadedAt,omitzero"`
	// LastReload is when the latest open or reload was attempted.
	LastReload time.Time `json:"lastReload,omitzero"`
	// LastError is the latest reload's error; the databases in use are then
	// older than the files on disk.
	LastError string `json:"lastError,omitempty"`
	Closed    bool   `json:"closed,omitempty"`
}

// DatabaseStatus describes the database in use for one role.
type DatabaseStatus struct {
	Role      string    `json:"role"`
	Path      string    `json:"path"`
	Loaded    bool      `json:"loaded"`
	Type      string    `json:"type,omitempty"`
	BuildTime time.Time `json:"buildTime,omitzero"`
	IPVersion uint      `json:"ipVersion,omitempty"`
	NodeCount uint      `json:"nodeCount,omitempty"`
}

// Status reports the databases in use and the latest reload outcome.
func (r *Resolver) Status() Status {
	var st Status
	r.stateMu.Lock()
	st.Closed = r.closed
	st.LastReload = r.lastReload
	if r.lastErr != nil {
		st.LastError = r.lastErr.Error()
	}
	r.stateMu.Unlock()

	s := r.acquire()
	if s != nil {
		defer func() { _ = s.release() }()
		st.LoadedAt = s.loadedAt
	}
	roles := []struct {
		role, path string
		pick       func(*dbSet) *database
	}{
		{DBCity, r.cfg.CityPath, func(s *dbSet) *database { return s.city }},
		{DBASN, r.cfg.ASNPath, func(s *dbSet) *database { return s.asn }},
		{DBAnonymous, r.cfg.AnonymousPath, func(s *dbSet) *database { return s.anon }},
	}
	for _, role := range roles {
		if role.path == "" {
			continue
		}
		ds := DatabaseStatus{Role: role.role, Path: role.path}
		if s != nil {
			if d := role.pick(s); d != nil {
				ds.Loaded = true
				ds.Type = d.meta.DatabaseType
				ds.BuildTime = d.meta.BuildTime().UTC()
				ds.IPVersion = d.meta.IPVersion
				ds.NodeCount = d.meta.NodeCount
			}
		}
		st.Databases = append(st.Databases, ds)
	}
	return st
}
