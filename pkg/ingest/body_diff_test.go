package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/auditlog/auditlog/pkg/demo"
)

// readJSONReference is readJSON as it was before jsonSplitter: json.Decoder
// over the whole body, which is what decodeJSON, the splitter's fallback,
// does from the first byte on.
func readJSONReference(r io.Reader, maxEvents int, each func(int, []byte) error) error {
	br := bufio.NewReaderSize(r, 32<<10)
	first, err := firstByteReference(br)
	if err != nil {
		return err
	}
	if first != '[' && first != '{' {
		return badRequest("the body must be a JSON object, an array of objects, or NDJSON (one object per line); it starts with %q", string(first))
	}
	return decodeJSON(br, first == '[', 0, maxEvents, each)
}

func firstByteReference(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return 0, badRequest(emptyBody)
		}
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, br.UnreadByte()
	}
}

var errStop = errors.New("each: stop")

// readTrace is what a body reader did: the elements it handed over and how
// it ended.
type readTrace struct {
	elems []string
	err   string
}

func traceRead(read func(io.Reader, int, func(int, []byte) error) error, r io.Reader, maxEvents, stopAt int) readTrace {
	var tr readTrace
	err := read(r, maxEvents, func(i int, raw []byte) error {
		tr.elems = append(tr.elems, fmt.Sprintf("%d:%s", i, raw))
		if i == stopAt {
			return errStop
		}
		return nil
	})
	if err != nil {
		tr.err = fmt.Sprintf("%T %v", err, err)
		if re, ok := err.(*RequestError); ok {
			tr.err += fmt.Sprint(" status ", re.Status)
		}
	}
	return tr
}

// readers are ways a body arrives: whole, in small pieces, with its last
// bytes and io.EOF together, or cut off by the size limit.
var readers = []struct {
	name string
	wrap func([]byte) io.Reader
}{
	{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
	{"bytewise", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{"halves", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
	{"data+eof", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
	{"limited", func(b []byte) io.Reader {
		limit := int64(len(b) * 2 / 3)
		return &limitedReader{r: bytes.NewReader(b), n: limit, limit: limit}
	}},
	{"broken", func(b []byte) io.Reader {
		return io.MultiReader(bytes.NewReader(b[:len(b)/2]), iotest.ErrReader(errors.New("connection reset")))
	}},
}

// sameAsReferenceReader checks readJSON against readJSONReference for one
// body under every reader.
func sameAsReferenceReader(t *testing.T, body []byte, maxEvents, stopAt int) {
	t.Helper()
	for _, rd := range readers {
		want := traceRead(readJSONReference, rd.wrap(body), maxEvents, stopAt)
		got := traceRead(readJSON, rd.wrap(body), maxEvents, stopAt)
		if got.err != want.err || strings.Join(got.elems, "\n") != strings.Join(want.elems, "\n") {
			t.Fatalf("%s reader, max %d, stop at %d: body %q\n got %q %q\nwant %q %q", rd.name, maxEvents, stopAt, body,
				got.elems, got.err, want.elems, want.err)
		}
	}
}

var bodyCases = []string{
	`{"a":1}`, ` {"a":1} `, "\n\t{\"a\":1}\r\n{\"b\":2}\n", `{"a":1}{"b":2}`, `{"a":1} {"b":[1,{"c":"\"}"}]}`,
	`[{"a":1}]`, ` [ {"a":1} , {"b":2} ] `, "[\n{\"a\":1},\n{\"b\":2}\n]\n", `[{"a":1},{"b":2},{"c":3},{"d":4}]`,
	`[]`, `[ ]`, `[{"a":1},]`, `[{"a":1} {"b":2}]`, `[{"a":1}}`, `[{"a":1}]]`, `[{"a":1}] x`, `[{"a":1}] []`,
	`[{"a":1}] {}`, `[{"a":1}] "s"`, `[{"a":1}] "s`, `[{"a":1}] 1`, `[{"a":1}] ,`, `[{"a":1}],`, `[{"a":1}] }`,
	`[42, {"a":1}]`, `[{"a":1}, 42, "x", null, [1]]`, `[{"a":1},`, `[{"a":1}`, `[`, `[{"a":`, `[{"a":1`,
	`{"a":1} 42`, `{"a":1} [1]`, `{"a":1} }`, `{"a":1} ]`, `{"a":1} x`, `{"a":1`, `{"a":1} {"b":`, `{"a":01}`,
	`{"a":"\x"}`, `{"a":"` + "\x01" + `"}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":[1,]}`, `{"a" 1}`,
	`{,}`, `{"a":1,}`, "{\"a\":\"\xff\xfe\"}", `[{"a":"\u12"}]`, `[{"a":"\ud800"}]`, `x`, ``, `   `, `"s"`, `1`,
	`[{"a":1},{"b":2},{"c":3}] `, `[ {"a":1} ,{"b":2}, {"c":3}]`, `{"a":1}  {"b":2}   {"c":3}  `,
	`[{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}]`,
	`{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `} {"b":1}`,
	`[{"a":` + strings.Repeat("[", 20000) + `}]`,
	`[{"pad":"` + strings.Repeat("x", 70000) + `"},{"b":2}]`,
	`{"pad":"` + strings.Repeat("x", 70000) + `"} {"b":2} x`,
}

func TestReadJSONMatchesReference(t *testing.T) {
	bodies := append(append(bodyCases, demoBodies()...), corpusBodies(t)...)
	for i, body := range bodies {
		for _, max := range []int{1, 2, 3, 1000} {
			for _, stop := range []int{-1, 0, 1} {
				t.Run(fmt.Sprintf("%d/max%d/stop%d", i, max, stop), func(t *testing.T) {
					sameAsReferenceReader(t, []byte(body), max, stop)
				})
			}
		}
	}
}

// corpusBodies are the bodies of FuzzReadEvents' corpus, hostile shapes
// collected for the body reader.
func corpusBodies(t *testing.T) []string {
	files, err := filepath.Glob("testdata/fuzz/FuzzReadEvents/*")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// A header line, then one Go literal per argument; the body first.
		lines := strings.Split(string(b), "\n")
		lit := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(lines[1]), "[]byte("), ")")
		body, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, body)
	}
	return out
}

// demoBodies frames demo events both ways, compact and indented.
func demoBodies() []string {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	raws := demo.GenerateRaw(3, 20, now.Add(-time.Hour), now)
	var arr, seq, ind bytes.Buffer
	arr.WriteString("[")
	for i, r := range raws {
		if i > 0 {
			arr.WriteString(",\n ")
		}
		arr.Write(r)
		seq.Write(r)
		seq.WriteString("\n")
		_ = json.Indent(&ind, r, "", "\t")
	}
	arr.WriteString("]\n")
	return []string{arr.String(), seq.String(), ind.String(), "[" + strings.ReplaceAll(ind.String(), "}\n{", "},\n{") + "]"}
}

// FuzzReadJSONMatchesReference: for every body, limit and reader, readJSON
// hands over the same elements and ends the same way as json.Decoder did.
func FuzzReadJSONMatchesReference(f *testing.F) {
	// Small seeds only: every input is read twelve ways, one of them a
	// byte at a time, and long ones starve the fuzzer. The table test has
	// the long bodies.
	for _, b := range bodyCases {
		if len(b) < 1000 {
			f.Add([]byte(b), uint8(3), int8(-1))
		}
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	raws := demo.GenerateRaw(5, 3, now.Add(-time.Hour), now)
	f.Add(append(append([]byte("["), bytes.Join(raws, []byte(",\n"))...), ']'), uint8(7), int8(-1))
	f.Add(bytes.Join(raws, []byte("\n")), uint8(1), int8(-1))
	f.Fuzz(func(t *testing.T, body []byte, max uint8, stop int8) {
		sameAsReferenceReader(t, body, int(max%8)+1, int(stop))
	})
}
