package protocol

import (
	"encoding/binary"
	"math"
)

// This file holds the MessagePack side of framing and scanning: the VarInt
// length prefix, and a small strict reader over one message body that
// validates as it goes (lengths within the body, no reserved 0xc1 byte,
// nesting depth) and never allocates: callers get spans into the body.

// maxVarIntBytes is the longest length prefix: 5 groups of 7 bits. The fifth
// byte may hold at most 3 bits, so a message is under 2 GiB, as in the
// ASP.NET and JS parsers.
const maxVarIntBytes = 5

// nextFrame splits the first length-prefixed body off data. It reports
// ErrTooLarge as soon as the prefix read so far shows that the body exceeds
// maxSize (when maxSize > 0) or 2 GiB, and ErrIncomplete when the prefix or
// the body has not all arrived.
func nextFrame(data []byte, maxSize int) (body, rest []byte, err error) {
	var n uint64
	for i := 0; ; i++ {
		if i == len(data) {
			return nil, nil, ErrIncomplete
		}
		b := data[i]
		n |= uint64(b&0x7f) << (7 * i)
		if i == maxVarIntBytes-1 && b > 7 {
			return nil, nil, ErrTooLarge // 2 GiB or more, or a sixth byte
		}
		// Later groups only add to n (they may be zero: a padded prefix
		// is valid), so n is already a lower bound.
		if maxSize > 0 && n > uint64(maxSize) {
			return nil, nil, ErrTooLarge
		}
		if b&0x80 == 0 {
			data = data[i+1:]
			break
		}
	}
	if uint64(len(data)) < n {
		return nil, nil, ErrIncomplete
	}
	return data[:n:n], data[n:], nil
}

// appendVarInt appends the length prefix for a body of n bytes.
func appendVarInt(dst []byte, n int) []byte {
	u := uint32(n)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// MessagePack format codes used by the reader and the writer.
const (
	mpNil      = 0xc0
	mpFalse    = 0xc2
	mpTrue     = 0xc3
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpExt8     = 0xc7
	mpExt16    = 0xc8
	mpExt32    = 0xc9
	mpFloat32  = 0xca
	mpFloat64  = 0xcb
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpFixExt1  = 0xd4
	mpFixExt16 = 0xd8
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	mpMap16    = 0xde
	mpMap32    = 0xdf
)

// mpReader reads MessagePack values from buf, which holds one whole body.
type mpReader struct {
	buf []byte
	pos int
}

func (r *mpReader) left() int { return len(r.buf) - r.pos }

func (r *mpReader) truncated() error {
	return invalidf("unexpected end of message at offset %d", r.pos)
}

// uintN reads a big-endian unsigned integer of size bytes (1, 2, 4 or 8).
func (r *mpReader) uintN(size int) (uint64, error) {
	if r.left() < size {
		return 0, r.truncated()
	}
	b := r.buf[r.pos : r.pos+size]
	r.pos += size
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), nil
	}
	return binary.BigEndian.Uint64(b), nil
}

// code reads the next format byte.
func (r *mpReader) code() (byte, error) {
	if r.pos >= len(r.buf) {
		return 0, r.truncated()
	}
	c := r.buf[r.pos]
	r.pos++
	return c, nil
}

// peek returns the next format byte without reading it, or 0xc1 (never
// used) at the end.
func (r *mpReader) peek() byte {
	if r.pos >= len(r.buf) {
		return 0xc1
	}
	return r.buf[r.pos]
}

// containerLen reads an array or map length of the given size, checking
// that the body can hold that many elements of minSize bytes each.
func (r *mpReader) containerLen(size, minSize int) (int, error) {
	n, err := r.uintN(size)
	if err != nil {
		return 0, err
	}
	if n > uint64(r.left()/minSize) {
		return 0, r.truncated()
	}
	return int(n), nil
}

// readArray reads an array header.
func (r *mpReader) readArray(what string) (int, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	switch {
	case c >= 0x90 && c <= 0x9f:
		n := int(c & 0x0f)
		if n > r.left() {
			return 0, r.truncated()
		}
		return n, nil
	case c == mpArray16:
		return r.containerLen(2, 1)
	case c == mpArray32:
		return r.containerLen(4, 1)
	}
	r.pos--
	return 0, invalidf("expected %s to be an array, found 0x%02x", what, c)
}

// readMap reads a map header.
func (r *mpReader) readMap(what string) (int, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	switch {
	case c >= 0x80 && c <= 0x8f:
		n := int(c & 0x0f)
		if n > r.left()/2 {
			return 0, r.truncated()
		}
		return n, nil
	case c == mpMap16:
		return r.containerLen(2, 2)
	case c == mpMap32:
		return r.containerLen(4, 2)
	}
	r.pos--
	return 0, invalidf("expected %s to be a map, found 0x%02x", what, c)
}

// readStr reads a str value and returns its bytes, aliasing buf.
func (r *mpReader) readStr(what string) ([]byte, error) {
	c, err := r.code()
	if err != nil {
		return nil, err
	}
	var n uint64
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	case c == mpStr8:
		n, err = r.uintN(1)
	case c == mpStr16:
		n, err = r.uintN(2)
	case c == mpStr32:
		n, err = r.uintN(4)
	default:
		r.pos--
		return nil, invalidf("expected %s to be a string, found 0x%02x", what, c)
	}
	if err != nil {
		return nil, err
	}
	if n > uint64(r.left()) {
		return nil, r.truncated()
	}
	s := r.buf[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s, nil
}

// readString reads a str value as a Go string.
func (r *mpReader) readString(what string) (string, error) {
	s, err := r.readStr(what)
	return string(s), err
}

// readNilOrString reads a str value or nil (which gives "").
func (r *mpReader) readNilOrString(what string) (string, error) {
	if r.peek() == mpNil {
		r.pos++
		return "", nil
	}
	return r.readString(what)
}

// readInt reads an integer of any width that fits an int64.
func (r *mpReader) readInt(what string) (int64, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c >= mpUint8 && c <= mpUint64:
		u, err := r.uintN(1 << (c - mpUint8))
		if err == nil && u > math.MaxInt64 {
			err = invalidf("%s %d is out of range", what, u)
		}
		return int64(u), err
	case c >= mpInt8 && c <= mpInt64:
		size := 1 << (c - mpInt8)
		u, err := r.uintN(size)
		shift := 64 - 8*size
		return int64(u<<shift) >> shift, err // sign-extend
	}
	r.pos--
	return 0, invalidf("expected %s to be an integer, found 0x%02x", what, c)
}

// readBool reads a boolean.
func (r *mpReader) readBool(what string) (bool, error) {
	switch r.peek() {
	case mpFalse:
		r.pos++
		return false, nil
	case mpTrue:
		r.pos++
		return true, nil
	}
	if r.pos >= len(r.buf) {
		return false, r.truncated()
	}
	return false, invalidf("expected %s to be a boolean, found 0x%02x", what, r.buf[r.pos])
}

// head consumes the format byte and length bytes of one value and returns
// what the value holds beyond them: n payload bytes, then elems values (the
// items of an array, the keys and values of a map). Both counts are checked
// against what is left. It is the one table of MessagePack's formats that
// skipping uses.
func (r *mpReader) head() (n, elems uint64, err error) {
	start := r.pos
	c, err := r.code()
	if err != nil {
		return 0, 0, err
	}
	switch {
	case c <= 0x7f || c >= 0xe0 || c == mpNil || c == mpFalse || c == mpTrue:
	case c >= 0x80 && c <= 0x8f:
		elems = 2 * uint64(c&0x0f)
	case c >= 0x90 && c <= 0x9f:
		elems = uint64(c & 0x0f)
	case c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	case c == mpBin8 || c == mpStr8:
		n, err = r.uintN(1)
	case c == mpBin16 || c == mpStr16:
		n, err = r.uintN(2)
	case c == mpBin32 || c == mpStr32:
		n, err = r.uintN(4)
	case c >= mpExt8 && c <= mpExt32:
		n, err = r.uintN(1 << (c - mpExt8))
		n++ // the type byte
	case c == mpFloat32:
		n = 4
	case c == mpFloat64:
		n = 8
	case c >= mpUint8 && c <= mpUint64:
		n = 1 << (c - mpUint8)
	case c >= mpInt8 && c <= mpInt64:
		n = 1 << (c - mpInt8)
	case c >= mpFixExt1 && c <= mpFixExt16:
		n = 1 + 1<<(c-mpFixExt1)
	case c == mpArray16:
		elems, err = r.uintN(2)
	case c == mpArray32:
		elems, err = r.uintN(4)
	case c == mpMap16:
		elems, err = r.uintN(2)
		elems *= 2
	case c == mpMap32:
		elems, err = r.uintN(4)
		elems *= 2
	default: // 0xc1, never used
		return 0, 0, invalidf("invalid format byte 0x%02x at offset %d", c, start)
	}
	if err != nil {
		return 0, 0, err
	}
	// Every value takes at least a byte: more than what is left cannot fit.
	if n > uint64(r.left()) || elems > uint64(r.left()) {
		return 0, 0, r.truncated()
	}
	return n, elems, nil
}

// skipValue validates one value of any type and returns its span. depth is
// the nesting level of the container it sits in; past maxDepth it fails.
func (r *mpReader) skipValue(depth int) (span, error) {
	start := r.pos
	n, elems, err := r.head()
	if err != nil {
		return span{}, err
	}
	r.pos += int(n)
	if elems > 0 {
		if depth >= maxDepth {
			return span{}, invalidf("nesting deeper than %d", maxDepth)
		}
		for range elems {
			if _, err := r.skipValue(depth + 1); err != nil {
				return span{}, err
			}
		}
	}
	return span{start, r.pos}, nil
}

// SkipMessagePack checks the MessagePack value at the start of b as the
// MessagePack hub protocol's reader checks a message's values (every
// length within b, no reserved 0xc1 byte) and returns its length in bytes.
// It walks nested arrays and maps with a count, not by recursion, so any
// nesting that fits in b is taken, and allocates nothing. A value cut short
// is malformed too: both fail with ErrInvalid. With the hub protocol's
// reader (which bounds nesting) it is the module's one MessagePack skip:
// package backplane skips the items a later version appends with it, and
// package bench the fields it does not read.
func SkipMessagePack(b []byte) (int, error) {
	r := mpReader{buf: b}
	for left := uint64(1); left > 0; left-- {
		n, elems, err := r.head()
		if err != nil {
			return 0, err
		}
		r.pos += int(n)
		left += elems // at most len(b): head checked elems against what is left
	}
	return r.pos, nil
}

// validMsgPack reports whether b holds exactly one valid MessagePack value.
func validMsgPack(b []byte) error {
	r := mpReader{buf: b}
	if _, err := r.skipValue(1); err != nil {
		return err
	}
	if r.pos != len(b) {
		return invalidf("%d bytes after the value", len(b)-r.pos)
	}
	return nil
}
