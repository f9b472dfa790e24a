package event

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// checkNestingReference is the byte-by-byte scan checkNesting replaced.
func checkNestingReference(b []byte) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > MaxNesting {
				return fmt.Errorf("nested deeper than %d levels", MaxNesting)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

var (
	actionReference = regexp.MustCompile(`^[a-z0-9_.:-]{1,64}$`)
	tenantReference = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// FuzzValidateHelpers holds the hand-written checks of Validate and
// Normalize to what they replaced: the byte-by-byte nesting scan, the
// name regexps, and uuid/netip's canonical forms.
func FuzzValidateHelpers(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,{"b":"]]]\"[[["}]}`, `"\\\\"[[`, `"\\\"[[[`, `"abc`, `[` + strings.Repeat(`"\\"[`, 40),
		strings.Repeat("[", 33) + strings.Repeat("]", 33), `"` + strings.Repeat("[", 40), `\"[`,
		"login_failed", "Login", "a b", strings.Repeat("a", 64), strings.Repeat("a", 65), "ten-ant.1", "x:y",
		"f52f9eb9-dc2a-4f1e-afea-ad5af90bf680", "F52F9EB9-DC2A-4F1E-AFEA-AD5AF90BF680", "{f52f9eb9-dc2a-4f1e-afea-ad5af90bf680}",
		"1.2.3.4", "::ffff:1.2.3.4", "fe80::1%eth0", "2001:DB8::1", "::", "0.0.0.0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := fmt.Sprint(checkNesting([]byte(s))), fmt.Sprint(checkNestingReference([]byte(s))); got != want {
			t.Fatalf("checkNesting(%q) = %s, reference %s", s, got, want)
		}
		if got, want := validAction(s), actionReference.MatchString(s); got != want {
			t.Fatalf("validAction(%q) = %v, regexp %v", s, got, want)
		}
		if got, want := validTenant(s), tenantReference.MatchString(s); got != want {
			t.Fatalf("validTenant(%q) = %v, regexp %v", s, got, want)
		}
		if canonicalUUID(s) {
			if u, err := uuid.Parse(s); err != nil || u.String() != s {
				t.Fatalf("canonicalUUID(%q), but uuid gives %v %v", s, u, err)
			}
		}
		// Normalize must write what it wrote with uuid and netip's String.
		e := Event{ID: s, ClientIP: s}
		Normalize(&e, now)
		wantID := s
		if s == "" {
			wantID = e.ID // generated
		} else if u, err := uuid.Parse(s); err == nil {
			wantID = u.String()
		}
		wantIP := s
		if ip, err := netip.ParseAddr(s); err == nil {
			wantIP = ip.Unmap().String()
		}
		if e.ID != wantID || e.ClientIP != wantIP {
			t.Fatalf("Normalize(%q): id %q ip %q, want %q %q", s, e.ID, e.ClientIP, wantID, wantIP)
		}
	})
}
