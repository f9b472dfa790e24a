package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/auditlog/auditlog/pkg/ingest"
)

// saturation is the queue fill at which the server stops calling itself
// ready, so a load balancer steers new traffic elsewhere before requests
// start getting 429s.
const saturation = 0.9

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	ingest.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type check struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

type storeCheck struct {
	check
	Engine        string `json:"engine,omitempty"`
	EngineVersion string `json:"engineVersion,omitempty"`
	SchemaVersion int    `json:"schemaVersion,omitempty"`
}

type queueCheck struct {
	check
	Depth    int `json:"depth"`
	Capacity int `json:"capacity"`
}

type geoDB struct {
	Role      string    `json:"role"`
	Loaded    bool      `json:"loaded"`
	Type      string    `json:"type,omitempty"`
	BuildTime time.Time `json:"buildTime,omitzero"`
}

type geoCheck struct {
	check
	Configured bool    `json:"configured"`
	Databases  []geoDB `json:"databases,omitempty"`
	// LastError is a failed reload: the older databases still serve, so it
	// does not make the server unready.
	LastError string `json:"lastError,omitempty"`
}

type readiness struct {
	Status string     `json:"status"`
	Store  storeCheck `json:"store"`
	Writes check      `json:"writes"`
	Queue  queueCheck `json:"queue"`
	GeoIP  geoCheck   `json:"geoip"`
}

// readyz tells a load balancer whether to send traffic: the store answers,
// the latest insert worked, the ingest queue has room, and the server is
// not shutting down. File
// paths and event counts stay out: the endpoint is public.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var rd readiness
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st, err := s.cfg.Store.Stats(ctx)
	if err != nil {
		s.log.Warn("server: readiness: store", "err", err)
		rd.Store.Error = "the event store does not answer"
	} else {
		rd.Store = storeCheck{check: check{OK: true}, Engine: st.Engine, EngineVersion: st.EngineVersion, SchemaVersion: st.SchemaVersion}
	}

	// Reads can work while every write fails (a full or read-only disk),
	// so the latest insert counts too. Ingest answers 503 meanwhile, and a
	// client's retry that succeeds makes the server ready again.
	rd.Writes.OK = true
	if err := s.cfg.Writer.LastInsertError(); err != nil {
		rd.Writes.OK = false
		why := ingest.FailureReason(err)
		if why == "" {
			why = "see the server log"
		}
		rd.Writes.Error = "the latest insert failed (" + why + "); events are refused with 503 until an insert succeeds"
	}

	rd.Queue.Depth, rd.Queue.Capacity = s.cfg.Writer.QueueDepth(), s.cfg.Writer.QueueSize()
	rd.Queue.OK = float64(rd.Queue.Depth) < saturation*float64(rd.Queue.Capacity)
	if !rd.Queue.OK {
		rd.Queue.Error = "the ingest queue is nearly full"
	}

	rd.GeoIP.OK = true
	if s.cfg.GeoIP != nil {
		gs := s.cfg.GeoIP.Status()
		rd.GeoIP.Configured = len(gs.Databases) > 0
		rd.GeoIP.LastError = gs.LastError
		for _, d := range gs.Databases {
			// The endpoint is public: name the database, not its path.
			if d.Path != "" {
				rd.GeoIP.LastError = strings.ReplaceAll(rd.GeoIP.LastError, d.Path, "<"+d.Role+" file>")
			}
		}
		for _, d := range gs.Databases {
			rd.GeoIP.Databases = append(rd.GeoIP.Databases, geoDB{Role: d.Role, Loaded: d.Loaded, Type: d.Type, BuildTime: d.BuildTime})
			if !d.Loaded {
				rd.GeoIP.OK = false
				rd.GeoIP.Error = "a configured GeoIP database is not loaded"
			}
		}
	}

	status, code := "ready", http.StatusOK
	switch {
	case s.stopping.Load():
		status, code = "shutting down", http.StatusServiceUnavailable
	case !rd.Store.OK || !rd.Writes.OK || !rd.Queue.OK || !rd.GeoIP.OK:
		status, code = "not ready", http.StatusServiceUnavailable
	}
	rd.Status = status
	ingest.WriteJSON(w, code, rd)
}
