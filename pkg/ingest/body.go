package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Format is how a request body holds its events.
type Format int

const (
	// FormatJSON is one JSON object, an array of objects, or objects one
	// after another.
	FormatJSON Format = iota
	// FormatNDJSON is one JSON object per line. A bad line costs that event
	// only; the rest of the body is still read.
	FormatNDJSON
)

// ParseContentType maps a Content-Type header to a Format. A missing header
// is read as JSON, since curl and many shippers send none or a generic one
// only when told.
func ParseContentType(header string) (Format, error) {
	if strings.TrimSpace(header) == "" {
		return FormatJSON, nil
	}
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return 0, &RequestError{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("Content-Type %q is not a media type; use application/json or application/x-ndjson", header)}
	}
	switch mt {
	case "application/json":
		return FormatJSON, nil
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return FormatNDJSON, nil
	}
	return 0, &RequestError{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("Content-Type %q is not supported; use application/json (an object or an array of objects) or application/x-ndjson (one object per line)", mt)}
}

// RequestError is a problem with the request as a whole, with the HTTP
// status it maps to.
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// decodedBody wraps the body with decompression for a Content-Encoding.
// The limit applies to the decompressed bytes too, or a small gzip bomb
// would get past max-body.
func decodedBody(body io.Reader, encoding string, limit int64) (io.Reader, func(), error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return body, func() {}, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			if isTooLarge(err) {
				return nil, nil, err
			}
			return nil, nil, badRequest("Content-Encoding gzip: the body is not gzip data: %v", err)
		}
		return &limitedReader{r: zr, n: limit, limit: limit}, func() { zr.Close() }, nil
	}
	return nil, nil, &RequestError{Status: http.StatusUnsupportedMediaType, Msg: fmt.Sprintf("Content-Encoding %q is not supported; use gzip or none", encoding)}
}

// limitedReader fails like http.MaxBytesReader once more than limit bytes
// were read, so both limits end in the same 413.
type limitedReader struct {
	r        io.Reader
	n, limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One byte more tells "exactly at the limit" from "over it".
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, &http.MaxBytesError{Limit: l.limit}
		}
		return l.r.Read(p[:0])
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func isTooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// readEvents reads the body's events one by one and calls each with the
// element's index and raw JSON, which is only valid during the call. It
// stops with a *RequestError for a body that cannot be read as a whole,
// including one with more than maxEvents events, and with the reader's error
// (such as *http.MaxBytesError) when reading fails.
func readEvents(r io.Reader, f Format, maxEvents int, each func(i int, raw []byte) error) error {
	if f == FormatNDJSON {
		return readNDJSON(r, maxEvents, each)
	}
	return readJSON(r, maxEvents, each)
}

func tooMany(maxEvents int) error {
	return &RequestError{Status: http.StatusRequestEntityTooLarge,
		Msg: fmt.Sprintf("more than %d events in one request; split the batch", maxEvents)}
}

const emptyBody = "the request body is empty; send a JSON object, an array of objects, or NDJSON (one object per line)"

func readNDJSON(r io.Reader, maxEvents int, each func(int, []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte // a line longer than the buffer, assembled
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 {
			if n == maxEvents {
				return tooMany(maxEvents)
			}
			if cerr := each(n, trimmed); cerr != nil {
				return cerr
			}
			n++
		}
		if err != nil { // io.EOF
			if n == 0 {
				return badRequest(emptyBody)
			}
			return nil
		}
	}
}

// readJSON reads a JSON body: an array of events or objects one after
// another. Bodies of those shapes go through jsonSplitter; anything else
// (invalid JSON, an element that is not an object, a failed read, an empty
// array) through decodeJSON, json.Decoder's reading of the body, which
// decides every error.
func readJSON(r io.Reader, maxEvents int, each func(int, []byte) error) error {
	s := jsonSplitter{r: r, maxEvents: maxEvents, each: each}
	first, err := s.start()
	if err != nil {
		return err
	}
	switch first {
	case '[':
		return s.array()
	case '{':
		return s.objects()
	}
	return badRequest("the body must be a JSON object, an array of objects, or NDJSON (one object per line); it starts with %q", string(first))
}

// jsonSplitter finds the events of a JSON body with a scanner of its own,
// several times faster than json.Decoder. When the body is not the simple
// shape it handles, it hands over to decodeJSON where it stands, so that
// the outcome, error offsets included, is json.Decoder's.
//
// That hand-over does not need the body so far: what json.Decoder's state
// depends on at an element boundary is the token state, the input offset
// and the bytes its scanner counted (which exclude the white space and
// commas between array elements), and a stand-in prefix of the same
// lengths recreates it (see resume).
type jsonSplitter struct {
	r         io.Reader
	buf       []byte
	base      int   // body offset of buf[0]
	err       error // the reader's error once it returned one, io.EOF too
	maxEvents int
	each      func(int, []byte) error

	// The last element boundary (the start until the first event is taken):
	// events taken, its body offset, and the bytes json.Decoder's scanner
	// would have counted up to it. The buffer holds the body from there.
	n, at, scanned int
}

// start skips the white space before the body's first byte, which
// becomes offset 0 as for json.Decoder, and returns that byte.
func (s *jsonSplitter) start() (byte, error) {
	off, ok := s.nonSpace(0)
	if !ok {
		if errors.Is(s.err, io.EOF) {
			return 0, badRequest(emptyBody)
		}
		return 0, s.err
	}
	s.buf = s.buf[off:]
	return s.buf[0], nil
}

// fill reads more of the body, first dropping what is before the last
// boundary. It at least doubles what is buffered, so that rescanning a
// long element from its start stays linear. It returns false when the body
// has nothing more, with s.err set; a read error is only acted on (by
// handing over to decodeJSON) once the bytes before it are used up, as
// json.Decoder does.
func (s *jsonSplitter) fill() bool {
	if s.err != nil {
		return false
	}
	if d := s.at - s.base; d > 0 {
		s.buf = s.buf[:copy(s.buf, s.buf[d:])]
		s.base = s.at
	}
	want := len(s.buf) + max(len(s.buf), 16<<10)
	if cap(s.buf) < want {
		grown := make([]byte, len(s.buf), want)
		copy(grown, s.buf)
		s.buf = grown
	}
	before := len(s.buf)
	for len(s.buf) < want && s.err == nil {
		n, err := s.r.Read(s.buf[len(s.buf):want])
		s.buf = s.buf[:len(s.buf)+n]
		s.err = err
	}
	return len(s.buf) > before
}

// nonSpace returns the body offset of the next byte at or after off that
// is not white space, or false when the body ends first.
func (s *jsonSplitter) nonSpace(off int) (int, bool) {
	for {
		i := off - s.base
		for i < len(s.buf) && isSpace(s.buf[i]) {
			i++
		}
		if i < len(s.buf) {
			return s.base + i, true
		}
		off = s.base + i
		if !s.fill() {
			return off, false
		}
	}
}

// object scans the object at body offset off and returns its end.
func (s *jsonSplitter) object(off int) (int, bool) {
	for {
		end, st := scanObject(s.buf, off-s.base)
		switch st {
		case scanDone:
			return s.base + end, true
		case scanMore:
			if s.fill() {
				continue
			}
		}
		return 0, false
	}
}

// take hands the event at [start, end) to each and moves the boundary
// after it; spaced is the white space before it that json.Decoder's
// scanner counts.
func (s *jsonSplitter) take(start, end, spaced int) error {
	if err := s.each(s.n, s.buf[start-s.base:end-s.base]); err != nil {
		return err
	}
	s.n++
	s.at = end
	s.scanned += spaced + end - start
	return nil
}

func (s *jsonSplitter) array() error {
	off := 1 // after [
	for {
		c, ok := s.peek(&off)
		spaced := 0
		if s.n > 0 {
			switch {
			case ok && c == ',':
				if s.n == s.maxEvents {
					return tooMany(s.maxEvents)
				}
				comma := off + 1
				off = comma
				c, ok = s.peek(&off)
				spaced = off - comma
			case ok && c == ']':
				// The array is done; json.Decoder then wants nothing
				// but white space up to the end.
				if _, more := s.nonSpace(off + 1); !more && s.err == io.EOF {
					return nil
				}
				return s.resume(true)
			default:
				return s.resume(true)
			}
		} else if ok && c != ']' && c != '}' && s.n == s.maxEvents {
			return tooMany(s.maxEvents)
		}
		if !ok || c != '{' {
			return s.resume(true)
		}
		end, ok := s.object(off)
		if !ok {
			return s.resume(true)
		}
		if err := s.take(off, end, spaced); err != nil {
			return err
		}
		off = end
	}
}

func (s *jsonSplitter) objects() error {
	off := 0
	for {
		start := off
		c, ok := s.peek(&off)
		if !ok && s.err == io.EOF {
			return nil
		}
		if !ok || c != '{' {
			return s.resume(false)
		}
		end, ok := s.object(off)
		if !ok {
			return s.resume(false)
		}
		if s.n == s.maxEvents {
			return tooMany(s.maxEvents)
		}
		// json.Decoder's scanner counts the white space before each
		// object here, since no Token call skips it.
		if err := s.take(off, end, off-start); err != nil {
			return err
		}
		off = end
	}
}

// peek moves *off to the next byte that is not white space and returns it.
func (s *jsonSplitter) peek(off *int) (byte, bool) {
	i, ok := s.nonSpace(*off)
	*off = i
	if !ok {
		return 0, false
	}
	return s.buf[i-s.base], true
}

// resume hands the rest of the body to decodeJSON. Before the first event
// that is the body itself, which is still buffered. After it, a stand-in
// for the events taken replaces them: "[" (or nothing), then an object of
// exactly the bytes json.Decoder's scanner counted, then spaces up to the
// boundary's offset, then the body from the boundary on.
func (s *jsonSplitter) resume(array bool) error {
	var prefix []byte
	if s.n > 0 {
		open := 0
		if array {
			open = 1
		}
		prefix = make([]byte, s.at)
		for i := range prefix {
			prefix[i] = ' '
		}
		if array {
			prefix[0] = '['
		}
		prefix[open] = '{'
		prefix[open+s.scanned-1] = '}'
	}
	body := &replayReader{buf: append(prefix, s.buf[s.at-s.base:]...), err: s.err, r: s.r}
	return decodeJSON(body, array, s.n, s.maxEvents, s.each)
}

// replayReader gives json.Decoder the reads it would have had: the bytes
// buffered, then the error the body's reader returned after them, once,
// and then the reader again. Readers differ in what follows an error (the
// gzip limit fails once and then reads EOF), and json.Decoder reads again
// after some.
type replayReader struct {
	buf []byte
	err error
	r   io.Reader
}

func (r *replayReader) Read(p []byte) (int, error) {
	if len(r.buf) > 0 {
		n := copy(p, r.buf)
		r.buf = r.buf[n:]
		return n, nil
	}
	if err := r.err; err != nil {
		r.err = nil
		return 0, err
	}
	return r.r.Read(p)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// decodeJSON reads a JSON body with json.Decoder. n is the number of events
// already taken; they are stood in for by one object at the start (see
// jsonSplitter.resume), which is read and dropped.
func decodeJSON(r io.Reader, array bool, n, maxEvents int, each func(int, []byte) error) error {
	dec := json.NewDecoder(r)
	var raw json.RawMessage
	if array {
		if _, err := dec.Token(); err != nil {
			return syntaxErr(err)
		}
		if n > 0 {
			if err := dec.Decode(&raw); err != nil {
				return syntaxErr(err)
			}
		}
		for dec.More() {
			if n == maxEvents {
				return tooMany(maxEvents)
			}
			raw = raw[:0]
			if err := dec.Decode(&raw); err != nil {
				return syntaxErr(err)
			}
			if err := each(n, raw); err != nil {
				return err
			}
			n++
		}
		if _, err := dec.Token(); err != nil {
			return syntaxErr(err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			if err != nil {
				return syntaxErr(err)
			}
			return badRequest("trailing data after the JSON array; send one array, or NDJSON with Content-Type: application/x-ndjson")
		}
		if n == 0 {
			return badRequest("the JSON array has no events")
		}
		return nil
	}
	// Objects one after another: one object is the common case, and
	// accepting more lets NDJSON sent as application/json work too.
	if n > 0 {
		if err := dec.Decode(&raw); err != nil {
			return syntaxErr(err)
		}
	}
	for {
		raw = raw[:0]
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return syntaxErr(err)
		}
		if len(raw) == 0 || raw[0] != '{' {
			return badRequest("value %d of the body is not a JSON object; send one object, an array of objects, or NDJSON", n)
		}
		if n == maxEvents {
			return tooMany(maxEvents)
		}
		if err := each(n, raw); err != nil {
			return err
		}
		n++
	}
}

// syntaxErr turns a decoder error into a 400 naming the byte, or passes a
// read error (such as *http.MaxBytesError) through.
func syntaxErr(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return badRequest("the body is not valid JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// io.EOF comes from Token when an array is cut off between
		// elements ("[" or "[{…}"): that is a truncated body too, not a
		// failed read.
		return badRequest("the body ends in the middle of a JSON value")
	case isTooLarge(err):
		return err
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return badRequest("the body is not valid JSON: %v", err)
	}
	if strings.HasPrefix(err.Error(), "invalid character") || strings.HasPrefix(err.Error(), "json:") {
		return badRequest("the body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return err
}
