package access

import (
	"strings"
	"testing"
)

// TestTokenFileErrorsNeverEchoTokens: an error about a token file goes to
// the log and the terminal, so it names lines, never tokens. A line with
// its fields out of order used to echo the token as the "role".
func TestTokenFileErrorsNeverEchoTokens(t *testing.T) {
	const tok = "s3cr3t-t0ken-value-0123456789"
	for _, file := range []string{
		"acme-prod-tenant " + tok + " read\n",     // TENANT TOKEN ROLE
		tok + " read\n",                           // tenant forgotten
		tok + " read acme extra\n",                // one field too many
		tok + " read ac/me\n",                     // bad tenant
		tok + " read acme\n" + tok + " admin *\n", // duplicate
		tok[:10] + " read acme\n",                 // short (a prefix of it)
	} {
		_, err := ParseTokens(strings.NewReader(file))
		if err == nil {
			t.Fatalf("%q: accepted", file)
		}
		if strings.Contains(err.Error(), tok[:10]) {
			t.Errorf("error %q shows the token", err)
		}
	}
}
