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

func readJSON(r io.Reader, maxEvents int, each func(int, []byte) error) error {
	br := bufio.NewReaderSize(r, 32<<10)
	first, err := firstByte(br)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(br)
	var raw json.RawMessage
	n := 0
	switch first {
	case '[':
		if _, err := dec.Token(); err != nil {
			return syntaxErr(err)
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
	case '{':
		// Objects one after another: one object is the common case, and
		// accepting more lets NDJSON sent as application/json work too.
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
	return badRequest("the body must be a JSON object, an array of objects, or NDJSON (one object per line); it starts with %q", string(first))
}

// firstByte returns the body's first byte that is not white space, leaving
// it unread.
func firstByte(br *bufio.Reader) (byte, error) {
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
