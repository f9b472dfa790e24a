package access

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrincipalRoles(t *testing.T) {
	for _, tc := range []struct {
		role                 Role
		write, read, isAdmin bool
	}{
		{RoleIngest, true, false, false},
		{RoleRead, false, true, false},
		{RoleAdmin, true, true, true},
		{"", false, false, false},
		{"root", false, false, false},
	} {
		p := Principal{Role: tc.role}
		if p.CanWrite() != tc.write || p.CanRead() != tc.read {
			t.Errorf("%q: CanWrite=%v CanRead=%v, want %v %v", tc.role, p.CanWrite(), p.CanRead(), tc.write, tc.read)
		}
		if p.Has(RoleIngest) != tc.write || p.Has(RoleRead) != tc.read || p.Has(RoleAdmin) != tc.isAdmin {
			t.Errorf("%q: Has disagrees with CanWrite/CanRead/admin", tc.role)
		}
		if !p.Has("") {
			t.Errorf("%q: the empty role must be held by everyone", tc.role)
		}
	}
}

func TestTenantFor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		principal string
		event     string
		want      string
		wantErr   bool
	}{
		{"scoped, event names none", "acme", "", "acme", false},
		{"scoped, event names its tenant", "acme", "acme", "acme", false},
		{"scoped, event names another", "acme", "globex", "", true},
		{"unscoped star keeps the event's", "*", "globex", "globex", false},
		{"unscoped empty keeps the event's", "", "globex", "globex", false},
		{"unscoped, event names none", "*", "", "default", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Principal{Tenant: tc.principal, Role: RoleIngest}.TenantFor(tc.event)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			var te *TenantError
			if tc.wantErr && !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TenantError", err)
			}
			if tc.wantErr && !strings.Contains(err.Error(), `"globex"`) {
				t.Errorf("error %q does not name the refused tenant", err)
			}
			if got != tc.want {
				t.Errorf("tenant = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadTenant(t *testing.T) {
	if got := (Principal{Tenant: "acme"}).ReadTenant(); got != "acme" {
		t.Errorf("scoped ReadTenant = %q", got)
	}
	if got := (Principal{Tenant: "*"}).ReadTenant(); got != "" {
		t.Errorf("unscoped ReadTenant = %q, want all tenants (\"\")", got)
	}
}

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("empty context has a principal")
	}
	p := Principal{Tenant: "acme", Role: RoleRead}
	got, ok := FromContext(WithPrincipal(context.Background(), p))
	if !ok || got != p {
		t.Fatalf("FromContext = %+v %v, want %+v", got, ok, p)
	}
}

const goodFile = `# tokens for the test
ingest-token-0123456789 ingest acme

read-token-0123456789abc read acme
admin-token-0123456789ab admin *
  globex-reader-012345678 read globex   # no trailing comments
`

func TestParseTokens(t *testing.T) {
	// The last line has 7 fields, so the good file is the first four lines.
	good := strings.Join(strings.Split(goodFile, "\n")[:5], "\n")
	toks, err := ParseTokens(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if toks.Len() != 3 {
		t.Fatalf("Len = %d, want 3", toks.Len())
	}
	for _, tc := range []struct {
		token string
		want  Principal
		ok    bool
	}{
		{"ingest-token-0123456789", Principal{Tenant: "acme", Role: RoleIngest}, true},
		{"read-token-0123456789abc", Principal{Tenant: "acme", Role: RoleRead}, true},
		{"admin-token-0123456789ab", Principal{Tenant: "*", Role: RoleAdmin}, true},
		{"admin-token-0123456789a", Principal{}, false},   // prefix
		{"admin-token-0123456789abc", Principal{}, false}, // longer
		{"", Principal{}, false},
		{"unknown-token-000000000", Principal{}, false},
	} {
		got, ok := toks.Lookup(tc.token)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Lookup(%q) = %+v %v, want %+v %v", tc.token, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseTokensErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"too many fields", goodFile, "line 6: want \"TOKEN ROLE TENANT\" (3 fields), got 7 fields"},
		{"too few fields", "# c\nabcdefghijklmnopq read\n", "line 2: want \"TOKEN ROLE TENANT\" (3 fields), got 2 fields"},
		{"bad role", "abcdefghijklmnopq write acme\n", `line 1: role "write": want ingest, read or admin`},
		{"bad tenant", "abcdefghijklmnopq read ac/me\n", `line 1: tenant "ac/me"`},
		{"short token", "\n\nshort read acme\n", "line 3: token is 5 characters; tokens must have at least 16"},
		{"duplicate", "abcdefghijklmnopq read acme\nabcdefghijklmnopq admin *\n", "line 2: the same token is already on line 1"},
		{"empty", "# nothing\n\n", "no tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTokens(strings.NewReader(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadTokensNamesPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte("x read acme\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadTokens(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("err = %v, want the path and the line", err)
	}
	if _, err := LoadTokens(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer  abc ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"", "", false},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		got, ok := BearerToken(r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: got %q %v, want %q %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range Roles {
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q %v", r, got, err)
		}
	}
	if _, err := ParseRole("Admin"); err == nil {
		t.Error("roles are lower case")
	}
}
