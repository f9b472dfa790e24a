// Package access says who a caller is and what it may do: principals with a
// role and a tenant scope, the context that carries them through a request,
// and the token file that maps bearer tokens to principals.
//
// It knows nothing of HTTP routing; both front doors (the standalone server
// and the Grafana plugin) put a Principal into the request context and the
// shared handlers read it from there.
package access

import (
	"context"
	"fmt"

	"github.com/auditlog/auditlog/pkg/event"
)

// Role is what a principal may do.
type Role string

// Roles. Admin may do everything ingest and read may.
const (
	RoleIngest Role = "ingest"
	RoleRead   Role = "read"
	RoleAdmin  Role = "admin"
)

// Roles lists the valid roles, for messages.
var Roles = []Role{RoleIngest, RoleRead, RoleAdmin}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleIngest, RoleRead, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("access: unknown role %q: want ingest, read or admin", s)
}

// AllTenants is the tenant of a principal that is not scoped to one.
const AllTenants = "*"

// Principal is an authenticated caller.
type Principal struct {
	// Tenant is the one tenant the principal may see and write, or "" or
	// "*" for all tenants.
	Tenant string
	Role   Role
}

// Admin is the unscoped administrator, which an open server (no token
// file, loopback only) gives every request.
var Admin = Principal{Tenant: AllTenants, Role: RoleAdmin}

// Scoped tells whether the principal is limited to one tenant.
func (p Principal) Scoped() bool { return p.Tenant != "" && p.Tenant != AllTenants }

// CanWrite tells whether the principal may ingest events.
func (p Principal) CanWrite() bool { return p.Role == RoleIngest || p.Role == RoleAdmin }

// CanRead tells whether the principal may read events.
func (p Principal) CanRead() bool { return p.Role == RoleRead || p.Role == RoleAdmin }

// Has tells whether the principal holds role r: admin holds every role.
// An empty r is held by everyone.
func (p Principal) Has(r Role) bool {
	switch r {
	case "":
		return true
	case RoleIngest:
		return p.CanWrite()
	case RoleRead:
		return p.CanRead()
	case RoleAdmin:
		return p.Role == RoleAdmin
	}
	return false
}

// ReadTenant is the tenant to filter reads by: the principal's own tenant,
// or "" (every tenant) for an unscoped principal, which is what store.Filter
// expects.
func (p Principal) ReadTenant() string {
	if p.Scoped() {
		return p.Tenant
	}
	return ""
}

// TenantError is a write naming a tenant the principal may not write.
type TenantError struct {
	Principal string // the principal's tenant
	Event     string // the tenant the event names
}

func (e *TenantError) Error() string {
	return fmt.Sprintf("tenant: the token is scoped to tenant %q and may not write events of tenant %q", e.Principal, e.Event)
}

// TenantFor returns the tenant an event written by this principal belongs
// to. A scoped principal's events belong to its tenant, and naming another
// tenant is an error rather than a silent rewrite, so a misconfigured sender
// finds out. An unscoped principal keeps the event's tenant, or the default.
func (p Principal) TenantFor(eventTenant string) (string, error) {
	if p.Scoped() {
		if eventTenant != "" && eventTenant != p.Tenant {
			return "", &TenantError{Principal: p.Tenant, Event: eventTenant}
		}
		return p.Tenant, nil
	}
	if eventTenant == "" {
		return event.DefaultTenant, nil
	}
	return eventTenant, nil
}

// String is for logs; it never includes a token.
func (p Principal) String() string {
	t := p.Tenant
	if !p.Scoped() {
		t = AllTenants
	}
	return string(p.Role) + "@" + t
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx. ok is false when there is none,
// which handlers must treat as unauthenticated.
func FromContext(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
