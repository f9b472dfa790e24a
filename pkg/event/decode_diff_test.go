package event_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
	"github.com/auditlog/auditlog/pkg/event"
)

// sameAsReference checks Decode against the encoding/json implementation:
// same accept/reject, same error text, same Event down to nil-versus-empty
// and the bytes of the context. It reports whether the fast path took the
// input.
func sameAsReference(t *testing.T, in []byte) (fast bool) {
	t.Helper()
	want, werr := event.DecodeReference(bytes.Clone(in))
	// Ingest reuses the buffer for the next line: an event must not share
	// it, which overwriting it after the decode makes visible.
	buf := bytes.Clone(in)
	got, gerr := event.Decode(buf)
	clobber(buf)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) && !possibleError(in, gerr) {
		t.Fatalf("error %v, reference %v\ninput %q", gerr, werr, in)
	}
	if gerr != nil {
		if _, ok := gerr.(*event.Error); !ok {
			t.Fatalf("error is %T, want *event.Error: %v", gerr, gerr)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode differs from the reference:\n got %s\nwant %s\ninput %q", dump(got), dump(want), in)
	}
	buf = bytes.Clone(in)
	fe, ok := event.DecodeFast(buf)
	clobber(buf)
	if !ok {
		return false
	}
	if werr != nil {
		t.Fatalf("the fast path accepts what the reference refuses (%v):\n%s\ninput %q", werr, dump(fe), in)
	}
	if !reflect.DeepEqual(fe, want) {
		t.Fatalf("the fast path differs from the reference:\n got %s\nwant %s\ninput %q", dump(fe), dump(want), in)
	}
	return true
}

func clobber(b []byte) {
	for i := range b {
		b[i] = '#'
	}
}

// possibleError tells whether the reference can fail with err: with
// several bad diff fields, which one it names depends on map order.
func possibleError(in []byte, err error) bool {
	if err == nil {
		return false
	}
	for range 200 {
		if _, rerr := event.DecodeReference(bytes.Clone(in)); rerr != nil && rerr.Error() == err.Error() {
			return true
		}
	}
	return false
}

// dump shows what reflect.DeepEqual compares, including what JSON hides:
// nil versus empty diffs and lists, and the exact context bytes.
func dump(e event.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v", e)
	fmt.Fprintf(&b, "\n  context %q", e.Context)
	fmt.Fprintf(&b, "\n  diff nil=%v", e.Diff == nil)
	for k, c := range e.Diff {
		fmt.Fprintf(&b, "\n  diff[%q] old=%q new=%q add=%q(nil=%v) remove=%q(nil=%v) clear=%v",
			k, c.Old, c.New, c.Add, c.Add == nil, c.Remove, c.Remove == nil, c.Clear)
	}
	if e.Geo != nil {
		fmt.Fprintf(&b, "\n  geo %+v", *e.Geo)
	}
	if e.ASN != nil {
		fmt.Fprintf(&b, "\n  asn %+v", *e.ASN)
	}
	return b.String()
}

var demoFrom = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func demoEvents(n int) [][]byte {
	return demo.GenerateRaw(7, n, demoFrom, demoFrom.Add(30*24*time.Hour))
}

// edgeCases are the corners of encoding/json and fromWire the fast decoder
// must either reproduce or leave to the reference.
var edgeCases = []string{
	// Plain shapes, both forms.
	`{"action":"login"}`,
	`{}`,
	`{"id":"0195a000-0000-7000-8000-000000000001","time":"2026-01-02T03:04:05.123456789+02:00","action":"login","app":"web","user":{"id":"u1","username":"alice","email":"a@x"},"clientIp":"::ffff:1.2.3.4","tenant":"acme","severity":"error","object":{"app":"core","model":"user","pk":"42","name":"bob"},"context":{"b":1,"a":[1,2]},"diff":{"f":{"old":1,"new":2}},"expires":"2027-01-01T00:00:00Z","receivedAt":"2026-01-01T00:00:00Z","geo":{"country":"Germany","countryCode":"DE","city":"Berlin","continent":"EU","lat":52.5,"lon":13.4},"asn":{"number":3320,"org":"DTAG","network":"1.2.0.0/16"}}`,
	`{"pk":"F52F9EB9-DC2A-4F1E-AFEA-AD5AF90BF680","user":{"pk":1,"email":"root@localhost","username":"akadmin","on_behalf_of":{"pk":2,"username":"bob"}},"action":"model_updated","app":"authentik.events.signals","client_ip":"5.4.1.2","created":"2023-02-15T10:02:48.615499Z","expires":"2024-02-15T10:02:48.612809Z","brand":{"pk":"1080","app":"authentik_brands","name":"Default brand","model_name":"brand"},"context":{"http_request":{"method":"PATCH"},"geo":{"continent":"EU","country":"DE","city":"Berlin","lat":52.52,"long":13.4},"asn":{"asn":6805,"as_org":"Telefonica Germany","network":"5.4.0.0/14"},"model":{"app":"authentik_core","model_name":"group","pk":"g1","name":"admins"},"diff":{"name":{"previous_value":"admin","new_value":"admins"},"users":{"add":[3,4]},"roles":{"clear":true}}},"expiring":true}`,
	// White space everywhere, which the context rewrite removes.
	" \t\n{ \"action\" : \"x\" , \"context\" : { \"b\" : [ 1 , { \"c\" : \"d e\" } ] , \"a\" : null } , \"brand\" : { \"n\" : 1 } }\r\n",
	"\u00a0{\"action\":\"x\"}\u2003",
	`{"action":"x","user":{ "username" : "a", "extra" : [ 1 ] }}`,
	// Escapes in values and the characters json.Marshal escapes.
	`{"action":"x","app":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac\ud83d\ude00"}`,
	`{"action":"x","app":"\ud800\u0041 \udc00\udc00 \ud800"}`,
	`{"action":"x","app":"\uD83D\uDE00"}`,
	`{"action":"x","context":{"q":"a<b>&c","u":"\u2028\u2029 ` + "\u2028\u2029" + `","e":"\u003c"}}`,
	`{"action":"x","context":{"<k&>":1,"` + "\u2028" + `":2,"é":3,"Z":4,"a":5}}`,
	`{"action":"x","brand":"<&>","user":{"username":"u","x":"<"}}`,
	`{"action":"x","context":{"a":"\u0000"}}`,
	`{"action":"x","context":{"a\u0000":1}}`,
	`{"action":"x","context":{"a":1,"a":2}}`,
	`{"action":"x","context":{"brand":1,"user":2},"brand":3,"tenant":{"t":1},"user":{"q":1}}`,
	`{"action":"x","tenant":{"t":1},"brand":{"b":2}}`,
	`{"action":"x","brand":null,"tenant":null,"context":null,"diff":null,"user":null,"object":null,"geo":null,"asn":null}`,
	`{"action":"x","brand":0}`, `{"action":"x","brand":"s"}`, `{"action":"x","brand":[]}`,
	`{"action":"x","tenant":1}`, `{"action":"x","tenant":[]}`, `{"action":"x","tenant":true}`, `{"action":"x","tenant":"a\u0062c"}`,
	`{"action":"x","context":{}}`, `{"action":"x","context":[]}`, `{"action":"x","context":"{}"}`, `{"action":"x","context":1}`,
	// Keys: case folding, escapes, unknown, duplicates.
	`{"Action":"x"}`, `{"ACTION":"x"}`, `{"actio\u006e":"x"}`, `{"action":"x","bogus":1}`, `{"action":"x","action":"y"}`,
	`{"action":"x","action":null}`, `{"action":"x","user":{"USERNAME":"a"}}`, `{"action":"x","user":{"userſname":"a"}}`,
	`{"action":"x","user":{"uſername":"a"}}`, `{"action":"x","object":{"ſ":1}}`, `{"action":"x","user":{"username":"a","username":"b"}}`,
	`{"action":"x","user":{"id":"a","id":null}}`, `{"action":"x","user":{"em\u0061il":"a"}}`,
	`{"action":"x","object":{"Model":"m"}}`, `{"action":"x","object":{"model":"m","Model_Name":"n"}}`,
	`{"action":"x","diff":{"f":{"OLD":1}}}`, `{"action":"x","diff":{"f":{"old":1,"old":2}}}`, `{"action":"x","diff":{"f":{"old":1},"f":{"new":2}}}`,
	`{"action":"x","geo":{"Lat":1}}`, `{"action":"x","geo":{"lat":1,"lat":2}}`, `{"action":"x","geo":{"x":1}}`,
	`{"action":"x","context":{"geo":{"LAT":1}}}`, `{"action":"x","context":{"geo":{"lat":1,"lat":null}}}`,
	// Types.
	`{"action":1}`, `{"action":true}`, `{"action":["x"]}`, `{"action":{"a":1}}`, `{"action":null}`,
	`{"action":"x","user":"alice"}`, `{"action":"x","user":[]}`, `{"action":"x","user":1}`,
	`{"action":"x","user":{"pk":1.5e3}}`, `{"action":"x","user":{"pk":-0}}`, `{"action":"x","user":{"pk":true}}`,
	`{"action":"x","user":{"pk":{}}}`, `{"action":"x","user":{"pk":null,"id":""}}`, `{"action":"x","user":{"id":"","pk":7}}`,
	`{"action":"x","user":{"username":1}}`, `{"action":"x","user":{"username":null}}`, `{"action":"x","user":{}}`,
	`{"action":"x","object":{}}`, `{"action":"x","object":"o"}`, `{"action":"x","object":{"pk":99999999999999999999999}}`,
	`{"action":"x","object":{"model_name":"m"}}`, `{"action":"x","object":{"model":"","model_name":"m"}}`,
	`{"action":"x","expiring":"yes"}`, `{"action":"x","expiring":false}`, `{"action":"x","expiring":null}`,
	`{"action":"x","receivedAt":1}`, `{"action":"x","receivedAt":null}`,
	`{"action":"x","geo":{"lat":1e400}}`, `{"action":"x","geo":{"lat":"1"}}`, `{"action":"x","geo":{"lat":null,"lon":-0.0}}`,
	`{"action":"x","geo":{}}`, `{"action":"x","geo":[]}`, `{"action":"x","geo":"x"}`,
	`{"action":"x","asn":{"number":4294967295}}`, `{"action":"x","asn":{"number":4294967296}}`, `{"action":"x","asn":{"number":-1}}`,
	`{"action":"x","asn":{"number":1.0}}`, `{"action":"x","asn":{"number":1e2}}`, `{"action":"x","asn":{}}`, `{"action":"x","asn":{"number":null}}`,
	// Context lifts.
	`{"action":"x","context":{"geo":null}}`, `{"action":"x","context":{"geo":1}}`, `{"action":"x","context":{"geo":{}}}`,
	`{"action":"x","context":{"geo":{"long":null,"lon":5,"lat":null}}}`, `{"action":"x","context":{"geo":{"long":1,"lon":5}}}`,
	`{"action":"x","context":{"geo":{"country":1}}}`, `{"action":"x","geo":{"city":"c"},"context":{"geo":1}}`,
	`{"action":"x","context":{"geo":{"lat":1e999}}}`, `{"action":"x","context":{"geo":{"extra":{"deep":[1]}}}}`,
	`{"action":"x","context":{"asn":null}}`, `{"action":"x","context":{"asn":{}}}`, `{"action":"x","context":{"asn":{"asn":null}}}`,
	`{"action":"x","context":{"asn":{"asn":0}}}`, `{"action":"x","context":{"asn":{"asn":1,"as_org":2}}}`,
	`{"action":"x","asn":{"number":5},"context":{"asn":null}}`,
	`{"action":"x","context":{"model":"m"}}`, `{"action":"x","context":{"model":null}}`, `{"action":"x","context":{"model":{"pk":true}}}`,
	`{"action":"x","context":{"model":{"model":"a","model_name":"b"}}}`, `{"action":"x","context":{"model":{"model":"a"}}}`,
	`{"action":"x","object":{"name":"n"},"context":{"model":{"pk":true}}}`, `{"action":"x","object":{},"context":{"model":{"pk":1}}}`,
	`{"action":"x","context":{"diff":"d"}}`, `{"action":"x","context":{"diff":{"f":1}}}`, `{"action":"x","context":{"diff":{}}}`,
	`{"action":"x","diff":{},"context":{"diff":{"f":1}}}`, `{"action":"x","diff":{"g":null},"context":{"diff":{"f":{"old":1}}}}`,
	// Diffs.
	`{"action":"x","diff":{"f":null}}`, `{"action":"x","diff":{"f":{}}}`, `{"action":"x","diff":{"f":1}}`, `{"action":"x","diff":[]}`,
	`{"action":"x","diff":"x"}`, `{"action":"x","diff":{"f":{"old":null,"previous_value":1}}}`,
	`{"action":"x","diff":{"f":{"previous_value":1,"new_value":[ 1 , 2 ]}}}`, `{"action":"x","diff":{"f":{"old":{ "a" : 1 }}}}`,
	`{"action":"x","diff":{"f":{"add":[]}}}`, `{"action":"x","diff":{"f":{"add":null}}}`, `{"action":"x","diff":{"f":{"add":[null, "a" ,{}]}}}`,
	`{"action":"x","diff":{"f":{"add":{}}}}`, `{"action":"x","diff":{"f":{"remove":"a"}}}`, `{"action":"x","diff":{"f":{"clear":1}}}`,
	`{"action":"x","diff":{"f":{"clear":null}}}`, `{"action":"x","diff":{"f":{"clear":false,"other":[{}]}}}`,
	`{"action":"x","diff":{"é":{"new":1},"<":{"new":2}}}`,
	// Aliases and times.
	`{"action":"x","id":"a","pk":"a"}`, `{"action":"x","id":"a","pk":"b"}`, `{"action":"x","id":"","pk":"b"}`,
	`{"action":"x","pk":"a","event_uuid":"b"}`, `{"action":"x","time":"2026-01-01T00:00:00Z","created":"2026-01-01T00:00:01Z"}`,
	`{"action":"x","time":"","created":"2026-01-01T00:00:01Z"}`, `{"action":"x","clientIp":"1.1.1.1","client_ip":"1.1.1.2"}`,
	`{"action":"x","time":"0001-01-01T00:00:00Z"}`, `{"action":"x","expires":"0001-01-01T00:00:00Z"}`,
	`{"action":"x","time":"2026-01-01"}`, `{"action":"x","expires":"soon"}`, `{"action":"x","time":"2026-01-01T00:00:00.1234567891+14:00"}`,
	`{"action":"x","time":"2026-01-01t00:00:00z"}`, `{"action":"x","created":"2026-02-30T00:00:00Z"}`,
	// Syntax.
	`{"action":"x"}}`, `{"action":"x"}]`, `{"action":"x"} {}`, `{"action":"x"`, `{"action":"x",}`, `{"action" "x"}`,
	`{"action":"x","n":01}`, `{"action":"x","context":{"n":01}}`, `{"action":"x","context":{"n":1.}}`, `{"action":"x","context":{"n":-}}`,
	`{"action":"x","context":{"n":1e}}`, `{"action":"x","context":{"n":.5}}`, `{"action":"x","context":{"n":+1}}`,
	`{"action":"x","context":{"n":tru}}`, `{"action":"x","context":{"n":nul}}`, `{"action":"x","context":{"n":[1,]}}`,
	`{"action":"x","context":{"n":"\x"}}`, `{"action":"x","context":{"n":"\u12"}}`, "{\"action\":\"x\",\"context\":{\"n\":\"\t\"}}",
	"{\"action\":\"x\",\"context\":{\"n\":\"\xff\"}}", "{\"action\":\"x\"}\xff", "\ufeff{\"action\":\"x\"}",
	`[{"action":"x"}]`, `"x"`, ``, ` `, `{`, `{"`, `{"action"`, `{"action":`, `{"action":"x",`,
	`{"action":"x","context":{"a":` + strings.Repeat("[", 31) + strings.Repeat("]", 31) + `}}`,
	`{"action":"x","context":{"a":` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `}}`,
	`{"action":"x","object":{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`,
	`{"action":"x","context":{"a":"` + strings.Repeat("x", event.MaxContextBytes) + `"}}`,
	// More context members than the decoder keeps in its array.
	`{"action":"x","user":{"x":1},"brand":2,"context":{` + manyKeys(40) + `}}`,
	`{"action":"x","context":{` + manyKeys(16) + `},"user":{"x":1}}`,
	`{"action":"x","context":{` + manyKeys(20) + `,"k07":0}}`,
}

// manyKeys returns n members in an order that needs sorting.
func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%02d":%d`, (i*7)%n, i)
	}
	return b.String()
}

func TestDecodeMatchesReference(t *testing.T) {
	for i, in := range edgeCases {
		t.Run(strconv.Itoa(i), func(t *testing.T) { sameAsReference(t, []byte(in)) })
	}
	for i, in := range fuzzSeeds(t) {
		t.Run(fmt.Sprintf("seed%d", i), func(t *testing.T) { sameAsReference(t, in) })
	}
}

// TestFastPathTakesDemoEvents: the speed of ingest depends on the events
// authentik sends taking the fast path, in compact and in indented form.
func TestFastPathTakesDemoEvents(t *testing.T) {
	for i, raw := range demoEvents(2000) {
		if !sameAsReference(t, raw) {
			t.Fatalf("demo event %d left the fast path: %s", i, raw)
		}
		if i%50 == 0 {
			var ind bytes.Buffer
			if err := json.Indent(&ind, raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			if !sameAsReference(t, ind.Bytes()) {
				t.Fatalf("indented demo event %d left the fast path", i)
			}
		}
	}
}

// fuzzSeeds are the inputs of FuzzDecode's corpus and the demo events.
func fuzzSeeds(t testing.TB) [][]byte {
	var out [][]byte
	files, _ := filepath.Glob("testdata/fuzz/FuzzDecode/*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The corpus format is a header line and one Go []byte literal.
		_, lit, _ := strings.Cut(string(b), "\n")
		lit = strings.TrimSpace(lit)
		lit = strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")")
		s, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, []byte(s))
	}
	return append(out, demoEvents(40)...)
}

// FuzzDecodeMatchesReference: for every input, Decode and its fast path
// agree with the encoding/json implementation (see sameAsReference).
func FuzzDecodeMatchesReference(f *testing.F) {
	for _, s := range edgeCases {
		f.Add([]byte(s))
	}
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { sameAsReference(t, b) })
}
