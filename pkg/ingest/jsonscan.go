package ingest

// Outcomes of scanObject.
const (
	scanDone = iota
	scanMore // the value goes on past the end of the buffer
	scanBad  // invalid, or deeper than scanObject follows: json.Decoder says why
)

// maxScanDepth bounds scanObject's recursion; json.Decoder allows more, and
// takes over beyond.
const maxScanDepth = 256

// scanObject finds the end of the JSON object at b[i], checking its syntax
// as json.Decoder's scanner does: bytes that are not valid UTF-8 pass, as
// they pass there, and Decode deals with them per event.
func scanObject(b []byte, i int) (end, status int) {
	return scanValue(b, i, 0)
}

func scanValue(b []byte, i, depth int) (int, int) {
	if i >= len(b) {
		return i, scanMore
	}
	switch c := b[i]; c {
	case '{', '[':
		if depth++; depth > maxScanDepth {
			return i, scanBad
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1, scanDone
		}
		for {
			if c == '{' {
				if i >= len(b) {
					return i, scanMore
				}
				if b[i] != '"' {
					return i, scanBad
				}
				var st int
				if i, st = scanString(b, i); st != scanDone {
					return i, st
				}
				if i = skipWS(b, i); i >= len(b) {
					return i, scanMore
				}
				if b[i] != ':' {
					return i, scanBad
				}
				i = skipWS(b, i+1)
			}
			var st int
			if i, st = scanValue(b, i, depth); st != scanDone {
				return i, st
			}
			if i = skipWS(b, i); i >= len(b) {
				return i, scanMore
			}
			switch b[i] {
			case ',':
				i = skipWS(b, i+1)
			case closing:
				return i + 1, scanDone
			default:
				return i, scanBad
			}
		}
	case '"':
		return scanString(b, i)
	case 't':
		return scanWord(b, i, "true")
	case 'f':
		return scanWord(b, i, "false")
	case 'n':
		return scanWord(b, i, "null")
	}
	return scanNumber(b, i)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringStop marks the bytes a string scan must look at.
var stringStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func scanString(b []byte, i int) (int, int) {
	for i++; ; {
		for i+4 <= len(b) && !(stringStop[b[i]] || stringStop[b[i+1]] || stringStop[b[i+2]] || stringStop[b[i+3]]) {
			i += 4
		}
		for i < len(b) && !stringStop[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, scanMore
		}
		switch b[i] {
		case '"':
			return i + 1, scanDone
		case '\\':
			if i+1 >= len(b) {
				return i, scanMore
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(b) {
						return j, scanMore
					}
					if !isHex(b[j]) {
						return j, scanBad
					}
				}
				i += 6
			default:
				return i, scanBad
			}
		default: // a control character
			return i, scanBad
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func scanWord(b []byte, i int, word string) (int, int) {
	for j := range len(word) {
		if i+j >= len(b) {
			return i + j, scanMore
		}
		if b[i+j] != word[j] {
			return i + j, scanBad
		}
	}
	return i + len(word), scanDone
}

// scanNumber reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. A number
// is always inside an object here, so the buffer ending in one means more
// is to come.
func scanNumber(b []byte, i int) (int, int) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, scanMore
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = scanDigits(b, i+1)
	default:
		return i, scanBad
	}
	if i < len(b) && b[i] == '.' {
		j := scanDigits(b, i+1)
		if j == i+1 {
			return j, more(b, j)
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := scanDigits(b, i)
		if j == i {
			return j, more(b, j)
		}
		i = j
	}
	if i >= len(b) {
		return i, scanMore
	}
	return i, scanDone
}

func scanDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// more is scanMore at the end of the buffer, where a digit may yet come,
// and scanBad before anything else.
func more(b []byte, i int) int {
	if i >= len(b) {
		return scanMore
	}
	return scanBad
}
