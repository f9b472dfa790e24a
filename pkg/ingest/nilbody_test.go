package ingest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/auditlog/auditlog/pkg/access"
	"github.com/auditlog/auditlog/pkg/ingest"
)

// TestNilBody: the plugin SDK's resource adapter passes a nil body for an
// empty one. It used to panic the handler (a nil reader under
// MaxBytesReader), which in the plugin hung the call for minutes and then
// killed the process; it is an empty body, 400.
func TestNilBody(t *testing.T) {
	h := ingest.NewHandler(nil, nil, ingest.Options{})
	req := httptest.NewRequest("POST", "/events", nil)
	req.Body = nil
	req.Header.Set("Content-Type", "application/json")
	req = req.WithContext(access.WithPrincipal(req.Context(), access.Admin))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "the request body is empty") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
