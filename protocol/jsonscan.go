package protocol

import (
	"bytes"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small, strict JSON scanner over one record. It validates
// as it goes (grammar, UTF-8, nesting depth) and never allocates on success:
// callers get spans into the record and decode only what they need.

// maxDepth bounds the nesting of objects and arrays in one record, the
// envelope included. ASP.NET's reader stops at 64; we are more lenient but
// still bound recursion.
const maxDepth = 1000

// span is the half-open byte range [start, end) of a value in a record.
type span struct{ start, end int }

// strSpan is a JSON string's contents (without the quotes) and whether they
// hold escapes that decoding must resolve.
type strSpan struct {
	span
	escaped bool
}

// strSafe marks the bytes that may stand for themselves inside a JSON string:
// printable ASCII except '"' and '\\'. Everything else needs a closer look
// (escape, end of string, control character, UTF-8 sequence) when reading,
// and escaping when writing.
var strSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// invalidf returns an error wrapping ErrInvalid with a short detail.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// scanner reads JSON tokens from buf, which holds one whole record.
type scanner struct {
	buf []byte
	pos int
}

func (s *scanner) syntaxError() error {
	if s.pos >= len(s.buf) {
		return invalidf("unexpected end of JSON")
	}
	return invalidf("unexpected %q at offset %d", s.buf[s.pos], s.pos)
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.buf) {
		return 0
	}
	return s.buf[s.pos]
}

// expect consumes c after optional white space.
func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.syntaxError()
	}
	s.pos++
	return nil
}

// end checks that only white space is left.
func (s *scanner) end() error {
	if s.skipSpace(); s.pos < len(s.buf) {
		return s.syntaxError()
	}
	return nil
}

// readString reads a string whose opening quote is at s.pos.
func (s *scanner) readString() (strSpan, error) {
	b := s.buf
	i := s.pos + 1
	sp := strSpan{span: span{start: i}}
	for {
		for i < len(b) && strSafe[b[i]] {
			i++
		}
		if i >= len(b) {
			s.pos = i
			return sp, invalidf("unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			sp.end = i
			s.pos = i + 1
			return sp, nil
		case c == '\\':
			sp.escaped = true
			n := escapeLen(b[i:])
			if n == 0 {
				s.pos = i
				return sp, invalidf("invalid escape in string at offset %d", i)
			}
			i += n
		case c < 0x20:
			s.pos = i
			return sp, invalidf("control character in string at offset %d", i)
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				s.pos = i
				return sp, invalidf("invalid UTF-8 at offset %d", i)
			}
			i += size
		}
	}
}

// escapeLen returns the length of the escape sequence at the start of b
// (which begins with a backslash), or 0 if it is malformed.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 {
			return 0
		}
		if _, ok := hex4(b[2:6]); !ok {
			return 0
		}
		return 6
	}
	return 0
}

// hex4 decodes four hex digits.
func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendUnescaped appends the decoded contents of a validated string to dst.
// It reports false for a \u escape of a lone UTF-16 surrogate, which has no
// UTF-8 form.
func appendUnescaped(dst, src []byte) ([]byte, bool) {
	for {
		i := bytes.IndexByte(src, '\\')
		if i < 0 {
			return append(dst, src...), true
		}
		dst = append(dst, src[:i]...)
		src = src[i:]
		switch c := src[1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(src[2:6])
			if utf16.IsSurrogate(r) {
				if r >= 0xDC00 || len(src) < 12 || src[6] != '\\' || src[7] != 'u' {
					return dst, false
				}
				lo, _ := hex4(src[8:12])
				r = utf16.DecodeRune(r, lo)
				if r == utf8.RuneError {
					return dst, false
				}
				src = src[6:]
			}
			dst = utf8.AppendRune(dst, r)
			src = src[6:]
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		src = src[2:]
	}
}

// text returns the decoded string sp as a new string.
func (s *scanner) text(sp strSpan) (string, error) {
	raw := s.buf[sp.start:sp.end]
	if !sp.escaped {
		return string(raw), nil
	}
	var tmp [64]byte
	out, ok := appendUnescaped(tmp[:0], raw)
	if !ok {
		return "", invalidf("lone UTF-16 surrogate in string at offset %d", sp.start)
	}
	return string(out), nil
}

// text2 decodes two strings, either of which may be absent (""), with one
// allocation.
func (s *scanner) text2(a strSpan, hasA bool, b strSpan, hasB bool) (string, string, error) {
	var tmp [128]byte
	buf := tmp[:0]
	ok := true
	if hasA {
		buf, ok = s.appendText(buf, a)
	}
	n := len(buf)
	if ok && hasB {
		buf, ok = s.appendText(buf, b)
	}
	if !ok {
		return "", "", invalidf("lone UTF-16 surrogate in string")
	}
	both := string(buf)
	return both[:n], both[n:], nil
}

// appendText appends the decoded string sp to dst.
func (s *scanner) appendText(dst []byte, sp strSpan) ([]byte, bool) {
	raw := s.buf[sp.start:sp.end]
	if !sp.escaped {
		return append(dst, raw...), true
	}
	return appendUnescaped(dst, raw)
}

// name returns the decoded bytes of a property name, using tmp when it holds
// escapes. The result is only for comparing.
func (s *scanner) name(sp strSpan, tmp *[32]byte) []byte {
	raw := s.buf[sp.start:sp.end]
	if !sp.escaped {
		return raw
	}
	out, ok := appendUnescaped(tmp[:0], raw)
	if !ok {
		return nil // matches no known name
	}
	return out
}

// readNumber reads a number at s.pos and reports whether it is an integer
// (no fraction, no exponent).
func (s *scanner) readNumber() (sp span, isInt bool, err error) {
	b := s.buf
	i := s.pos
	sp.start = i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		s.pos = i
		return sp, false, s.syntaxError()
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		if i >= len(b) || !isDigit(b[i]) {
			s.pos = i
			return sp, false, s.syntaxError()
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			s.pos = i
			return sp, false, s.syntaxError()
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	s.pos = i
	sp.end = i
	return sp, isInt, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// readInt reads a value that must be an integer fitting in int64; prop names
// the property for the error.
func (s *scanner) readInt(prop string) (int64, error) {
	if c := s.peek(); c != '-' && !isDigit(c) {
		return 0, invalidf("expected '%s' to be an integer", prop)
	}
	sp, isInt, err := s.readNumber()
	if err != nil {
		return 0, err
	}
	if !isInt {
		return 0, invalidf("expected '%s' to be an integer", prop)
	}
	b := s.buf[sp.start:sp.end]
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	// Accumulate negatively so that math.MinInt64 fits.
	var n int64
	for _, c := range b {
		d := int64(c - '0')
		if n < (-1<<63+d)/10 {
			return 0, invalidf("'%s' out of range", prop)
		}
		n = n*10 - d
	}
	if !neg {
		if n == -1<<63 {
			return 0, invalidf("'%s' out of range", prop)
		}
		n = -n
	}
	return n, nil
}

// readLiteral consumes lit (true, false or null) at s.pos.
func (s *scanner) readLiteral(lit string) error {
	if !bytes.HasPrefix(s.buf[s.pos:], []byte(lit)) {
		return s.syntaxError()
	}
	s.pos += len(lit)
	return nil
}

// readBool reads true or false; prop names the property for the error.
func (s *scanner) readBool(prop string) (bool, error) {
	switch s.peek() {
	case 't':
		return true, s.readLiteral("true")
	case 'f':
		return false, s.readLiteral("false")
	}
	return false, invalidf("expected '%s' to be a boolean", prop)
}

// readNullableString reads a string or null (ok = false); prop names the
// property for the error.
func (s *scanner) readNullableString(prop string) (sp strSpan, ok bool, err error) {
	switch s.peek() {
	case '"':
		sp, err = s.readString()
		return sp, err == nil, err
	case 'n':
		return sp, false, s.readLiteral("null")
	}
	return sp, false, invalidf("expected '%s' to be a string", prop)
}

// skipValue validates and skips one value; depth is the nesting level of the
// container holding it.
func (s *scanner) skipValue(depth int) (span, error) {
	c := s.peek()
	sp := span{start: s.pos}
	var err error
	switch c {
	case '{':
		err = s.skipObject(depth + 1)
	case '[':
		err = s.skipArray(depth + 1)
	case '"':
		_, err = s.readString()
	case 't':
		err = s.readLiteral("true")
	case 'f':
		err = s.readLiteral("false")
	case 'n':
		err = s.readLiteral("null")
	default:
		if c == '-' || isDigit(c) {
			_, _, err = s.readNumber()
		} else {
			err = s.syntaxError()
		}
	}
	sp.end = s.pos
	return sp, err
}

// openObject consumes '{' at depth (the object's own level).
func (s *scanner) openObject(depth int, prop string) error {
	if s.peek() != '{' {
		if prop == "" {
			return invalidf("expected a JSON object")
		}
		return invalidf("expected '%s' to be an object", prop)
	}
	if depth > maxDepth {
		return invalidf("nesting deeper than %d", maxDepth)
	}
	s.pos++
	return nil
}

// openArray consumes '[' at depth (the array's own level).
func (s *scanner) openArray(depth int, prop string) error {
	if s.peek() != '[' {
		return invalidf("expected '%s' to be an array", prop)
	}
	if depth > maxDepth {
		return invalidf("nesting deeper than %d", maxDepth)
	}
	s.pos++
	return nil
}

// nextMember moves to the next member of an object after its '{' or after
// the previous member's value. It returns the member's name, leaving s at its
// value, or done at the closing '}'.
func (s *scanner) nextMember(first bool) (name strSpan, done bool, err error) {
	c := s.peek()
	if c == '}' {
		s.pos++
		return name, true, nil
	}
	if !first {
		if c != ',' {
			return name, false, s.syntaxError()
		}
		s.pos++
		c = s.peek()
	}
	if c != '"' {
		return name, false, s.syntaxError()
	}
	if name, err = s.readString(); err != nil {
		return name, false, err
	}
	return name, false, s.expect(':')
}

// nextElement moves to the next element of an array after its '[' or after
// the previous element. It reports done at the closing ']'.
func (s *scanner) nextElement(first bool) (done bool, err error) {
	c := s.peek()
	if c == ']' {
		s.pos++
		return true, nil
	}
	if !first {
		if c != ',' {
			return false, s.syntaxError()
		}
		s.pos++
	}
	return false, nil
}

func (s *scanner) skipObject(depth int) error {
	if err := s.openObject(depth, ""); err != nil {
		return err
	}
	for first := true; ; first = false {
		_, done, err := s.nextMember(first)
		if err != nil || done {
			return err
		}
		if _, err := s.skipValue(depth); err != nil {
			return err
		}
	}
}

func (s *scanner) skipArray(depth int) error {
	if s.peek() != '[' {
		return s.syntaxError()
	}
	if depth > maxDepth {
		return invalidf("nesting deeper than %d", maxDepth)
	}
	s.pos++
	for first := true; ; first = false {
		done, err := s.nextElement(first)
		if err != nil || done {
			return err
		}
		if _, err := s.skipValue(depth); err != nil {
			return err
		}
	}
}

// validJSON reports whether b is one JSON value, with optional white space
// around it.
func validJSON(b []byte) error {
	s := scanner{buf: b}
	if _, err := s.skipValue(0); err != nil {
		return err
	}
	return s.end()
}
