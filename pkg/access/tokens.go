package access

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
)

// MinTokenLen is the shortest token a token file may hold. Tokens are
// compared in constant time, but a short one can simply be guessed.
const MinTokenLen = 16

// tenantRe is event's rule for tenant names: a token scoped to a tenant no
// event can have would be useless and is most likely a typo.
var tenantRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Tokens maps bearer tokens to principals.
type Tokens struct {
	// Only digests are kept: a lookup hashes the presented token first, so
	// every comparison is over 32 bytes whatever the token's length.
	entries []tokenEntry
}

type tokenEntry struct {
	digest [sha256.Size]byte
	p      Principal
}

// LoadTokens reads a token file.
func LoadTokens(path string) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("access: token file: %w", err)
	}
	defer f.Close()
	t, err := ParseTokens(f)
	if err != nil {
		return nil, fmt.Errorf("access: token file %s: %w", path, err)
	}
	return t, nil
}

// ParseTokens reads lines of the form
//
//	TOKEN ROLE TENANT
//
// where ROLE is ingest, read or admin and TENANT is a tenant name or * for
// all tenants. Blank lines and lines starting with # are ignored.
func ParseTokens(r io.Reader) (*Tokens, error) {
	t := &Tokens{}
	seen := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want \"TOKEN ROLE TENANT\" (3 fields), got %d fields", line, len(f))
		}
		tok, roleName, tenant := f[0], f[1], f[2]
		if len(tok) < MinTokenLen {
			return nil, fmt.Errorf("line %d: token is %d characters; tokens must have at least %d (e.g. `openssl rand -hex 24`)", line, len(tok), MinTokenLen)
		}
		role, err := ParseRole(roleName)
		if err != nil {
			if len(roleName) >= MinTokenLen {
				// Most likely the fields are out of order and this is a
				// token: the error goes to logs, so it must not echo it.
				return nil, fmt.Errorf("line %d: the second field is not a role (ingest, read or admin); is the line in TOKEN ROLE TENANT order?", line)
			}
			return nil, fmt.Errorf("line %d: role %q: want ingest, read or admin", line, roleName)
		}
		if tenant != AllTenants && !tenantRe.MatchString(tenant) {
			return nil, fmt.Errorf("line %d: tenant %q: want * or a name matching [A-Za-z0-9_.-]{1,64}", line, tenant)
		}
		d := sha256.Sum256([]byte(tok))
		if prev, dup := seen[d]; dup {
			return nil, fmt.Errorf("line %d: the same token is already on line %d", line, prev)
		}
		seen[d] = line
		t.entries = append(t.entries, tokenEntry{digest: d, p: Principal{Tenant: tenant, Role: role}})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("no tokens: a token file needs at least one \"TOKEN ROLE TENANT\" line")
	}
	return t, nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// Lookup returns the principal of token. It compares against every token,
// without stopping at a match, so its timing does not tell which token (or
// whether any) matched.
func (t *Tokens) Lookup(token string) (Principal, bool) {
	d := sha256.Sum256([]byte(token))
	found := 0
	idx := 0
	for i := range t.entries {
		eq := subtle.ConstantTimeCompare(d[:], t.entries[i].digest[:])
		idx = subtle.ConstantTimeSelect(eq, i, idx)
		found |= eq
	}
	if found == 0 || token == "" {
		return Principal{}, false
	}
	return t.entries[idx].p, true
}

// BearerToken returns the token of an "Authorization: Bearer TOKEN" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
