package hostile

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Tenant is one tenant's events for the isolation tests: marks that must
// show in its own answers and never in the other tenant's.
type Tenant struct {
	Name                   string
	IDs                    [2]string // a login and a change with a diff
	User, App, IP, Country string
	City                   string
	DiffField, DiffAction  string
}

// TenantA and TenantB share nothing that an answer could show.
var (
	TenantA = Tenant{Name: "tenant-a", IDs: [2]string{"0195a000-0000-7000-8000-00000000000a", "0195a000-0000-7000-8000-0000000000aa"},
		User: "alice-of-a", App: "app-of-a", IP: "81.2.69.142", Country: "GB", City: "London", DiffField: "field-of-a", DiffAction: "model_updated"}
	TenantB = Tenant{Name: "tenant-b", IDs: [2]string{"0195a000-0000-7000-8000-00000000000b", "0195a000-0000-7000-8000-0000000000bb"},
		User: "bob-of-b", App: "app-of-b", IP: "126.0.0.5", Country: "JP", City: "Tokyo", DiffField: "field-of-b", DiffAction: "model_deleted"}
)

// Events is the tenant's two events as a JSON array, at base and a minute later.
func (d Tenant) Events(base time.Time) string {
	return fmt.Sprintf(`[{"id":%q,"action":"login","time":%q,"app":%q,"user":{"username":%q},"clientIp":%q},`+
		`{"id":%q,"action":%q,"time":%q,"app":%q,"user":{"username":%q},"clientIp":%q,"diff":{%q:{"old":"x","new":"y"}}}]`,
		d.IDs[0], base.Format(time.RFC3339), d.App, d.User, d.IP,
		d.IDs[1], d.DiffAction, base.Add(time.Minute).Format(time.RFC3339), d.App, d.User, d.IP, d.DiffField)
}

// Marks are the strings that identify the tenant's events in any answer.
func (d Tenant) Marks() []string {
	return []string{d.IDs[0], d.IDs[1], d.User, d.App, d.Country, d.City, d.DiffField, d.DiffAction}
}

// CheckIsolation fails t when an answer to own shows any mark of other,
// or lacks one of mustShow.
func CheckIsolation(t testing.TB, what string, answer []byte, own, other Tenant, mustShow ...string) {
	t.Helper()
	for _, m := range other.Marks() {
		if strings.Contains(string(answer), m) {
			t.Errorf("%s for %s shows %q of %s: %.400s", what, own.Name, m, other.Name, answer)
		}
	}
	for _, m := range mustShow {
		if !strings.Contains(string(answer), m) {
			t.Errorf("%s for %s lacks its own %q: %.400s", what, own.Name, m, answer)
		}
	}
}
